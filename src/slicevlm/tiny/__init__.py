"""Tiny stand-ins for BiomedCLIP and LLaMA-2, written in the real on-disk formats.

The demo and the tests run the same loading code as a real run: an open_clip model folder
(`open_clip_config.json` + `open_clip_model.safetensors`, loaded through `local-dir:`), and a
Hugging Face folder (`config.json`, weights, tokenizer files) loaded with `from_pretrained`. Only the
sizes differ. The tokenizer is a byte-level BPE trained on the fly, so it can spell any text.

LLaMA-2 arrives pretrained on language and able to read its context; a randomly initialised LM
cannot, and a frozen random LM gives near-uniform next-token logits that no visual prefix can steer.
So the tiny LLM gets a short warm-up on text (`reading.py`): choice lookup, then the training
formats with a card of the case's facts where the image goes. It learns to read and answer, never
the images.

    slicevlm make-tiny-models runs/tiny      # -> runs/tiny/encoder, runs/tiny/llm
"""

from __future__ import annotations

import argparse
from pathlib import Path

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
    out: Path, image_size: int = 64, patch_size: int = 8, pretrain_steps: int = 3000
) -> dict[str, Path]:
    """Write both tiny models under `out` (skips a part that is already complete)."""
    out = Path(out)
    encoder, llm = out / "encoder", out / "llm"
    if not (encoder / "open_clip_model.safetensors").is_file():
        write_tiny_encoder(encoder, image_size=image_size, patch_size=patch_size)
    if not (llm / "config.json").is_file() or not (llm / "tokenizer.json").is_file():
        write_tiny_llm(llm, pretrain_steps=pretrain_steps)
    return {"encoder": encoder, "llm": llm}


def main(argv: list[str]) -> int:
    """`slicevlm make-tiny-models OUT [--image-size 64 --patch-size 8]`."""
    parser = argparse.ArgumentParser(prog="slicevlm make-tiny-models", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="folder to write encoder/ and llm/ into")
    parser.add_argument("--image-size", type=int, default=64, help="slice size the tiny ViT reads")
    parser.add_argument("--patch-size", type=int, default=8, help="ViT patch size (grid = image/patch)")
    parser.add_argument("--pretrain-steps", type=int, default=3000, help="tiny LLM warm-up steps (choice lookup and case cards; 0: random)")
    args = parser.parse_args(argv)
    paths = write_tiny_models(args.out, args.image_size, args.patch_size, args.pretrain_steps)
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0
