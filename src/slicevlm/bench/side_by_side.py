"""Closed-VQA latency and stage-2 training throughput of several models on one LLM, timed interleaved.

All models share one language model (built once: the same weights, the same kernels), so the timings
differ only by what differs between the models: the vision tower, its projector, and the number of
visual tokens the LLM reads. Every timing goes through :func:`slicevlm.bench.timing.compare`, which
runs the arms interleaved (a, b, c, a, b, c, …) and reports the median of the repeats after warm-up.

* Latency: one volume + one closed question (M3D's prompt with four choices) → exactly
  `max_new_tokens` greedy tokens (EOS does not stop the timed runs), with plain Hugging Face
  `generate` (dynamic cache, what `SliceVLM.generate` calls) and with the project's fast decoder
  (static cache; a replayed CUDA graph on GPUs). Timed before any LoRA adapter is attached, so the
  LLM costs what a merged adapter costs. "vision" is the tower + projector alone.
* Training: forward + backward + AdamW step of the stage-2 set-up (the model's trainable vision
  modules, its projector and its own LoRA adapter), the same batch size and the same text tokens
  for every model, every text position real (no padding). tokens/s counts the LLM's positions per
  row (the visual tokens in place of the `<image>` token, plus the other text tokens).

At full size (GPU or CPU) and on a GPU the frozen encoder and the LLM hold bf16 weights (as the
configs set them) and the vision side runs under bf16 autocast, as `precision: bf16-mixed` trains it;
the tiny CPU twins run in fp32.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
import gc
from pathlib import Path
from typing import Any

import torch

from slicevlm.bench.contenders import ModelSpec, attach_adapters, shared_language, use_adapter
from slicevlm.bench.inference import Engines
from slicevlm.bench.models import BenchModel, mixed_precision, questions, volumes
from slicevlm.bench.timing import compare
from slicevlm.llm.prompting import training_batch
from slicevlm.model import SliceVLM

#: Answer text of the training rows; repeated and cut so that every row holds exactly `text_tokens` tokens.
_ANSWER = "there is a small round hypodense lesion in the right lobe of the liver with no contrast enhancement. "


@dataclass
class SideBySideSettings:
    """How the models are timed.

    Attributes:
        batch_size: samples per training step (the same for every model).
        text_tokens: text tokens per training row (prompt + answer + EOS; the same for every model).
        max_new_tokens: tokens each closed-VQA answer is generated to.
        warmup: untimed runs of every arm before timing.
        repeats: timed runs of every arm; the median is reported.
        seed: seed of the random weights and volumes.
    """

    batch_size: int
    text_tokens: int
    max_new_tokens: int
    warmup: int
    repeats: int
    seed: int = 0


@dataclass
class Measured:
    """One model's timings (seconds) and what it processed.

    Attributes:
        visual_tokens: M', counted on the embeddings the model produced.
        latency_prompt_tokens: LLM positions of the latency prompt (visual + text).
        vision_s: tower + projector for one volume.
        latency_plain_s: one volume + one closed question → `max_new_tokens` tokens, plain `generate`.
        latency_fast_s: the same with the fast decoder.
        train_step_s: one optimiser step at `batch_size`.
        train_samples_per_s: batch_size / train_step_s.
        train_tokens_per_s: LLM positions per second, batch_size · (visual_tokens + text_tokens − 1) / train_step_s
            (the visual tokens take the place of the one `<image>` text token).
        trained_parameters: parameters the training step's optimiser updates.
        trained_adapters: the LoRA adapters among them (the model's own only).
    """

    visual_tokens: int
    latency_prompt_tokens: int
    vision_s: float
    latency_plain_s: float
    latency_fast_s: float
    train_step_s: float
    train_samples_per_s: float
    train_tokens_per_s: float
    trained_parameters: int
    trained_adapters: list[str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_models(specs: list[ModelSpec], device: torch.device, seed: int) -> dict[str, SliceVLM]:
    """Every spec's tower and projector around one shared LLM (no adapters yet), on `device`, eval mode."""
    torch.manual_seed(seed)
    with torch.device(device):  # random 7B weights are initialised on the GPU, not in host memory
        language = shared_language(specs)
        models = {spec.contender.key: SliceVLM(spec.build_tower(), language) for spec in specs}
    return {key: model.to(device).eval() for key, model in models.items()}


def _latency_arms(key: str, bench: BenchModel, settings: SideBySideSettings) -> tuple[dict[str, Callable[[], Any]], int, int]:
    """The vision / plain / fast arms of one model, its visual tokens and its prompt length."""
    engines, device, count = Engines(bench), bench.device, settings.max_new_tokens
    size = bench.size
    volume, question = volumes(1, bench.volume_size, device, seed=settings.seed), questions(1)

    def prompt() -> tuple[torch.Tensor, torch.Tensor]:
        with mixed_precision(size, device):
            return engines.prompt(volume, question)  # (1, L', d), (1, L')

    @torch.no_grad()
    def vision() -> torch.Tensor:
        with mixed_precision(size, device):
            return bench.model.visual_embeddings(volume)[0]  # (1, M', d)

    arms = {
        f"{key} vision": vision,
        f"{key} plain": lambda: engines.plain(*prompt(), count),
        f"{key} fast": lambda: engines.fast(*prompt(), count),
    }
    return arms, int(vision().shape[1]), int(prompt()[1].shape[1])


def latency(
    models: dict[str, SliceVLM], specs: list[ModelSpec], device: torch.device, size: str, tokenizer_dir: Path, settings: SideBySideSettings
) -> dict[str, dict]:
    """Closed-VQA latency of every model, all arms interleaved in one `compare`."""
    arms: dict[str, Callable[[], Any]] = {}
    shapes: dict[str, tuple[int, int]] = {}
    for spec in specs:
        key = spec.contender.key
        model_arms, visual, prompt_tokens = _latency_arms(key, BenchModel(models[key], device, size, spec.volume_size, tokenizer_dir), settings)
        arms.update(model_arms)
        shapes[key] = (visual, prompt_tokens)
    timings = compare(arms, device, settings.warmup, settings.repeats)
    return {
        key: {
            "visual_tokens": visual,
            "latency_prompt_tokens": prompt_tokens,
            "vision_s": timings[f"{key} vision"],
            "latency_plain_s": timings[f"{key} plain"],
            "latency_fast_s": timings[f"{key} fast"],
        }
        for key, (visual, prompt_tokens) in shapes.items()
    }


def training(
    models: dict[str, SliceVLM], specs: list[ModelSpec], device: torch.device, size: str, settings: SideBySideSettings
) -> dict[str, tuple[float, int, list[str]]]:
    """Median seconds per stage-2 optimiser step of every model (steps interleaved in one `compare`), the
    number of parameters each step updates and the LoRA adapters among them."""
    language = next(iter(models.values())).language
    attach_adapters(language, specs)
    rows = settings.batch_size
    batch = training_batch(language.tokenizer, questions(rows), [_ANSWER * settings.text_tokens] * rows, settings.text_tokens)
    if batch["input_ids"].shape[1] != settings.text_tokens or not bool(batch["attention_mask"].all()):
        raise ValueError(f"the training rows did not fill {settings.text_tokens} text tokens; raise --text-tokens")
    batch = {name: tensor.to(device) for name, tensor in batch.items()}
    steps, trained, adapters = {}, {}, {}
    for spec in specs:
        key = spec.contender.key
        batch_volumes = volumes(rows, spec.volume_size, device, seed=settings.seed)  # (B, D, H, W)
        steps[key], trained[key], adapters[key] = _training_step(models[key], language, key, batch_volumes, batch, size)
    seconds = compare(steps, device, settings.warmup, settings.repeats)
    return {key: (seconds[key], trained[key], adapters[key]) for key in steps}


def _training_step(
    model: SliceVLM, language, key: str, batch_volumes: torch.Tensor, batch: dict[str, torch.Tensor], size: str
) -> tuple[Callable[[], None], int, list[str]]:
    """One forward + backward + AdamW step of `model` with its own adapter active; the number of parameters it
    updates and the adapters among them."""
    device = batch_volumes.device
    use_adapter(language, key)
    model.train()
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    trainable = [p for _, p in named]
    adapters = sorted({name.split(".lora_", 1)[1].split(".")[1] for name, _ in named if ".lora_" in name})  # ...lora_A.<adapter>.weight
    optimizer = torch.optim.AdamW(trainable, lr=2e-5, fused=device.type == "cuda")

    def step() -> None:
        use_adapter(language, key)
        with mixed_precision(size, device):
            loss = model(batch_volumes, batch["input_ids"], batch["attention_mask"], batch["labels"]).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step, sum(p.numel() for p in trainable), adapters


def measure(
    specs: list[ModelSpec], device: torch.device, size: str, tokenizer_dir: Path, settings: SideBySideSettings
) -> dict[str, Measured]:
    """Build the models on `device`, time latency (no adapters), then attach the adapters and time training."""
    models = build_models(specs, device, settings.seed)
    timed = latency(models, specs, device, size, tokenizer_dir, settings)
    gc.collect()  # the decoders' KV caches and graph pools go before training
    if device.type == "cuda":
        torch.cuda.empty_cache()
    steps = training(models, specs, device, size, settings)
    result = {}
    for spec in specs:
        key, row = spec.contender.key, timed[spec.contender.key]
        seconds, trained, adapters = steps[key]
        tokens = settings.batch_size * (row["visual_tokens"] + settings.text_tokens - 1)  # `<image>` → M' visual tokens
        result[key] = Measured(
            **row, train_step_s=seconds, train_samples_per_s=settings.batch_size / seconds, train_tokens_per_s=tokens / seconds,
            trained_parameters=trained, trained_adapters=adapters,
        )
    return result
