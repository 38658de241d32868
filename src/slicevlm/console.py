"""What a long command shows its user: its own progress lines, and library noise kept out of the way.

A command that trains or evaluates for minutes says what it is doing from its first second
(:class:`Progress`, on stderr so that stdout keeps only the result). The libraries it drives print
tips, deprecation notices and warnings meant for their own developers (Lightning's "💡 Tip" lines
and ``PossibleUserWarning``s, "GPU available" banners, weight-loading bars); :func:`library_noise`
silences those for the duration of a block unless the user asked for them (``--verbose``). Warnings
raised by SliceVLM's own code stay visible, and errors are never hidden.
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

#: Packages whose warnings and info logs are noise to someone running a SliceVLM command.
NOISY_PACKAGES: tuple[str, ...] = (
    "lightning", "lightning_fabric", "lightning_utilities", "pytorch_lightning", "torch", "torchmetrics",
    "transformers", "peft", "timm", "open_clip", "jsonargparse", "litdata", "huggingface_hub", "deepspeed",
)
#: Loggers that print Lightning's banners, tips and our modules' info lines routed through Lightning.
NOISY_LOGGERS: tuple[str, ...] = ("lightning.pytorch", "lightning.fabric", "lightning_fabric", "pytorch_lightning")


class Progress:
    """Timestamped progress lines for a long command: ``reproduce [  12.3s] stage 1: training``.

    Args:
        prog: The command's name, printed at the start of every line.
        stream: Where lines go (default: stderr, flushed at once).
    """

    def __init__(self, prog: str, stream: TextIO | None = None) -> None:
        self.prog = prog
        self.stream = stream
        self.start = time.monotonic()

    def __call__(self, message: str) -> None:
        """Print one progress line with the time since the command started."""
        stream = self.stream if self.stream is not None else sys.stderr
        print(f"{self.prog} [{time.monotonic() - self.start:6.1f}s] {message}", file=stream, flush=True)


@contextmanager
def library_noise(verbose: bool) -> Iterator[None]:
    """Within the block, hide the libraries' warnings, info logs and loading bars unless `verbose`.

    Args:
        verbose: Show everything, as the libraries print it.
    """
    if verbose:
        yield
        return
    loggers = [logging.getLogger(name) for name in NOISY_LOGGERS]
    levels = [logger.level for logger in loggers]
    bars = _transformers_bars(enable=False)
    with warnings.catch_warnings():
        pattern = "|".join(NOISY_PACKAGES)
        warnings.filterwarnings("ignore", module=rf"({pattern})(\.|$)")
        try:
            from lightning.pytorch.utilities.warnings import PossibleUserWarning

            warnings.filterwarnings("ignore", category=PossibleUserWarning)
        except ImportError:  # Lightning not installed: nothing of it to silence
            pass
        for logger in loggers:
            logger.setLevel(logging.WARNING)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)
            if bars:
                _transformers_bars(enable=True)


def _transformers_bars(enable: bool) -> bool:
    """Turn transformers' progress bars ("Loading weights") on or off; returns whether they were on."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        return False
    was_enabled = hf_logging.is_progress_bar_enabled()
    if enable:
        hf_logging.enable_progress_bar()
    else:
        hf_logging.disable_progress_bar()
    return was_enabled
