"""Which code computed each metric, with the installed versions: shown beside every score table.

A number without its implementation cannot be compared: BLEU-1 or BLEU-4? nltk 3.9.1 or 3.10
tokens? Each metric in :mod:`slicevlm.metrics.registry` says what produced it;
:class:`ScoreReport` prints it under its tables and keeps it in its JSON.
"""

from __future__ import annotations

from importlib import metadata

#: The peers' scoring stack whose per-sample values the m3d protocol reproduces (golden-tested).
M3D_PARITY = (
    "Per-sample values equal those of M3D-LaMed's and Med3DVLM's eval scripts (Hugging Face "
    "evaluate 0.4.3 metric scripts with nltk 3.9.1, rouge_score 0.1.2, bert-score 0.3.13, "
    "transformers 4.48), whatever nltk and transformers are installed; BLEU of an empty prediction "
    "or reference is 0 here, where their code raises ZeroDivisionError."
)


def package_version(name: str) -> str:
    """``name`` and its installed version, e.g. ``nltk 3.10.4`` (``nltk (not installed)``)."""
    try:
        return f"{name} {metadata.version(name)}"
    except metadata.PackageNotFoundError:
        return f"{name} (not installed)"


def present_only(implementations: dict[str, str], results: dict[str, dict[str, dict[str, float]]]) -> dict[str, str]:
    """The entries of ``implementations`` for metrics that ``results`` (task -> group -> metric) holds."""
    present = {metric for groups in results.values() for metrics in groups.values() for metric in metrics}
    return {metric: text for metric, text in implementations.items() if metric in present}
