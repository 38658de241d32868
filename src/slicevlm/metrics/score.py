"""``slicevlm score``: rescore a predictions JSONL under the m3d or coco protocol.

Examples::

    slicevlm score runs/test/predictions.jsonl                       # m3d, BERTScore roberta-large
    slicevlm score preds.jsonl --no-bertscore --compare              # + paper-vs-ours tables
    slicevlm score preds.jsonl --protocol coco --json
    HF_HUB_OFFLINE=1 slicevlm score preds.jsonl --bertscore-model DIR --bertscore-layers 6

The protocol scores the rows asked of their own volume. When the file also holds image-reliance
control rows (``condition`` swapped / blank), their tables follow (m3d per-sample scores).
"""

from __future__ import annotations

import json
from typing import Annotated

from slicevlm.command_line import Arg, run_command
from slicevlm.errors import report as report_user_error
from slicevlm.metrics.bertscore import DEFAULT_BERTSCORE_MODEL, BertScoreSpec
from slicevlm.metrics.evaluate import Protocol, evaluate
from slicevlm.metrics.records import RecordError, read_predictions
from slicevlm.metrics.resources import MissingResourceError


def score(
    predictions: str,
    protocol: Protocol = "m3d",
    as_json: Annotated[bool, Arg(flag="--json")] = False,
    bertscore_model: str = DEFAULT_BERTSCORE_MODEL,
    bertscore_layers: int | None = None,
    bertscore_batch_size: int = 64,
    no_bertscore: bool = False,
    compare: bool = False,
    ablation: str | None = None,
) -> int:
    """Score a predictions JSONL and print a markdown table.

    The file's fields: id, task, question_type, prediction, reference, answer_choice.
    Exit status: 0 scored, 2 a bad file or a missing resource (message on stderr).

    Args:
        predictions: predictions JSONL file
        protocol: m3d: per-sample BLEU-1/ROUGE-1/METEOR/BERTScore as the paper; coco: corpus-level
            pycocoevalcap
        as_json: print the result as JSON instead of markdown
        bertscore_model: cached hub name or local model folder (any model but roberta-large is not
            comparable with the paper)
        bertscore_layers: layer for BERTScore (default 17 for roberta-large; required for a folder)
        bertscore_batch_size: BERTScore batch size
        no_bertscore: leave BERTScore out (the table says so)
        compare: append paper-vs-ours tables (paper Tables 2-4) for the tasks present
        ablation: also compare with this paper Table 8 row, e.g. 'Uniform sampling'
    """
    bertscore = None
    if protocol == "m3d" and not no_bertscore:
        bertscore = BertScoreSpec(model=bertscore_model, num_layers=bertscore_layers, batch_size=bertscore_batch_size)
    try:
        records = read_predictions(predictions)
        report = evaluate([r for r in records if r.condition == "own"], protocol=protocol, bertscore=bertscore)
        from slicevlm.metrics.controls import control_report

        controls = control_report(records, bertscore)
        comparison = ""
        if compare or ablation:
            from slicevlm.metrics.compare import compare_with_paper

            comparison = compare_with_paper(report, ablation=ablation)
    except (RecordError, FileNotFoundError, MissingResourceError, ValueError) as e:
        report_user_error("slicevlm score", e)
        return 2
    if as_json:
        payload = {"predictions": predictions, "n_rows": len(records), **report.to_dict()}
        if controls is not None:
            payload["controls"] = controls.to_dict()
        print(json.dumps(payload, indent=2))
    else:
        print(report.to_markdown())
        if comparison:
            print(comparison)
        if controls is not None:
            print(controls.to_markdown())
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``slicevlm score``.

    Args:
        argv: Arguments after ``score``.

    Returns:
        0 on success, 2 on a bad file or missing resource (message on stderr).
    """
    return run_command(score, argv, prog="slicevlm score")
