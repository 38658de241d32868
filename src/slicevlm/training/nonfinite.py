"""NaN/Inf in the loss or the gradients: found before every optimiser step, handled by a policy.

The LightningModule records each training batch's sample ids and loss; right before the optimiser
step (after backward and, under DDP, after the gradients were averaged across ranks) the guard
checks the recorded losses and every trainable gradient. The verdict is agreed across ranks, so all
of them skip or stop together. Policies:

- ``stop``: raise :class:`~slicevlm.training.errors.NonFiniteError` before the step, so the weights
  and the last checkpoint stay clean; the message names the step, the sample ids of the batches
  with a non-finite loss and the parameters with non-finite gradients.
- ``skip``: drop the step (every gradient is set to None, which torch optimisers skip: no update,
  no moment or step-count change; the learning-rate schedule still advances), warn with the same
  details, and stop once ``max_consecutive_skips`` steps in a row were skipped.

Under DeepSpeed the gradients live in DeepSpeed's own partitioned buffers and ``param.grad`` stays
empty: only the loss is checked there, and ``skip`` cannot drop the step (the module refuses it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from lightning.pytorch.utilities import rank_zero_warn

from slicevlm.errors import ConfigError
from slicevlm.training.errors import NonFiniteError

POLICIES: tuple[str, ...] = ("stop", "skip")
_NAMES_SHOWN = 8


def _gather(value: Any) -> list[Any]:
    """``value`` from every rank (a one-element list without torch.distributed)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized() and torch.distributed.get_world_size() > 1:
        gathered: list[Any] = [None] * torch.distributed.get_world_size()
        torch.distributed.all_gather_object(gathered, value)
        return gathered
    return [value]


def _shorten(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_NAMES_SHOWN])
    return shown + (f" and {len(names) - _NAMES_SHOWN} more" if len(names) > _NAMES_SHOWN else "")


class NonFiniteGuard:
    """Checks one optimiser step's batches (an accumulation window) for NaN/Inf.

    Args:
        policy: ``stop`` or ``skip``.
        max_consecutive_skips: With ``skip``: stop when this many steps in a row were skipped.
    """

    def __init__(self, policy: str = "stop", max_consecutive_skips: int = 10) -> None:
        if policy not in POLICIES:
            raise ConfigError(f"nonfinite_policy must be one of {list(POLICIES)}, got {policy!r}.")
        if max_consecutive_skips < 1:
            raise ConfigError(f"max_consecutive_skips must be >= 1, got {max_consecutive_skips}.")
        self.policy = policy
        self.max_consecutive_skips = max_consecutive_skips
        self.consecutive_skips = 0
        self.skipped_steps = 0
        self._window: list[tuple[list[str], torch.Tensor]] = []

    def record(self, sample_ids: Sequence[str], loss: torch.Tensor) -> None:
        """Remember a training batch of the current step (its loss stays on its device: no sync here)."""
        self._window.append((list(sample_ids), loss.detach()))

    def check(
        self,
        parameters: Sequence[tuple[str, torch.nn.Parameter]],
        step: int,
        any_rank: Callable[[bool], bool] = lambda flag: flag,
    ) -> bool:
        """Verdict for the step about to be taken; call on every rank after backward.

        Args:
            parameters: ``(name, parameter)`` of every trainable parameter.
            step: The global step about to be taken (for the message).
            any_rank: True on every rank when the flag is True on any rank (Lightning's
                ``strategy.reduce_boolean_decision(flag, all=False)``).

        Returns:
            True to take the step; False to skip it (the gradients are then cleared here).

        Raises:
            NonFiniteError: Non-finite values under ``stop``, or too many skips in a row.
        """
        window, self._window = self._window, []
        losses = [loss for _, loss in window]
        grads = [p.grad for _, p in parameters if p.grad is not None]
        flags = [torch.isfinite(t).all() for t in [*losses, *grads]]
        local_bad = bool(flags) and not bool(torch.stack([f.to(flags[0].device) for f in flags]).all())
        if not any_rank(local_bad):
            self.consecutive_skips = 0
            return True
        report = {
            "bad_loss_ids": [i for ids, loss in window if not torch.isfinite(loss).all() for i in ids],
            "bad_grads": [name for name, p in parameters if p.grad is not None and not torch.isfinite(p.grad).all()],
            "ids": [i for ids, _ in window for i in ids],
        }
        message = self._message(_gather(report), step)
        if self.policy == "stop":
            raise NonFiniteError(
                f"{message} Stopped before the optimiser step, so the weights and the last checkpoint are clean. "
                "Fix the cause (inspect those samples; a lower learning rate) and resume with `--ckpt_path last`, "
                "or set model.nonfinite_policy: skip to drop such steps."
            )
        self.consecutive_skips += 1
        self.skipped_steps += 1
        if self.consecutive_skips >= self.max_consecutive_skips:
            raise NonFiniteError(
                f"{message} That is {self.consecutive_skips} skipped steps in a row "
                f"(model.max_consecutive_skips = {self.max_consecutive_skips}): training has diverged; stopped. "
                "Resume from an earlier checkpoint with a lower learning rate."
            )
        for _, parameter in parameters:
            parameter.grad = None
        rank_zero_warn(f"{message} No update was made ({self.consecutive_skips} skipped in a row, {self.skipped_steps} in all).")
        return False

    def _message(self, reports: list[dict[str, list[str]]], step: int) -> str:
        parts = []
        for rank, report in enumerate(reports):
            where = f" on rank {rank}" if len(reports) > 1 else ""
            if report["bad_loss_ids"]:
                parts.append(f"non-finite loss{where} for the batch of samples [{_shorten(report['bad_loss_ids'])}]")
        bad_grads = list(dict.fromkeys(name for report in reports for name in report["bad_grads"]))  # same on all ranks
        if bad_grads:
            parts.append(f"non-finite gradients in [{_shorten(bad_grads)}]")
        if not any(report["bad_loss_ids"] for report in reports):
            ids = [i for report in reports for i in report["ids"]]
            parts.append(f"this step's samples: [{_shorten(ids)}]")
        action = "stopping" if self.policy == "stop" else "skipping the step"
        return f"NaN/Inf at global step {step} ({action}, nonfinite_policy = {self.policy}): " + "; ".join(parts) + "."
