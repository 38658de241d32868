"""Whether a model is a toy: the demo's tiny stand-ins in place of BiomedCLIP and LLaMA-2.

The demo and the tests train on tiny models (``slicevlm make-tiny-models``) that exercise every code
path but cannot read a scan. A checkpoint folder built on them records ``"toy": true`` in
``slicevlm.json`` (written at export), and every face that answers with it says so. The rule is
size: a language model under :data:`TOY_LLM_PARAMETERS` parameters is a toy (the paper's LLaMA-2-7B
has 6.7 billion; the tiny stand-in has well under a million).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

#: A language model with fewer parameters than this is a toy.
TOY_LLM_PARAMETERS: int = 100_000_000
#: The label shown wherever a toy model answers.
TOY_NOTICE: str = (
    "toy model: this checkpoint was trained on the demo's tiny stand-in models; its answers exercise the "
    "pipeline and carry no medical meaning"
)
#: The notice every face shows beside answers.
RESEARCH_NOTICE: str = "research use only, not for clinical decisions"


def toy_reason(language: torch.nn.Module) -> str | None:
    """Why a model with this language model is a toy, or None when it is not.

    Args:
        language: The model's language side (``SliceVLM.language``).
    """
    count = sum(p.numel() for p in language.parameters())
    if count >= TOY_LLM_PARAMETERS:
        return None
    return f"its language model has {count:,} parameters (a toy has fewer than {TOY_LLM_PARAMETERS:,})"


def toy_record(language: torch.nn.Module) -> dict[str, Any]:
    """``{"toy": bool, "toy_reason": str | None}`` for ``slicevlm.json``."""
    reason = toy_reason(language)
    return {"toy": reason is not None, "toy_reason": reason}
