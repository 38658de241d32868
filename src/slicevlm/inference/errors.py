"""The exceptions inference raises for input a user can fix.

:class:`InputError` covers questions, choice lists, CSV rows, paths and options; ``DataError`` (from
the data readers: missing or unreadable volumes; its subclass ``VolumeTooLarge`` for volumes beyond a
cap) is re-exported here so the faces on top
(``slicevlm ask``, ``lightning_app/``) import errors from ``slicevlm.inference`` only.
"""

from __future__ import annotations

from slicevlm.data.errors import DataError, VolumeTooLarge, did_you_mean
from slicevlm.errors import SliceVLMError

__all__ = ["DataError", "InputError", "VolumeTooLarge", "did_you_mean"]


class InputError(SliceVLMError, ValueError):
    """A question, choice list, CSV row, path or option that inference cannot use.

    Like :class:`slicevlm.data.errors.DataError` (which covers unreadable volumes), the message says
    what was received, what was expected and how to fix it. Command-line tools print it without a
    traceback and exit non-zero; the server answers it with a 4xx status.
    """
