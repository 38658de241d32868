"""Stage-2 training throughput: dynamic padding (± length bucketing) vs fixed 512-token padding.

The real stage-2 set-up — `SliceVLMModule(stage=2)`: LoRA on every linear layer of the LLM, fusion,
injection and projector trainable, encoder frozen — runs forward + backward + AdamW step on
synthetic batches. The samples mix M3D-Cap-like captions (long answers, 100–300 tokens) and
M3D-VQA-like questions (short answers, 5–20 tokens). Each arm trains on the same samples:

* fixed-512: random batches, text right-padded to 512 tokens (the peers' `padding="max_length"`);
* dynamic: the same random batches, padded to the longest row (what `training_batch` does);
* dynamic + bucketing: `BucketBatchSampler` groups similar lengths (datamodule `length_bucketing`).

Tokens/s counts real tokens (visual + non-padding text), identical across arms, so the ratio of
two arms is the inverse ratio of their times. MFU = 6·N·real tokens / time / bf16 peak, N = LLM
parameters without the embedding matrix (+ 2·N_encoder per encoder patch token, forward only).
"""

from __future__ import annotations

from dataclasses import dataclass
import random
import time

import torch

from slicevlm.bench.models import BenchModel, mixed_precision, volumes
from slicevlm.bench.report import Figure
from slicevlm.bench.timing import peak_memory_gib, reset_peak_memory, synchronize
from slicevlm.llm.prompting import IGNORE_INDEX

_WORDS = (
    "the liver spleen kidney lung bladder pancreas gallbladder aorta lesion cyst mass nodule hypodense enhancing "
    "arterial portal venous phase axial coronal left right upper lower there is no a of in with and seen small "
    "large round margin density contrast normal findings"
).split()
_CAPTION_INSTRUCTIONS = ("Describe the findings of the medical image you see.", "Please write a radiology report for this scan.")
_VQA_INSTRUCTIONS = (
    "Which organ shows the abnormality in this image? Choices: A. liver B. spleen C. kidney D. pancreas",
    "What plane is this image?",
    "Where is the lesion located?",
    "In which phase was this scan acquired? Choices: A. non-contrast B. arterial C. portal venous D. delayed",
)


@dataclass
class TrainSettings:
    """Shape of the training comparison.

    Attributes:
        batch_size: samples per optimiser step.
        steps: timed steps per arm.
        warmup_steps: untimed steps per arm before timing.
        caption_fraction: share of caption samples (the rest are VQA).
        fixed_length: text length of the fixed-padding arm.
        bucket_batches: batches per length-sorted chunk for the bucketing arm (datamodule default 50).
        gradient_checkpointing: recompute LLM blocks in backward (full size on one GPU needs it).
        seed: sample and order seed.
    """

    batch_size: int = 8
    steps: int = 8
    warmup_steps: int = 2
    caption_fraction: float = 0.3
    fixed_length: int = 512
    bucket_batches: int = 50
    gradient_checkpointing: bool = False
    seed: int = 0


def synthetic_samples(tokenizer, count: int, caption_fraction: float, seed: int) -> list[tuple[str, str]]:
    """(instruction, answer) pairs whose answers have caption-like or VQA-like token lengths."""
    rng = random.Random(seed)
    word_tokens = {word: len(tokenizer(" " + word, add_special_tokens=False)["input_ids"]) for word in _WORDS}
    samples = []
    for _ in range(count):
        caption = rng.random() < caption_fraction
        target = rng.randint(100, 300) if caption else rng.randint(5, 20)
        words, tokens = [], 0
        while tokens < target:
            word = rng.choice(_WORDS)
            words.append(word)
            tokens += word_tokens[word]
        instruction = rng.choice(_CAPTION_INSTRUCTIONS if caption else _VQA_INSTRUCTIONS)
        samples.append((instruction, " ".join(words)))
    return samples


