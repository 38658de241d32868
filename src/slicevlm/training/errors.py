"""Errors that stop a training run with a message for the person who started it (no traceback needed).

`lightning-cli` / `slicevlm fit` print the message and exit with `exit_code`.
"""

from __future__ import annotations

from slicevlm.errors import SliceVLMError


class RunError(SliceVLMError, RuntimeError):
    """A run refused to start or stopped on purpose; the message says why and what to change."""

    exit_code = 2


class ResumeError(RunError):
    """`--ckpt_path last` found nothing to resume, or the checkpoint does not fit this run."""


class ExportExistsError(RunError):
    """A run from scratch would overwrite a checkpoint folder another run exported."""


class NonFiniteError(RunError):
    """Loss or gradients became NaN/Inf and the policy is to stop."""

    exit_code = 1
