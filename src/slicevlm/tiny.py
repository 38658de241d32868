"""Tiny stand-ins for BiomedCLIP and LLaMA-2, written in the real on-disk formats.

The demo and the tests run the same loading code as a real run: an open_clip model folder
(`open_clip_config.json` + `open_clip_model.safetensors`, loaded through `local-dir:`), and a
Hugging Face folder (`config.json`, weights, tokenizer files) loaded with `from_pretrained`. Only the
sizes differ. The tokenizer is a byte-level BPE trained on the fly, so it can spell any text.

    slicevlm make-tiny-models runs/tiny      # -> runs/tiny/encoder, runs/tiny/llm
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

_CORPUS = """
the liver spleen kidney kidneys lung lungs bladder pancreas gallbladder aorta vessel organ lesion lesions
cyst calcification mass nodule tumor hypodense hyperdense enhancing non-contrast arterial portal venous
delayed phase axial coronal sagittal plane left right upper lower anterior posterior location abnormality
findings impression there is are no a an of in with within and or seen noted measuring small large round
what which where is this image scan ct mri volume question answer choices a. b. c. d. report describe
normal abnormal size shape contrast density dark bright textured well defined margin the of study
""".split()


def write_tiny_encoder(folder: Path, image_size: int = 64, patch_size: int = 8, width: int = 64, layers: int = 2, seed: int = 0) -> Path:
    """An open_clip CLIP (ViT vision tower + small text tower) saved in the hub-folder layout."""
    import open_clip
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    model_cfg = {
        "embed_dim": 32,
        "vision_cfg": {"image_size": image_size, "patch_size": patch_size, "width": width, "layers": layers, "head_width": 32},
        "text_cfg": {"context_length": 32, "vocab_size": 1000, "width": 32, "heads": 2, "layers": 1},
    }
    torch.manual_seed(seed)
    model = open_clip.model.CLIP(**model_cfg)
    config = {"model_cfg": model_cfg, "preprocess_cfg": {"mean": list(open_clip.OPENAI_DATASET_MEAN), "std": list(open_clip.OPENAI_DATASET_STD)}}
    (folder / "open_clip_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "open_clip_model.safetensors"))
    return folder


def train_tiny_tokenizer(vocab_size: int = 512):
    """A byte-level BPE tokenizer with <s>, </s>, <unk>, <pad>; adds BOS like LLaMA's."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    sentences = [" ".join(_CORPUS[i : i + 12]) for i in range(0, len(_CORPUS), 3)] * 20
    tokenizer.train_from_iterator(sentences, trainer=trainer)
    tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", tokenizer.token_to_id("<s>"))])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>")


def write_tiny_llm(folder: Path, hidden_size: int = 64, layers: int = 2, heads: int = 4, seed: int = 0) -> Path:
    """A random LLaMA-architecture causal LM plus tokenizer, saved with `save_pretrained`."""
    from transformers import LlamaConfig, LlamaForCausalLM

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads // 2,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def write_tiny_models(out: Path, image_size: int = 64, patch_size: int = 8) -> dict[str, Path]:
    """Write both tiny models under `out` (skips a part that is already complete)."""
    out = Path(out)
    encoder, llm = out / "encoder", out / "llm"
    if not (encoder / "open_clip_model.safetensors").is_file():
        write_tiny_encoder(encoder, image_size=image_size, patch_size=patch_size)
    if not (llm / "config.json").is_file() or not (llm / "tokenizer.json").is_file():
        write_tiny_llm(llm)
    return {"encoder": encoder, "llm": llm}


def main(argv: list[str]) -> int:
    """`slicevlm make-tiny-models OUT [--image-size 64 --patch-size 8]`."""
    parser = argparse.ArgumentParser(prog="slicevlm make-tiny-models", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="folder to write encoder/ and llm/ into")
    parser.add_argument("--image-size", type=int, default=64, help="slice size the tiny ViT reads")
    parser.add_argument("--patch-size", type=int, default=8, help="ViT patch size (grid = image/patch)")
    args = parser.parse_args(argv)
    paths = write_tiny_models(args.out, args.image_size, args.patch_size)
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0
