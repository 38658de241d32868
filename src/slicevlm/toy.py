"""Whether a model is a toy (a tiny stand-in in place of BiomedCLIP or LLaMA-2), and whether it is small.

The demo and the tests train on tiny models (``slicevlm make-tiny-models``) that exercise every code
path but cannot read a scan. A checkpoint folder records in ``slicevlm.json`` (written at export)

- ``"toy"`` / ``"toy_reason"``: one or more of its models is a tiny stand-in: a language model under
  :data:`TOY_LLM_PARAMETERS` parameters (the paper's LLaMA-2-7B has 6.7 billion; the tiny stand-in has
  well under a million), or a vision encoder under :data:`TOY_ENCODER_PARAMETERS` (BiomedCLIP's ViT-B/16
  has about 86 million; the tiny stand-in about 0.1 million). A real pretrained LLM beside the tiny
  encoder is still a toy.
- ``"small"`` / ``"small_reason"``: its language model has under :data:`SMALL_LLM_PARAMETERS`
  parameters, so its answers show what a model of that size learns, not the paper's results. The two
  flags are independent: a toy built on the tiny LLM is small as well, and every face shows both
  notices; a toy whose only tiny part is its encoder is not small when its LLM is large.

Every face that answers with the checkpoint (``ask`` / ``report`` / ``ask-batch``, the server's JSON
and ``/info``, the web page) carries :func:`labels`: the flags, :data:`TOY_NOTICE` and
:data:`SMALL_NOTICE` where they apply, and always :data:`RESEARCH_NOTICE`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from slicevlm.model import SliceVLM

#: A language model with fewer parameters than this is a toy.
TOY_LLM_PARAMETERS: int = 100_000_000
#: A vision encoder (the slice encoder, or a baseline tower's 3D encoder) with fewer parameters than this is a
#: toy: the tiny stand-in has 118,784; the smallest real encoder shipped, EfficientNet-Lite0 cut at its
#: stride-16 block, keeps 0.70 million of its 4.7 million.
TOY_ENCODER_PARAMETERS: int = 500_000
#: A language model with fewer parameters than this is small (far from the paper's LLaMA-2-7B).
SMALL_LLM_PARAMETERS: int = 1_000_000_000
#: The paper's language model, and its size in words, for the small label.
PAPER_LLM: str = "LLaMA-2-7B"
PAPER_LLM_SIZE: str = "6.7 billion"

#: The label shown wherever a toy model answers.
TOY_NOTICE: str = (
    "toy model: one or more of this checkpoint's models (language model, vision encoder) is a tiny stand-in "
    "like the demo's; its answers exercise the pipeline and carry no medical meaning"
)
#: The label shown wherever a small model answers.
SMALL_NOTICE: str = (
    f"small model: its language model is far smaller than the paper's {PAPER_LLM} ({PAPER_LLM_SIZE} parameters); "
    "its answers show what a model this size learns, not the paper's results"
)
#: The notice every face shows beside answers.
RESEARCH_NOTICE: str = "research use only, not for clinical decisions"


def parameter_count(module: torch.nn.Module) -> int:
    """Number of parameters of `module` (meta tensors count too: nothing is read)."""
    return sum(p.numel() for p in module.parameters())


def vision_encoder(vision: torch.nn.Module) -> torch.nn.Module | None:
    """The vision tower's encoder: the paper pipeline's slice encoder, a baseline's 3D encoder; None when
    the tower has no separate encoder (then only the language model decides)."""
    import torch

    encoder = getattr(vision, "encoder", None)
    return encoder if isinstance(encoder, torch.nn.Module) else None


def _encoder_part(encoder: torch.nn.Module) -> str:
    from slicevlm.vision.encoders.base import SliceEncoderBase

    kind = "slice encoder" if isinstance(encoder, SliceEncoderBase) else "vision encoder"
    return f"its {kind} ({type(encoder).__name__})"


def toy_reason(model: SliceVLM) -> str | None:
    """Why `model` is a toy (each tiny part with its parameter count), or None when it is not.

    Args:
        model: the :class:`~slicevlm.model.SliceVLM` (anything with ``.language`` and ``.vision``).
    """
    reasons = []
    llm = parameter_count(model.language)
    if llm < TOY_LLM_PARAMETERS:
        reasons.append(f"its language model has {llm:,} parameters (a toy has fewer than {TOY_LLM_PARAMETERS:,})")
    encoder = vision_encoder(model.vision)
    if encoder is not None:
        count = parameter_count(encoder)
        if count < TOY_ENCODER_PARAMETERS:
            reasons.append(f"{_encoder_part(encoder)} has {count:,} parameters (a toy has fewer than {TOY_ENCODER_PARAMETERS:,})")
    return "; ".join(reasons) or None


def small_reason(model: SliceVLM) -> str | None:
    """Why `model` is small (its language model's parameter count), or None when it is not."""
    llm = parameter_count(model.language)
    if llm >= SMALL_LLM_PARAMETERS:
        return None
    return (
        f"its language model has {llm:,} parameters; the paper's {PAPER_LLM} has {PAPER_LLM_SIZE} "
        f"(a small model has fewer than {SMALL_LLM_PARAMETERS:,})"
    )


def toy_record(model: SliceVLM) -> dict[str, Any]:
    """``{"toy", "toy_reason", "small", "small_reason"}`` for ``slicevlm.json``."""
    toy, small = toy_reason(model), small_reason(model)
    return {"toy": toy is not None, "toy_reason": toy, "small": small is not None, "small_reason": small}


def labels(toy: bool, small: bool) -> dict[str, Any]:
    """``toy``, ``toy_notice``, ``small``, ``small_notice`` and ``notice``: the labels every face carries."""
    return {
        "toy": toy,
        "toy_notice": TOY_NOTICE if toy else None,
        "small": small,
        "small_notice": SMALL_NOTICE if small else None,
        "notice": RESEARCH_NOTICE,
    }
