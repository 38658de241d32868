"""One entry point for both protocols: :func:`evaluate`."""

from __future__ import annotations

import difflib
from typing import Literal, get_args
from collections.abc import Sequence

from slicevlm.metrics.bertscore import BertScoreSpec
from slicevlm.metrics.records import PredictionRecord
from slicevlm.metrics.report import ScoreReport

#: Metric protocols: per-sample scores as the paper (m3d), or corpus-level pycocoevalcap (coco).
Protocol = Literal["m3d", "coco"]
PROTOCOLS: tuple[str, ...] = get_args(Protocol)


def check_protocol(protocol: str) -> str:
    """Return ``protocol`` if known, else raise a ValueError with a suggestion."""
    if protocol not in PROTOCOLS:
        guess = difflib.get_close_matches(protocol, PROTOCOLS, n=1)
        hint = f" Did you mean {guess[0]!r}?" if guess else ""
        raise ValueError(f"unknown scoring protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}.{hint}")
    return protocol


def evaluate(
    records: Sequence[PredictionRecord],
    protocol: str = "m3d",
    bertscore: BertScoreSpec | None = None,
    reuse_scores: bool = False,
) -> ScoreReport:
    """Score prediction records under one protocol.

    Args:
        records: The rows to score (those without a reference are ignored).
        protocol: ``"m3d"`` (paper-comparable, default) or ``"coco"``.
        bertscore: BERTScore model for the m3d protocol, ``None`` to switch it off. The coco
            protocol has no BERTScore; a spec given with it is ignored and the report says so.
        reuse_scores: m3d only: keep per-sample scores already stored on the records.

    Returns:
        A :class:`ScoreReport` naming its protocol.
    """
    check_protocol(protocol)
    if protocol == "m3d":
        from slicevlm.metrics.m3d import evaluate_m3d

        return evaluate_m3d(records, bertscore, reuse_scores=reuse_scores)
    from slicevlm.metrics.coco import evaluate_coco

    report = evaluate_coco(records)
    if bertscore is not None:
        report.notes.append("BERTScore is not part of the coco protocol; use --protocol m3d for it.")
    return report
