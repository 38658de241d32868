"""Tiny stand-ins for BiomedCLIP and LLaMA-2, written in the real on-disk formats.

The demo and the tests run the same loading code as a real run: an open_clip model folder
(`open_clip_config.json` + `open_clip_model.safetensors`, loaded through `local-dir:`), and a
Hugging Face folder (`config.json`, weights, tokenizer files) loaded with `from_pretrained`. Only the
sizes differ. The tokenizer is a byte-level BPE trained on the fly, so it can spell any text.

LLaMA-2 arrives pretrained on language and able to read its context; a randomly initialised LM
cannot, and a frozen random LM gives near-uniform next-token logits that no visual prefix can steer.
So the tiny LLM gets a short warm-up on text (`reading.py`): the training formats with a card of
the case's facts where the image goes. It learns to read and answer, never the images.

    slicevlm make-tiny-models runs/tiny      # -> runs/tiny/encoder, runs/tiny/llm
"""

from __future__ import annotations

from pathlib import Path

from slicevlm.build_marker import built_with, write_marker
from slicevlm.command_line import run_command
from slicevlm.tiny.encoder import write_tiny_encoder
from slicevlm.tiny.language import pretrain_tiny_llm, train_tiny_tokenizer, write_tiny_llm
from slicevlm.tiny.reading import card_pairs, lookup_pairs

__all__ = [
    "card_pairs",
    "lookup_pairs",
    "main",
    "pretrain_tiny_llm",
    "train_tiny_tokenizer",
    "write_tiny_encoder",
    "write_tiny_llm",
    "write_tiny_models",
]


def write_tiny_models(
    out: Path, image_size: int = 64, patch_size: int = 8, pretrain_steps: int = 400
) -> dict[str, Path]:
    """Write both tiny models under `out`, skipping a part that is already complete and was built
    with the same settings (`recipe.json` in each folder records them)."""
    out = Path(out)
    encoder, llm = out / "encoder", out / "llm"
    encoder_recipe = {"image_size": image_size, "patch_size": patch_size}
    if not built_with(encoder / "recipe.json", encoder_recipe, encoder / "open_clip_model.safetensors"):
        write_tiny_encoder(encoder, image_size=image_size, patch_size=patch_size)
        write_marker(encoder / "recipe.json", encoder_recipe)
    llm_recipe = {"pretrain_steps": pretrain_steps, "warmup": WARMUP_RECIPE}
    if not built_with(llm / "recipe.json", llm_recipe, llm / "config.json", llm / "tokenizer.json"):
        write_tiny_llm(llm, pretrain_steps=pretrain_steps)
        write_marker(llm / "recipe.json", llm_recipe)
    return {"encoder": encoder, "llm": llm}


#: Changes whenever the warm-up's texts or schedule change, so that older tiny LLMs are rebuilt.
WARMUP_RECIPE = "case cards, fixed choice order, v3"


def make_tiny_models(out: Path, image_size: int = 64, patch_size: int = 8, pretrain_steps: int = 400) -> int:
    """Write the tiny encoder, LLM and tokenizer the demo and CI use.

    Args:
        out: folder to write encoder/ and llm/ into
        image_size: slice size the tiny ViT reads
        patch_size: ViT patch size (grid = image/patch)
        pretrain_steps: tiny LLM warm-up steps on case cards (0: random weights)
    """
    for name, path in write_tiny_models(out, image_size, patch_size, pretrain_steps).items():
        print(f"{name}: {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`slicevlm make-tiny-models OUT [--image-size 64 --patch-size 8]`."""
    return run_command(make_tiny_models, argv, prog="slicevlm make-tiny-models", description=__doc__)
