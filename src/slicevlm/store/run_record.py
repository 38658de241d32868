"""`RunRecord`: what wrote a resumable file's rows, and how a later run differs from it.

Two runs' rows may share one file only when the record is the same: the same trained weights
(SHA-256), the same generation settings (:meth:`GenerationConfig.to_dict`) and, for answers
written from a checkpoint folder, the same folder. It is stored as ``<stem>.run.json`` beside the
rows (:class:`~slicevlm.store.resumable.ResumableJsonl`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RunRecord:
    """Identity of the run that wrote a file's rows.

    Attributes:
        weights_sha256: SHA-256 of the trained weights: the module's ``requires_grad`` parameters in
            a Lightning run (:func:`parameters_sha256`), the checkpoint folder's trained-weight files
            for ``slicevlm ask-batch`` (:func:`slicevlm.checkpoint.trained_weights_sha256`).
        generation: The generation settings (``GenerationConfig.to_dict()``).
        checkpoint: The checkpoint folder that answered (absolute), or None when the weights are a
            Lightning module's.
    """

    weights_sha256: str
    generation: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "generation", json.loads(json.dumps(dict(self.generation))))  # JSON-equal form

    def to_dict(self) -> dict[str, Any]:
        """The ``<stem>.run.json`` content (``checkpoint`` only when set)."""
        data: dict[str, Any] = {"weights_sha256": self.weights_sha256, "generation": self.generation}
        if self.checkpoint is not None:
            data["checkpoint"] = self.checkpoint
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        """Read back :meth:`to_dict` (missing fields: empty, so they differ from any real run)."""
        return cls(str(data.get("weights_sha256", "")), dict(data.get("generation") or {}), data.get("checkpoint"))

    def changes_since(self, earlier: RunRecord) -> list[str]:
        """Why rows ``earlier`` wrote cannot be resumed by this run (empty: they can).

        Each entry names the field that changed, its recorded value and its value now.
        """
        reasons = []
        if earlier.weights_sha256 != self.weights_sha256:
            reasons.append(
                f"they came from other weights (weights_sha256 {_short(earlier.weights_sha256)} recorded, "
                f"{_short(self.weights_sha256)} now: the weights were retrained or replaced)"
            )
        if earlier.generation != self.generation:
            changed = [
                f"{key} {earlier.generation.get(key)!r} recorded, {self.generation.get(key)!r} now"
                for key in sorted(set(earlier.generation) | set(self.generation))
                if earlier.generation.get(key) != self.generation.get(key)
            ]
            reasons.append(f"they used other generation settings ({'; '.join(changed)})")
        if earlier.checkpoint != self.checkpoint:
            reasons.append(f"they were answered by checkpoint {earlier.checkpoint!r}, this run uses {self.checkpoint!r}")
        return reasons


def _short(digest: str) -> str:
    return f"{digest[:12]}…" if digest else "(none)"


def parameters_sha256(named_parameters: Iterable[tuple[str, Any]]) -> str:
    """SHA-256 over the ``requires_grad`` parameters (name and float32 bytes), in name order.

    For SliceVLM that is fusion, injection, projector and LoRA; the frozen encoder and LLM are
    named by the checkpoint's config, never trained here. Under ZeRO-3 each rank only sees its
    partition, so there the digest covers less than the model.
    """
    digest = hashlib.sha256()
    for name, parameter in sorted(named_parameters, key=lambda item: item[0]):
        if parameter.requires_grad:
            digest.update(name.encode())
            digest.update(parameter.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()
