"""The exception inference raises for input a user can fix (a question, a choice list, a path)."""

from __future__ import annotations


class InputError(ValueError):
    """A question, choice list, CSV row, path or option that inference cannot use.

    Like :class:`slicevlm.data.errors.DataError` (which covers unreadable volumes), the message says
    what was received, what was expected and how to fix it. Command-line tools print it without a
    traceback and exit non-zero; the server answers it with a 4xx status.
    """
