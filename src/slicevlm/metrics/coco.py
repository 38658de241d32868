"""The ``coco`` protocol (docs/method.md#evaluation-protocols): pycocoevalcap, corpus level, ×100.

All predictions and references are lower-cased and tokenised by Stanford's PTB tokenizer
(punctuation removed) in one Java call; then, per task and question type, BLEU-1..4 (corpus BLEU,
"closest" reference length), ROUGE-L (mean of per-sample F, β 1.2), METEOR 1.5 (Java, one process
for all groups) and CIDEr-D (idf from the group's own references). Closed-ended accuracy uses
the same rules as the m3d protocol. pycocoevalcap's tokenizer writes a temporary file into its
own package folder, which must therefore be writable; the first METEOR call takes ~13 s (it loads
its paraphrase table).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from slicevlm.metrics.implementations import present_only
from slicevlm.metrics.m3d import aggregate_m3d, fill_sample_scores
from slicevlm.metrics.records import QUESTION_TYPES, PredictionRecord, group_records
from slicevlm.metrics.registry import implementations
from slicevlm.metrics.report import MEAN, OVERALL, ScoreReport, add_type_mean, group_keys
from slicevlm.metrics.resources import MissingResourceError, ensure_java

COCO_DESCRIPTION = (
    "Corpus-level pycocoevalcap, ×100: PTB-tokenised (lowercase, punctuation removed); BLEU-1..4 "
    "(closest reference length), ROUGE-L (mean per-sample F, β 1.2), METEOR 1.5 (Java), CIDEr-D "
    "(idf over the group's references). Closed-ended accuracy as in the m3d protocol. Not "
    "comparable with the paper's m3d-protocol numbers."
)


def _import_pycocoevalcap() -> dict[str, Any]:
    try:
        from pycocoevalcap.bleu.bleu import Bleu
        from pycocoevalcap.cider.cider import Cider
        from pycocoevalcap.meteor.meteor import Meteor
        from pycocoevalcap.rouge.rouge import Rouge
        from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer
    except ImportError as e:
        raise ImportError("The coco protocol needs pycocoevalcap: `pip install pycocoevalcap`.") from e
    return {"Bleu": Bleu, "Cider": Cider, "Meteor": Meteor, "Rouge": Rouge, "PTBTokenizer": PTBTokenizer}


def ptb_tokenize(texts: dict[str, str]) -> dict[str, str]:
    """Tokenise texts with pycocoevalcap's PTB tokenizer (one Java call).

    Args:
        texts: key -> raw text.

    Returns:
        key -> lower-cased tokens joined by spaces, punctuation removed.

    Raises:
        MissingResourceError: when Java is missing or the package folder is not writable.
    """
    ensure_java()
    tokenizer_cls = _import_pycocoevalcap()["PTBTokenizer"]
    folder = os.path.dirname(os.path.abspath(sys.modules[tokenizer_cls.__module__].__file__ or ""))
    if not os.access(folder, os.W_OK):
        raise MissingResourceError(
            f"pycocoevalcap's PTB tokenizer writes a temporary file into {folder}, which is not "
            "writable; make that folder writable (or install pycocoevalcap into a writable venv)."
        )
    # The tokenizer drops nothing but cannot represent an empty line; score "" as one blank token.
    prepared = {key: [{"caption": text.strip() or "."}] for key, text in texts.items()}
    tokenized = tokenizer_cls().tokenize(prepared)
    return {key: tokenized[key][0] for key in texts}


def _corpus_scores(gts: dict[str, list[str]], res: dict[str, list[str]], meteor: Any) -> dict[str, float]:
    classes = _import_pycocoevalcap()
    with contextlib.redirect_stdout(io.StringIO()):  # BleuScorer prints its length ratios
        bleu, _ = classes["Bleu"](4).compute_score(gts, res, verbose=0)
    rouge, _ = classes["Rouge"]().compute_score(gts, res)
    meteor_score, _ = meteor.compute_score(gts, res)
    cider, _ = classes["Cider"]().compute_score(gts, res)
    scores = {f"bleu_{n}": 100.0 * float(value) for n, value in enumerate(bleu, start=1)}
    scores.update(rouge_l=100.0 * float(rouge), meteor=100.0 * float(meteor_score), cider=100.0 * float(cider))
    return scores


def evaluate_coco(records: Sequence[PredictionRecord]) -> ScoreReport:
    """Score records under the coco protocol.

    Args:
        records: Prediction records (rows without a reference are ignored).

    Returns:
        The coco :class:`ScoreReport` (per task; VQA per question type, Mean and Overall).

    Raises:
        MissingResourceError: when Java is not installed.
    """
    report = ScoreReport(protocol="coco", description=COCO_DESCRIPTION)
    by_task = group_records(records)
    text_tasks = {task: rows for task, rows in by_task.items() if task != "vqa_closed"}
    if text_tasks:
        raw: dict[str, str] = {}
        for task, rows in text_tasks.items():
            for i, record in enumerate(rows):
                raw[f"{task}:{i}:ref"] = record.reference or ""
                raw[f"{task}:{i}:hyp"] = record.prediction
        tokens = ptb_tokenize(raw)
        meteor = _import_pycocoevalcap()["Meteor"]()
        try:
            for task, rows in text_tasks.items():
                members: dict[str, list[int]] = defaultdict(list)
                for i, record in enumerate(rows):
                    for group in group_keys(record.question_type):
                        members[group].append(i)
                groups = {
                    group: _corpus_scores({str(i): [tokens[f"{task}:{i}:ref"]] for i in idx},
                                          {str(i): [tokens[f"{task}:{i}:hyp"]] for i in idx}, meteor)
                    for group, idx in members.items()
                }
                if task != "caption":
                    add_type_mean(groups, report.notes, task)
                report.results[task] = {k: groups[k] for k in (*QUESTION_TYPES, MEAN, OVERALL) if k in groups}
                report.counts[task] = {group: len(idx) for group, idx in members.items()}
        finally:
            del meteor  # pycocoevalcap's Meteor stops its Java process in __del__
    if "vqa_closed" in by_task:
        closed = by_task["vqa_closed"]
        fill_sample_scores(closed, None, overwrite=False)
        m3d = aggregate_m3d(closed, None)
        report.results["vqa_closed"] = m3d.results["vqa_closed"]
        report.counts["vqa_closed"] = m3d.counts["vqa_closed"]
        report.notes += m3d.notes
    report.implementations = present_only(implementations("coco"), report.results)
    return report
