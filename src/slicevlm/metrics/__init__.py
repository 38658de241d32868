"""Evaluation metrics: pure functions over strings (no Lightning, nothing heavy at import).

Two protocols (docs/method.md#evaluation-protocols), always named in their output so numbers are never mixed:

- ``m3d`` (default, paper-comparable): per-sample BLEU-1, ROUGE-1 F1, nltk METEOR, BERTScore F1
  (roberta-large layer 17), averaged ×100; closed-ended accuracy by the peers' rule and a strict
  variant. See :mod:`slicevlm.metrics.m3d`.
- ``coco``: corpus-level pycocoevalcap (BLEU-1..4, ROUGE-L, METEOR 1.5, CIDEr). See
  :mod:`slicevlm.metrics.coco`.

Every metric (name, column label, protocol, tasks, how it is computed) is registered once in
:mod:`slicevlm.metrics.registry`; reports, comparisons and loggers iterate that registry.

Typical use::

    from slicevlm.metrics import evaluate, read_predictions
    report = evaluate(read_predictions("predictions.jsonl"), protocol="m3d", bertscore=None)
    print(report.to_markdown())
"""

from slicevlm.metrics.accuracy import closed_correct, closed_correct_strict, first_choice_letter
from slicevlm.metrics.bertscore import BertScoreSpec, bertscore_f1
from slicevlm.metrics.evaluate import PROTOCOLS, evaluate
from slicevlm.metrics.m3d import aggregate_m3d, fill_sample_scores, score_sample
from slicevlm.metrics.records import (
    QUESTION_TYPES,
    TASKS,
    PredictionRecord,
    RecordError,
    normalize_question_type,
    read_predictions,
    record_from_dict,
)
from slicevlm.metrics.registry import Metric, metrics_for, register_metric
from slicevlm.metrics.report import ScoreReport
from slicevlm.metrics.resources import MissingResourceError, ensure_java, ensure_wordnet
from slicevlm.metrics.text_scores import bleu1, meteor, rouge1_f1

__all__ = [
    "PROTOCOLS",
    "QUESTION_TYPES",
    "TASKS",
    "BertScoreSpec",
    "Metric",
    "MissingResourceError",
    "PredictionRecord",
    "RecordError",
    "ScoreReport",
    "aggregate_m3d",
    "bertscore_f1",
    "bleu1",
    "closed_correct",
    "closed_correct_strict",
    "ensure_java",
    "ensure_wordnet",
    "evaluate",
    "fill_sample_scores",
    "first_choice_letter",
    "meteor",
    "metrics_for",
    "normalize_question_type",
    "read_predictions",
    "record_from_dict",
    "register_metric",
    "rouge1_f1",
    "score_sample",
]