def _pad_to(batch: dict[str, torch.Tensor], length: int, pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a training batch's text to exactly `length` columns."""
    extra = length - batch["input_ids"].shape[1]
    if extra < 0:
        raise ValueError(f"a row has {batch['input_ids'].shape[1]} text tokens, more than the fixed length {length}")
    pad = torch.nn.functional.pad
    return {
        "input_ids": pad(batch["input_ids"], (0, extra), value=pad_id),
        "attention_mask": pad(batch["attention_mask"], (0, extra), value=0),
        "labels": pad(batch["labels"], (0, extra), value=IGNORE_INDEX),
    }


def _orders(lengths: list[int], settings: TrainSettings) -> dict[str, list[list[int]]]:
    """Batches of sample indices per arm (fixed and dynamic share the random order)."""
    from slicevlm.data.samplers import BucketBatchSampler

    size = settings.batch_size
    shuffled = list(range(len(lengths)))
    random.Random(settings.seed).shuffle(shuffled)
    plain = [shuffled[i : i + size] for i in range(0, len(shuffled), size)]
    bucketed = list(BucketBatchSampler(shuffled, size, True, lengths=lengths, bucket_batches=settings.bucket_batches, seed=settings.seed))
    return {"fixed-512": plain, "dynamic": plain, "dynamic + bucketing": bucketed}


def _stage2_module(bench: BenchModel, settings: TrainSettings):
    from slicevlm.training.module import SliceVLMModule

    language = bench.model.language
    if settings.gradient_checkpointing:
        language.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        language.model.enable_input_require_grads()
    module = SliceVLMModule(bench.model.vision, language, stage=2)
    return module.to(bench.device).train()


def _flops(module, depth: int) -> tuple[float, float]:
    """Model FLOPs per real token (6·N_llm, N without embeddings and adapters) and per volume (encoder forward)."""
    causal_lm = module.model.language.model
    embedding = causal_lm.get_input_embeddings().weight
    llm = sum(p.numel() for name, p in causal_lm.named_parameters() if "lora_" not in name) - embedding.numel()
    encoder = module.model.vision.encoder
    height, width = encoder.grid_size
    return 6.0 * llm, 2.0 * sum(p.numel() for p in encoder.parameters()) * depth * height * width


def throughput(bench: BenchModel, settings: TrainSettings, peak_flops: float | None) -> tuple[list[Figure], dict]:
    """Run the three arms side by side; tokens/s ratios against fixed-512, MFU and peak memory."""
    module = _stage2_module(bench, settings)
    model, device, tokenizer = module.model, bench.device, module.model.tokenizer
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-5, fused=device.type == "cuda")
    size = settings.batch_size
    samples = synthetic_samples(tokenizer, settings.steps * size, settings.caption_fraction, settings.seed)
    warmup = synthetic_samples(tokenizer, settings.warmup_steps * size, settings.caption_fraction, settings.seed + 1)
    lengths = [int(row.sum()) for row in model.tokenize_for_training(*zip(*samples), bench.volume_size[0])["attention_mask"]]
    visual = model.vision.token_count(bench.volume_size[0])
    per_token, per_volume = _flops(module, bench.volume_size[0])
    batch_volumes = volumes(size, bench.volume_size, device)  # (B, D, H, W), reused by every step

    def step(rows: list[tuple[str, str]], fixed: bool) -> int:
        """One optimiser step; returns the real tokens it processed."""
        batch = model.tokenize_for_training([r[0] for r in rows], [r[1] for r in rows], bench.volume_size[0])
        if fixed:
            batch = _pad_to(batch, settings.fixed_length, tokenizer.pad_token_id)
        batch = {key: value.to(device) for key, value in batch.items()}
        with mixed_precision(bench.size, device):
            loss = model(batch_volumes[: len(rows)], batch["input_ids"], batch["attention_mask"], batch["labels"]).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return int(batch["attention_mask"].sum()) + visual * len(rows)

    orders = _orders(lengths, settings)
    for name in orders:  # warm every arm up with its own padding
        for start in range(0, len(warmup), size):
            step(warmup[start : start + size], name.startswith("fixed"))
    totals = {name: {"real_tokens": 0, "seconds": 0.0, "peak_memory_gib": None} for name in orders}
    for index in range(settings.steps):  # interleaved: arm A step i, arm B step i, ... (shared machine load)
        for name, batches in orders.items():
            reset_peak_memory(device)
            synchronize(device)
            start = time.perf_counter()
            totals[name]["real_tokens"] += step([samples[i] for i in batches[index]], name.startswith("fixed"))
            synchronize(device)
            totals[name]["seconds"] += time.perf_counter() - start
            peak = peak_memory_gib(device)
            if peak is not None:
                totals[name]["peak_memory_gib"] = max(peak, totals[name]["peak_memory_gib"] or 0.0)
    arms = {}
    for name, arm in totals.items():
        flops = per_token * arm["real_tokens"] + per_volume * len(samples)
        arms[name] = {**arm, "tokens_per_s": arm["real_tokens"] / arm["seconds"], "mfu": flops / arm["seconds"] / peak_flops if peak_flops else None}
    return _figures(arms, settings), {"arms": arms, "sample_text_tokens": _stats(lengths), "visual_tokens": visual}


def _stats(lengths: list[int]) -> dict[str, float]:
    ordered = sorted(lengths)
    return {"min": ordered[0], "median": ordered[len(ordered) // 2], "max": ordered[-1], "mean": sum(ordered) / len(ordered)}


def _figures(arms: dict[str, dict], settings: TrainSettings) -> list[Figure]:
    fixed = arms["fixed-512"]

    def detail(arm: dict) -> str:
        parts = [f"{arm['tokens_per_s']:,.0f} tokens/s"]
        if arm["mfu"] is not None:
            parts.append(f"MFU {arm['mfu']:.1%}")
        if arm["peak_memory_gib"] is not None:
            parts.append(f"peak {arm['peak_memory_gib']:.1f} GiB")
        return ", ".join(parts)

    figures = [Figure("train", f"fixed-{settings.fixed_length}, batch {settings.batch_size}", fixed["tokens_per_s"], "tokens/s", detail(fixed))]
    for name in ("dynamic", "dynamic + bucketing"):
        ratio = arms[name]["tokens_per_s"] / fixed["tokens_per_s"]
        figures.append(Figure("train", f"{name} / fixed-{settings.fixed_length} tokens/s", ratio, "×", detail(arms[name]), (">=", 1.5)))
    return figures
