"""What a long command shows its user: its own progress lines, and library noise kept out of the way.

A command that trains or evaluates for minutes says what it is doing from its first second
(:class:`Progress`, on stderr so that stdout keeps only the result). The libraries it drives print
tips, deprecation notices and warnings meant for their own developers (Lightning's "💡 Tip" lines
and ``PossibleUserWarning``s, "GPU available" banners, weight-loading bars); :func:`library_noise`
silences those for the duration of a block unless the user asked for them (``--verbose``). Warnings
raised by SliceVLM's own code stay visible, and errors are never hidden.

Some messages are noise on *every* run, not only inside a long command's block; those few, each one
known message of one library matched exactly, are silenced for the whole process when ``slicevlm`` is
imported (:func:`silence_known_library_messages`; ``SLICEVLM_LIBRARY_NOISE=1`` keeps them):

- DeepSpeed logs "Setting accelerator to CPU ..." at import on every machine without CUDA, which is
  every CPU run, DeepSpeed or not (Lightning imports it to list its strategies);
- peft reads ``model.is_gradient_checkpointing``, which transformers 5 deprecates with a
  FutureWarning on every LoRA wrap and adapter load: not ours to fix, and nothing for a user to do;
- transformers draws a progress bar while it converts a GGUF file's tensors (the small demo's LLM),
  straight through ``tqdm``, past its own ``disable_progress_bar()`` (:func:`quiet_gguf_conversion`).
"""

from __future__ import annotations

import functools
import logging
import os
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


#: Set to 1 to see every library message this module would silence.
KEEP_NOISE_VARIABLE = "SLICEVLM_LIBRARY_NOISE"


def library_noise_wanted() -> bool:
    """Whether the user asked to see the silenced library messages."""
    return os.environ.get(KEEP_NOISE_VARIABLE, "") == "1"


class _DropMessage(logging.Filter):
    """A logging filter dropping records whose message starts with `prefix`."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefix)


def silence_known_library_messages() -> None:
    """Install the filters for the messages above (idempotent; nothing when the user wants them)."""
    if library_noise_wanted():
        return
    deepspeed_logger = logging.getLogger("DeepSpeed")
    if not any(isinstance(f, _DropMessage) for f in deepspeed_logger.filters):
        deepspeed_logger.addFilter(_DropMessage("Setting accelerator to CPU"))
    warnings.filterwarnings("ignore", message=r"`is_gradient_checkpointing` is deprecated", category=FutureWarning)


@contextmanager
def quiet_gguf_conversion() -> Iterator[None]:
    """Within the block, transformers converts GGUF tensors without drawing a progress bar."""
    if library_noise_wanted():
        yield
        return
    try:
        from transformers import modeling_gguf_pytorch_utils as gguf_utils
    except ImportError:  # no GGUF support in this transformers: nothing draws the bar
        yield
        return
    drawn = gguf_utils.tqdm
    gguf_utils.tqdm = functools.partial(drawn, disable=True)
    try:
        yield
    finally:
        gguf_utils.tqdm = drawn
