"""`GenerationConfig`: how answers are decoded, from config or command line down to the decoder.

The paper's evaluation decodes greedily with at most 256 new tokens (docs/method.md, "generation
length"). Every face takes one of these: the LightningModule as its ``generation`` argument
(``model.generation`` in a config), ``slicevlm ask | report | ask-batch`` and the server as the
options its fields become (``--max-new-tokens`` / ``--engine``). Its :meth:`GenerationConfig.to_dict`
is what a predictions file's run record stores. Light on imports: the web server checks its options
with it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, ClassVar, Literal, get_args

from slicevlm.errors import ConfigError

#: Decoding engines: transformers ``generate`` (dynamic cache), or our static-KV-cache loop
#: (``llm/decoding.py``, CUDA-graph replayed on GPU; the same greedy tokens).
Engine = Literal["hf", "fast"]
ENGINES: tuple[str, ...] = get_args(Engine)


@dataclass(frozen=True)
class GenerationConfig:
    """generation: how answers are decoded (greedy, as the paper's evaluation)

    The one declaration of the generation settings: the training configs' ``model.generation``,
    the ``--max-new-tokens`` / ``--engine`` options of every command that answers (and the server),
    their help texts and a predictions file's run record are all read from these fields.

    Attributes:
        max_new_tokens: answer length cap in tokens (256, as the paper's evaluation)
        engine: decoding: transformers generate (hf), or the static-KV-cache loop (fast; a CUDA graph on GPU, the same greedy tokens)
    """

    max_new_tokens: int = 256
    engine: Engine = "hf"

    #: Only greedy decoding is implemented, as the paper evaluates; a run record states it.
    GREEDY: ClassVar[dict[str, Any]] = {"strategy": "greedy", "num_beams": 1, "do_sample": False}

    def __post_init__(self) -> None:
        tokens = self.max_new_tokens
        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1:
            raise ConfigError(
                f"max_new_tokens={tokens!r}; expected a positive number of tokens (256, as the paper's evaluation). "
                "Set --max-new-tokens (command line) or model.generation.max_new_tokens (config)."
            )
        if self.engine not in ENGINES:
            raise ConfigError(
                f"engine={self.engine!r}; expected 'hf' or 'fast'. Set --engine (command line) or "
                "model.generation.engine (config) to one of them."
            )

    def with_max_new_tokens(self, max_new_tokens: int) -> GenerationConfig:
        """These settings with another length cap (checked like the constructor)."""
        return replace(self, max_new_tokens=max_new_tokens)

    def to_dict(self) -> dict[str, Any]:
        """``strategy``, ``num_beams``, ``do_sample``, ``max_new_tokens``, ``engine``: a run record's ``generation``."""
        return {**self.GREEDY, **asdict(self)}

    @classmethod
    def option_flags(cls) -> dict[str, str]:
        """Each setting's command-line option: ``{"max_new_tokens": "--max-new-tokens", "engine": "--engine"}``."""
        return {field.name: "--" + field.name.replace("_", "-") for field in fields(cls)}


#: The one default: what every face uses unless told otherwise.
DEFAULT_GENERATION = GenerationConfig()
