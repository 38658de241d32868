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

import argparse
import json
import sys

from slicevlm.errors import show_traceback_if_debug
from slicevlm.metrics.bertscore import DEFAULT_BERTSCORE_MODEL, BertScoreSpec
from slicevlm.metrics.evaluate import PROTOCOLS, evaluate
from slicevlm.metrics.records import RecordError, read_predictions
from slicevlm.metrics.resources import MissingResourceError


def build_parser() -> argparse.ArgumentParser:
    """The ``slicevlm score`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="slicevlm score",
        description="Score a predictions JSONL (fields: id, task, question_type, prediction, "
        "reference, answer_choice) and print a markdown table.",
    )
    parser.add_argument("predictions", help="predictions JSONL file")
    parser.add_argument("--protocol", choices=PROTOCOLS, default="m3d",
                        help="m3d: per-sample BLEU-1/ROUGE-1/METEOR/BERTScore as the paper (default); "
                        "coco: corpus-level pycocoevalcap")
    parser.add_argument("--json", action="store_true", help="print the result as JSON instead of markdown")
    parser.add_argument("--bertscore-model", default=DEFAULT_BERTSCORE_MODEL,
                        help="cached hub name or local model folder (default: roberta-large; "
                        "any other model is not comparable with the paper)")
    parser.add_argument("--bertscore-layers", type=int, default=None,
                        help="layer for BERTScore (default 17 for roberta-large; required for a folder)")
    parser.add_argument("--bertscore-batch-size", type=int, default=64, help="BERTScore batch size")
    parser.add_argument("--no-bertscore", action="store_true", help="leave BERTScore out (the table says so)")
    parser.add_argument("--compare", action="store_true",
                        help="append paper-vs-ours tables (paper Tables 2-4) for the tasks present")
    parser.add_argument("--ablation", default=None,
                        help="also compare with this paper Table 8 row, e.g. 'Uniform sampling'")
    return parser


def main(argv: list[str]) -> int:
    """Run ``slicevlm score``.

    Args:
        argv: Arguments after ``score``.

    Returns:
        0 on success, 2 on a bad file or missing resource (message on stderr).
    """
    args = build_parser().parse_args(argv)
    bertscore = None
    if args.protocol == "m3d" and not args.no_bertscore:
        bertscore = BertScoreSpec(model=args.bertscore_model, num_layers=args.bertscore_layers,
                                  batch_size=args.bertscore_batch_size)
    try:
        records = read_predictions(args.predictions)
        report = evaluate([r for r in records if r.condition == "own"], protocol=args.protocol, bertscore=bertscore)
        from slicevlm.metrics.controls import control_report

        controls = control_report(records, bertscore)
        comparison = ""
        if args.compare or args.ablation:
            from slicevlm.metrics.compare import compare_with_paper

            comparison = compare_with_paper(report, ablation=args.ablation)
    except (RecordError, FileNotFoundError, MissingResourceError, ValueError) as e:
        show_traceback_if_debug(e)
        print(f"slicevlm score: {e}", file=sys.stderr)
        return 2
    if args.json:
        payload = {"predictions": args.predictions, "n_rows": len(records), **report.to_dict()}
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
