"""The one exception the data pipeline raises for files, rows and fields it cannot use."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from slicevlm.errors import ConfigError, SliceVLMError


class DataError(SliceVLMError, ValueError):
    """A file, row or field that the data pipeline cannot use.

    Every message names what was received (the file, and the row and field where there is one),
    what was expected, and how to fix it. The pipeline never skips such an item silently and never
    swaps in another sample: it raises this instead.
    """


class VolumeTooLarge(DataError):
    """A volume, folder or header beyond a :class:`~slicevlm.io.limits.ReadLimits` cap.

    Raised from headers, before anything is decompressed or allocated; the server answers it
    with 413.
    """


def did_you_mean(value: str, options: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest option, or ``""`` when nothing is close.

    Args:
        value: The string that was received.
        options: The strings that would have been accepted.
    """
    guesses = difflib.get_close_matches(str(value), [str(option) for option in options], n=1)
    return f" Did you mean {guesses[0]!r}?" if guesses else ""


def check_choice(name: str, value: str, options: Iterable[str]) -> str:
    """Return ``value`` when it is one of ``options``; raise a ConfigError (a ValueError) naming them otherwise.

    Args:
        name: The option's name as the user writes it (e.g. ``"slicing_axis"``).
        value: The value that was received.
        options: The accepted values.
    """
    options = tuple(options)
    if value not in options:
        raise ConfigError(f"{name}={value!r} is not one of {list(options)}.{did_you_mean(value, options)}")
    return value
