"""BERTScore F1 through the ``bert_score`` package (docs/method.md#evaluation-protocols).

The m3d protocol's BERTScore is F1 of ``roberta-large`` layer 17, no idf, no baseline rescaling
(what HF ``evaluate``'s ``bertscore`` with ``lang="en"`` computes). Nothing is downloaded
implicitly: ``roberta-large`` must already be in the HuggingFace cache (``$HF_HOME/hub``,
default ``~/.cache/huggingface/hub``), or be given as a local folder. Any other model is used only
when asked for, and its numbers are labelled as not comparable with roberta-large numbers.

Sentences are encoded exactly as bert-score 0.3.13 does under transformers 4.x (the peers'
setup), whatever transformers is installed (:mod:`slicevlm.metrics.frozen.bertscore_encoding`): an empty or
blank prediction scores F1 = 0 as it does there, instead of crashing, and roberta-large's
byte-level BPE reads every sentence with a leading space.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from slicevlm.hub import hf_cache_dir
from slicevlm.metrics.frozen.bertscore_encoding import BertScoreEncoder
from slicevlm.metrics.resources import MissingResourceError

DEFAULT_BERTSCORE_MODEL = "roberta-large"
DEFAULT_BERTSCORE_LAYERS = 17
NOT_COMPARABLE = "not comparable with roberta-large numbers"


def _fetch_hint(model: str) -> str:
    cache = hf_cache_dir()
    return (
        f"Fetch it once where the hub is reachable (`hf download {model}`, or "
        f"`huggingface-cli download {model}`) so it lands in the HuggingFace cache ({cache}), "
        "or pass a local copy with --bertscore-model DIR --bertscore-layers N "
        "(bertscore_model=DIR, bertscore_layers=N), or switch BERTScore off with --no-bertscore "
        "(bertscore_model=None)."
    )


@dataclass(frozen=True)
class BertScoreSpec:
    """Which model BERTScore uses.

    Attributes:
        model: A hub name already in the local cache (default ``roberta-large``) or a local folder
            holding an HF model and its tokenizer.
        num_layers: Hidden layer whose embeddings are compared; ``None`` = bert_score's tuned
            default for a hub name (17 for roberta-large). Required for a local folder.
        batch_size: Sentences per forward pass.
        device: Torch device; ``None`` = CUDA when available, else CPU.
    """

    model: str = DEFAULT_BERTSCORE_MODEL
    num_layers: int | None = None
    batch_size: int = 64
    device: str | None = None

    @property
    def layers(self) -> int | None:
        """The layer actually used (resolves roberta-large's default)."""
        if self.num_layers is None and self.model == DEFAULT_BERTSCORE_MODEL:
            return DEFAULT_BERTSCORE_LAYERS
        return self.num_layers

    @property
    def comparable(self) -> bool:
        """Whether numbers are comparable with the paper's (roberta-large, layer 17)."""
        return self.layers == DEFAULT_BERTSCORE_LAYERS and (
            self.model == DEFAULT_BERTSCORE_MODEL or _is_roberta_large_dir(self.model)
        )

    def describe(self) -> str:
        """One-line label for tables, e.g. ``roberta-large layer 17 (F1, no idf, no rescaling)``."""
        text = f"{self.model} layer {self.layers} (F1, no idf, no baseline rescaling)"
        return text if self.comparable else f"{text}; {NOT_COMPARABLE}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly description recorded with every result."""
        return {"model": self.model, "num_layers": self.layers, "idf": False,
                "rescale_with_baseline": False, "comparable": self.comparable}


def _is_roberta_large_dir(model: str) -> bool:
    config_path = Path(model) / "config.json"
    if not config_path.is_file():
        return False
    config = json.loads(config_path.read_text(encoding="utf-8"))
    return (config.get("model_type") == "roberta" and config.get("hidden_size") == 1024
            and config.get("num_hidden_layers") == 24)


def _check_available(spec: BertScoreSpec) -> None:
    if Path(spec.model).expanduser().is_dir():
        if spec.num_layers is None:
            raise ValueError(
                f"BERTScore model folder {spec.model!r} needs a layer: pass --bertscore-layers N "
                "(bertscore_layers=N), e.g. 17 for roberta-large, 6 for all-MiniLM-L6-v2."
            )
        return
    if spec.model.startswith(("/", ".", "~")) or spec.model.count("/") > 1:
        raise MissingResourceError(f"BERTScore model folder {spec.model!r} does not exist. "
                                   + _fetch_hint(DEFAULT_BERTSCORE_MODEL))
    from huggingface_hub import try_to_load_from_cache

    if not isinstance(try_to_load_from_cache(spec.model, "config.json", cache_dir=hf_cache_dir()), str):
        raise MissingResourceError(
            f"BERTScore model {spec.model!r} is neither a local folder nor in the HuggingFace "
            f"cache, and it is not downloaded implicitly. {_fetch_hint(spec.model)}"
        )


@lru_cache(maxsize=2)
def load_bertscorer(spec: BertScoreSpec) -> Any:
    """Build (once per spec) a ``bert_score.BERTScorer`` without touching the network.

    Args:
        spec: Model, layer, batch size and device.

    Returns:
        The scorer (idf off, no baseline rescaling), encoding sentences as bert-score 0.3.13 does
        under transformers 4.x (:class:`~slicevlm.metrics.frozen.bertscore_encoding.BertScoreEncoder`).

    Raises:
        MissingResourceError: when the model is not available locally (says what to fetch).
        ValueError: when a local folder is given without a layer.
        ImportError: when bert-score is not installed.
    """
    _check_available(spec)
    try:
        from bert_score import BERTScorer
    except ImportError as e:
        raise ImportError("BERTScore needs the bert-score package: `pip install bert-score`.") from e
    local = Path(spec.model).expanduser()
    model_type = str(local) if local.is_dir() else spec.model
    try:
        scorer = BERTScorer(model_type=model_type, num_layers=spec.layers, batch_size=spec.batch_size,
                            device=spec.device, idf=False, rescale_with_baseline=False)
    except (OSError, KeyError) as e:
        raise MissingResourceError(
            f"BERTScore model {spec.model!r} (layer {spec.layers}) could not be loaded: {e}. "
            + _fetch_hint(spec.model)
        ) from e
    # bert-score reads its tokenizer from this attribute in every call that encodes sentences.
    scorer._tokenizer = BertScoreEncoder(scorer._tokenizer)
    return scorer


def bertscore_f1(predictions: Sequence[str], references: Sequence[str], spec: BertScoreSpec) -> list[float]:
    """Per-sample BERTScore F1 in [0, 1] (inputs stripped).

    Args:
        predictions: Generated texts.
        references: Ground-truth texts, same length.
        spec: Which model to use.

    Returns:
        One F1 per pair.
    """
    if len(predictions) != len(references):
        raise ValueError(f"got {len(predictions)} predictions but {len(references)} references")
    if not predictions:
        return []
    scorer = load_bertscorer(spec)
    _, _, f1 = scorer.score([p.strip() for p in predictions], [r.strip() for r in references])
    return [float(x) for x in f1.tolist()]
