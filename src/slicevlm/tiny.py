"""Tiny stand-ins for BiomedCLIP and LLaMA-2, written in the real on-disk formats.

The demo and the tests run the same loading code as a real run: an open_clip model folder
(`open_clip_config.json` + `open_clip_model.safetensors`, loaded through `local-dir:`), and a
Hugging Face folder (`config.json`, weights, tokenizer files) loaded with `from_pretrained`. Only the
sizes differ. The tokenizer is a byte-level BPE trained on the fly, so it can spell any text.

LLaMA-2 arrives pretrained on language; a randomly initialised LM does not, and a frozen random LM
gives near-uniform next-token logits that no visual prefix can steer (stage 1 would not learn). So
the tiny LLM gets a short language warm-up (`pretrain_steps`) on report and question/answer text
drawn from the synthetic generator with seeds no data set uses: it learns the vocabulary and the
answer formats, never the images.

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


#: Seed offset for warm-up text: far from any seed `slicevlm synth` is run with.
_WARMUP_SEED = 1_000_003


def warmup_texts(n_cases: int, seed: int = _WARMUP_SEED) -> list[tuple[str, str]]:
    """(prompt, answer) pairs in the training formats: a report request and the five VQA types, closed
    and open, for `n_cases` synthetic cases that share nothing with a data set's cases."""
    import numpy as np

    from slicevlm.data.findings import report_text, sample_case, vqa_rows
    from slicevlm.data.prompts import caption_instruction, closed_answer, closed_instruction
    from slicevlm.llm.prompting import PROMPT_PREFIX

    prefix = PROMPT_PREFIX.replace("<image>", "")  # the image token is added later, by LanguageModel
    pairs = []
    for index in range(n_cases):
        rng = np.random.default_rng([seed, index])
        truth = sample_case(rng)
        report = report_text(truth, rng)
        pairs.append((prefix + caption_instruction(seed, index), report))
        for row in vqa_rows(truth, truth.planes[0], "", report, rng):
            choices = tuple(row[f"Choice {x}"] for x in "ABCD")
            pairs.append((prefix + closed_instruction(row["Question"], choices), closed_answer(row["Answer Choice"], row["Answer"])))
            pairs.append((prefix + row["Question"], row["Answer"]))
    return pairs


def train_tiny_tokenizer(vocab_size: int = 512):
    """A byte-level BPE tokenizer with <s>, </s>, <unk>, <pad>; adds BOS like LLaMA's."""
    from slicevlm.llm.byte_level import train_byte_level_tokenizer

    sentences = [" ".join(_CORPUS[i : i + 12]) for i in range(0, len(_CORPUS), 3)] * 20
    sentences += [f"{prompt} {answer}" for prompt, answer in warmup_texts(200)]
    return train_byte_level_tokenizer(sentences, vocab_size)


def pretrain_tiny_llm(model, tokenizer, steps: int, batch_size: int = 32, learning_rate: float = 3e-3, seed: int = 0) -> float:
    """Language warm-up: next-token loss on every token of `warmup_texts` (AdamW, cosine decay).

    Returns:
        The mean loss over the last 10 steps.
    """
    from slicevlm.llm.prompting import IGNORE_INDEX, pad_rows

    pairs_per_case = 11  # a report request, then five questions both closed and open
    pairs = warmup_texts(max(200, steps * batch_size // pairs_per_case))  # each pair seen about once
    rows = []
    for prompt, answer in pairs:  # tokenised like training rows: prompt (with BOS) + answer + EOS
        ids = tokenizer(prompt)["input_ids"] + tokenizer(answer.strip(), add_special_tokens=False)["input_ids"]
        rows.append(ids + [tokenizer.eos_token_id])
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    model.train()
    losses = []
    for _ in range(steps):
        picked = [rows[i] for i in torch.randint(len(rows), (batch_size,), generator=generator).tolist()]
        input_ids = pad_rows(picked, tokenizer.pad_token_id, left=False)
        labels = pad_rows(picked, IGNORE_INDEX, left=False)  # loss on every real token
        loss = model(input_ids=input_ids, attention_mask=(labels != IGNORE_INDEX).long(), labels=labels).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    model.eval()
    tail = losses[-10:]
    return sum(tail) / max(1, len(tail))


def write_tiny_llm(
    folder: Path, hidden_size: int = 64, layers: int = 2, heads: int = 4, seed: int = 0, pretrain_steps: int = 300
) -> Path:
    """A LLaMA-architecture causal LM plus tokenizer, saved with `save_pretrained`; language warm-up
    for `pretrain_steps` steps first (0: random weights)."""
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
    model = LlamaForCausalLM(config)
    if pretrain_steps > 0:
        loss = pretrain_tiny_llm(model, tokenizer, pretrain_steps, seed=seed)
        print(f"tiny LLM language warm-up: {pretrain_steps} steps, final loss {loss:.3f}")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def write_tiny_models(out: Path, image_size: int = 64, patch_size: int = 8, pretrain_steps: int = 300) -> dict[str, Path]:
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
    parser.add_argument("--pretrain-steps", type=int, default=300, help="language warm-up steps for the tiny LLM (0: random)")
    args = parser.parse_args(argv)
    paths = write_tiny_models(args.out, args.image_size, args.patch_size, args.pretrain_steps)
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0
