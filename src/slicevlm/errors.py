"""The project's own exceptions, and how the command lines print them.

Every error a user can fix by changing a file, a config value, a path or an install derives from
:class:`SliceVLMError`: bad config values (:class:`ConfigError`), unreadable data
(``io.errors.DataError``), bad inference input (``inference.errors.InputError``), weights that
are not available (``hub.ModelNotAvailableError``), runs that refuse to start
(``training.errors.RunError``) and missing optional packages (:class:`MissingDependencyError`).
The command lines (``slicevlm ...``, ``lightning-cli ...``) print such an error as one message and
exit non-zero; any other exception is a bug and keeps its traceback. ``--debug`` on the command
line, or ``SLICEVLM_DEBUG=1`` in the environment, prints the traceback of user errors too.

This module imports nothing from the project, so every layer may use it.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from types import ModuleType
from typing import TextIO

#: The environment variable that turns tracebacks on for user errors.
DEBUG_ENV = "SLICEVLM_DEBUG"
#: The command-line switch that does the same (taken out of argv before the command parses it).
DEBUG_FLAG = "--debug"

#: Optional packages -> the pyproject extra that installs them.
EXTRAS: dict[str, str] = {
    "deepspeed": "gpu",
    "bitsandbytes": "gpu",
    "litserve": "serve",
    "multipart": "serve",
    "python_multipart": "serve",
    "matplotlib": "serve",
    "litdata": "shards",
    "polars": "shards",
    "gguf": "small",
}


class SliceVLMError(Exception):
    """An error the user can fix; the message says what was received, what was expected and how to fix it.

    Attributes:
        exit_code: the status a command line exits with when this error stops it.
    """

    exit_code = 1


class ConfigError(SliceVLMError, ValueError):
    """A config value or command-line option that the code cannot use."""


class MissingFileError(SliceVLMError, FileNotFoundError):
    """A file or folder the user named does not exist, or lacks a file it must hold."""


class MissingDependencyError(SliceVLMError, ImportError):
    """An optional package is not installed; the message names the pyproject extra that brings it."""


def install_hint(module: str) -> str:
    """`pip install 'slicevlm[extra]'` for an optional module (or `pip install module` when no extra has it)."""
    extra = EXTRAS.get(module.split(".")[0])
    return f"pip install 'slicevlm[{extra}]'" if extra else f"pip install {module.split('.')[0]}"


def require(module: str, purpose: str) -> ModuleType:
    """Import an optional module, or raise a :class:`MissingDependencyError` naming the extra to install.

    Args:
        module: the import name (``"deepspeed"``, ``"bitsandbytes"``).
        purpose: what needs it, as the start of a sentence (``"DeepSpeed ZeRO training"``).
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingDependencyError(
            f"{purpose} needs the `{module.split('.')[0]}` package, which is not installed: {install_hint(module)}."
        ) from error


def debug_requested(argv: list[str] | None = None) -> bool:
    """True when `--debug` is in `argv` or `SLICEVLM_DEBUG` is set to anything but 0/false/empty."""
    if argv is not None and DEBUG_FLAG in argv:
        return True
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def take_debug_flag(argv: list[str]) -> tuple[list[str], bool]:
    """Split `--debug` off a command line (before a `--`); returns (argv without it, whether it was there)."""
    end = argv.index("--") if "--" in argv else len(argv)
    head = [arg for arg in argv[:end] if arg != DEBUG_FLAG]
    return head + argv[end:], len(head) < end


def user_message(error: BaseException) -> str:
    """The text to show for a user error.

    An error re-raised from a DataLoader worker carries the worker's traceback in its message
    ("Caught DataError in DataLoader worker process 0. Original Traceback ..."); only the original
    message after the last ``module.Class:`` line is kept.
    """
    text = str(error)
    if "Original Traceback (most recent call last):" in text:
        marker = f"{type(error).__module__}.{type(error).__qualname__}: "
        cut = text.rfind(marker)
        if cut >= 0:
            text = text[cut + len(marker):]
    return text.strip() or type(error).__name__


def report(prog: str, error: BaseException, debug: bool | None = None, stream: TextIO | None = None) -> int:
    """Print a user error as `prog: error: message` (with the traceback first when debugging); return the exit code.

    Args:
        prog: the command as the user typed it (``"slicevlm ask"``, ``"lightning-cli fit"``).
        error: the exception that stopped the command.
        debug: print the traceback too; None reads `SLICEVLM_DEBUG`.
        stream: where to write (default: stderr).
    """
    stream = sys.stderr if stream is None else stream
    if debug_requested() if debug is None else debug:
        traceback.print_exception(type(error), error, error.__traceback__, file=stream)
    print(f"{prog}: error: {user_message(error)}", file=stream)
    return int(getattr(error, "exit_code", 1))


def show_traceback_if_debug(error: BaseException, stream: TextIO | None = None) -> None:
    """For commands that print their own one-line errors: add the traceback when debugging was asked for."""
    if debug_requested():
        traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr if stream is None else stream)
