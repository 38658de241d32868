"""`GenerationConfig`: how answers are decoded, from config or command line down to the decoder.

The paper's evaluation decodes greedily with at most 256 new tokens (docs/method.md, "generation
length"). Every face builds one of these: the LightningModule from its ``max_new_tokens`` /
``decoding_engine`` arguments, ``slicevlm ask | report | ask-batch`` and the server from
``--max-new-tokens`` / ``--engine``. Its :meth:`GenerationConfig.to_dict` is what a predictions
file's run record stores. Light on imports: the web server checks its options with it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal, get_args

from slicevlm.errors import ConfigError

#: Decoding engines: transformers ``generate`` (dynamic cache), or our static-KV-cache loop
#: (``llm/decoding.py``, CUDA-graph replayed on GPU; the same greedy tokens).
Engine = Literal["hf", "fast"]
ENGINES: tuple[str, ...] = get_args(Engine)


@dataclass(frozen=True)
class GenerationConfig:
    """Decoding settings (greedy, as the paper's evaluation).

    Attributes:
        max_new_tokens: Answer length cap in tokens (256, as the paper's evaluation).
        engine: ``"hf"`` (transformers ``generate``) or ``"fast"`` (static KV cache, CUDA graph on
            GPU; the same greedy tokens).
        strategy: Only ``"greedy"`` is implemented.
        num_beams: 1 (greedy).
        do_sample: False (greedy).
    """

    max_new_tokens: int = 256
    engine: str = "hf"
    strategy: str = "greedy"
    num_beams: int = 1
    do_sample: bool = False

    def __post_init__(self) -> None:
        tokens = self.max_new_tokens
        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1:
            raise ConfigError(
                f"max_new_tokens={tokens!r}; expected a positive number of tokens (256, as the paper's evaluation). "
                "Set --max-new-tokens (command line) or model.max_new_tokens (config)."
            )
        if self.engine not in ENGINES:
            raise ConfigError(
                f"engine={self.engine!r}; expected 'hf' or 'fast'. Set --engine (command line) or "
                "model.decoding_engine (config) to one of them."
            )
        if (self.strategy, self.num_beams, self.do_sample) != ("greedy", 1, False):
            raise ConfigError(
                f"strategy={self.strategy!r}, num_beams={self.num_beams!r}, do_sample={self.do_sample!r}; only greedy "
                "decoding (strategy 'greedy', num_beams 1, do_sample false) is implemented, as the paper evaluates."
            )

    def with_max_new_tokens(self, max_new_tokens: int) -> GenerationConfig:
        """These settings with another length cap (checked like the constructor)."""
        return replace(self, max_new_tokens=max_new_tokens)

    def to_dict(self) -> dict[str, Any]:
        """``strategy``, ``num_beams``, ``do_sample``, ``max_new_tokens``, ``engine``: a run record's ``generation``."""
        data = asdict(self)
        return {key: data[key] for key in ("strategy", "num_beams", "do_sample", "max_new_tokens", "engine")}


#: The one default: what every face uses unless told otherwise.
DEFAULT_GENERATION = GenerationConfig()
