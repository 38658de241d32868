"""The ``m3d`` protocol (docs/method.md#evaluation-protocols): per-sample scores, averaged per group, ×100.

This is what the paper's and the peers' tables use. Free-text tasks (``caption``, ``vqa_open``)
get BLEU-1, ROUGE-1 F1, METEOR and (optionally) BERTScore F1 per sample
(:mod:`slicevlm.metrics.text_scores`, :mod:`slicevlm.metrics.bertscore`); closed-ended VQA gets
the peers' accuracy rule and the strict variant (:mod:`slicevlm.metrics.accuracy`): every m3d metric
of :mod:`slicevlm.metrics.registry`, in its order. Per-sample scores are stored on each record (``record.scores``, values in [0, 1]).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from slicevlm.metrics.bertscore import BertScoreSpec, bertscore_f1
from slicevlm.metrics.implementations import present_only
from slicevlm.metrics.records import QUESTION_TYPES, PredictionRecord, group_records
from slicevlm.metrics.registry import Metric, implementations, m3d_description, metrics_for
from slicevlm.metrics.report import MEAN, OVERALL, ScoreReport, add_type_mean, group_keys

def _metrics(task: str, bertscore: BertScoreSpec | None) -> list[Metric]:
    """The m3d metrics of ``task``; BERTScore only when a model is given."""
    return [m for m in metrics_for("m3d", task) if m.name != "bertscore" or bertscore is not None]


def _needed(record: PredictionRecord, bertscore: BertScoreSpec | None) -> tuple[str, ...]:
    return tuple(m.key for m in _metrics(record.task, bertscore))


def score_sample(record: PredictionRecord) -> dict[str, float]:
    """The m3d per-sample scores of one record, without BERTScore (which runs batched).

    Args:
        record: A record with a reference.

    Returns:
        Per-sample key (:attr:`Metric.key`) -> score of every registered m3d metric of the record's
        task that scores per sample: ``{"correct", "correct_strict"}`` (0/1) for closed-ended VQA, else
        ``{"bleu", "rouge", "meteor"}`` in [0, 1], plus any metric registered since.
    """
    if record.reference is None:
        raise ValueError(f"record {record.id!r} has no reference to score against")
    return {m.key: m.score(record) for m in metrics_for("m3d", record.task) if m.score is not None}


def fill_sample_scores(
    records: Sequence[PredictionRecord],
    bertscore: BertScoreSpec | None = None,
    overwrite: bool = True,
) -> None:
    """Compute per-sample m3d scores in place (``record.scores``).

    Args:
        records: Records to score; rows without a reference are skipped.
        bertscore: BERTScore model, or ``None`` to leave BERTScore out.
        overwrite: Recompute everything; when False only records missing a needed score are
            (re)scored, so rows written by an earlier run keep their scores.
    """
    todo = [
        r for r in records
        if r.scorable and (overwrite or any(m not in r.scores for m in _needed(r, bertscore)))
    ]
    for record in todo:
        record.scores.update(score_sample(record))
    if bertscore is None:
        return
    texts = [r for r in todo if r.task != "vqa_closed"]
    f1 = bertscore_f1([r.prediction for r in texts], [r.reference or "" for r in texts], bertscore)
    for record, value in zip(texts, f1, strict=True):
        record.scores["bertscore"] = value


def aggregate_m3d(records: Sequence[PredictionRecord], bertscore: BertScoreSpec | None = None) -> ScoreReport:
    """Average stored per-sample scores per task and question type (×100).

    Args:
        records: Records whose ``scores`` hold the m3d per-sample scores.
        bertscore: The BERTScore model the scores came from, or ``None`` when it was off.

    Returns:
        The m3d :class:`ScoreReport`.
    """
    report = ScoreReport(protocol="m3d", description=m3d_description(),
                         bertscore=bertscore.to_dict() if bertscore is not None else None)
    for task, rows in group_records(records).items():
        metrics = _metrics(rows[0].task, bertscore)
        names = tuple(m.key for m in metrics)
        sums: dict[str, dict[str, float]] = defaultdict(lambda n=names: dict.fromkeys(n, 0.0))
        counts: dict[str, int] = defaultdict(int)
        for record in rows:
            missing = [m for m in names if m not in record.scores]
            if missing:
                raise ValueError(f"record {record.id!r} lacks per-sample scores {missing}; "
                                 "run fill_sample_scores first")
            for group in group_keys(record.question_type):
                counts[group] += 1
                for metric in names:
                    sums[group][metric] += record.scores[metric]
        groups = {
            group: {m.name: 100.0 * metric_sums[m.key] / counts[group] for m in metrics}
            for group, metric_sums in sums.items()
        }
        if task != "caption":
            add_type_mean(groups, report.notes, task)
        report.results[task] = _ordered(groups)
        report.counts[task] = dict(counts)
    report.implementations = present_only(implementations("m3d", bertscore), report.results)
    if bertscore is not None and not bertscore.comparable:
        report.notes.append(f"BERTScore uses {bertscore.model}: not comparable with roberta-large numbers.")
    return report


def _ordered(groups: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    order = [*QUESTION_TYPES, MEAN, OVERALL]
    return {key: groups[key] for key in order if key in groups}


def evaluate_m3d(
    records: Sequence[PredictionRecord],
    bertscore: BertScoreSpec | None = None,
    reuse_scores: bool = False,
) -> ScoreReport:
    """Score records under the m3d protocol.

    Args:
        records: Prediction records (rows without a reference are ignored).
        bertscore: BERTScore model, or ``None`` to leave it out (the table says so).
        reuse_scores: Keep per-sample scores already on the records (e.g. read back from a
            predictions file) and compute only the missing ones.

    Returns:
        The m3d :class:`ScoreReport`.
    """
    fill_sample_scores(records, bertscore, overwrite=not reuse_scores)
    return aggregate_m3d(records, bertscore)
