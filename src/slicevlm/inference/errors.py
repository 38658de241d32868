"""The exception inference raises for input a user can fix: :class:`InputError` (questions, choice lists,
CSV rows, paths and options). Unreadable volumes are the readers' ``slicevlm.io.errors.DataError``."""

from __future__ import annotations

from slicevlm.errors import SliceVLMError


class InputError(SliceVLMError, ValueError):
    """A question, choice list, CSV row, path or option that inference cannot use.

    Like :class:`slicevlm.io.errors.DataError` (which covers unreadable volumes), the message says
    what was received, what was expected and how to fix it. Command-line tools print it without a
    traceback and exit non-zero; the server answers it with a 4xx status.
    """
