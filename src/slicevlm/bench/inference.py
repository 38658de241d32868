"""Inference speed, side by side in one run: latency, per-token decode, vision, batched evaluation.

Floors are computed from quantities measured in the same run: vision time + prefill time + tokens ×
(LLM weight bytes / measured read bandwidth). "fast" is `slicevlm.llm.decoding.GreedyDecoder`
(static cache; decode step replayed as a CUDA graph on GPUs), "plain" is Hugging Face `generate`
with its dynamic cache, as `SliceVLM.generate` calls it, and "static" is the same `generate` with
transformers' own static cache (`cache_implementation="static"`). Timed runs never stop early (no
EOS), so every engine produces exactly the requested number of tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from slicevlm.bench.models import BenchModel, llm_weight_bytes, questions, volumes
from slicevlm.bench.report import Figure
from slicevlm.bench.timing import compare
from slicevlm.llm.decoding import GreedyDecoder

REPORT_INSTRUCTION = "Describe the findings of this CT scan in detail."


@dataclass
class InferenceSettings:
    """Sizes and repeats of the inference suites.

    Attributes:
        answer_tokens: tokens per closed-VQA answer (latency, eval).
        decode_tokens: tokens generated for the per-token decode figure (report generation).
        eval_batch: questions per batch in the evaluation suite.
        eval_questions: questions the evaluation time is projected to (M3D-VQA test: 13,729).
        eval_check: rows whose batched answers are compared with batch-size-1 answers.
        vision_batch: volumes per batch in the vision suite.
        warmup: untimed runs before each timing.
        repeats: timed runs; the median is reported.
        compile_mode: also time a `torch.compile`d decode step (CUDA) in this mode.
        copy_megabytes: buffer size of the bandwidth measurement.
    """

    answer_tokens: int = 8
    decode_tokens: int = 128
    eval_batch: int = 32
    eval_questions: int = 13_729
    eval_check: int = 8
    vision_batch: int = 8
    warmup: int = 2
    repeats: int = 5
    compile_mode: str | None = None
    copy_megabytes: int = 1024


def _ms(value: float) -> str:
    return f"{value * 1e3:.2f} ms"


class Engines:
    """Prompt building plus the fast and plain generators over one model."""

    def __init__(self, bench: BenchModel, compile_mode: str | None = None) -> None:
        self.bench = bench
        self.model = bench.model
        tokenizer = self.model.tokenizer
        self.eos, self.pad = tokenizer.eos_token_id, tokenizer.pad_token_id
        causal_lm = bench.causal_lm
        self.fast = GreedyDecoder(causal_lm, None, self.pad)  # CUDA graph on GPUs
        self.fast_stopping = GreedyDecoder(causal_lm, self.eos, self.pad)
        on_gpu = bench.device.type == "cuda"
        self.fast_eager = GreedyDecoder(causal_lm, None, self.pad, use_cuda_graph=False) if on_gpu else None
        self.compiled = GreedyDecoder(causal_lm, None, self.pad, compile_mode=compile_mode) if compile_mode else None
        self.compile_error: str | None = None
        self.compile_error_shown = False

    def compiled_ready(self, embeds: torch.Tensor, mask: torch.Tensor) -> bool:
        """Compile and capture the compiled step once; a failure is recorded (and shown), not hidden."""
        if self.compiled is None:
            return False
        try:
            self.compiled(embeds, mask, 2)
        except Exception as error:  # dynamo/inductor raise many types; the figure row reports it
            self.compile_error = f"{type(error).__name__}: {str(error)[:300]}"
            self.compiled = None
            return False
        return True

    @torch.no_grad()
    def prompt(self, volume: torch.Tensor, instructions: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Vision + tokenisation + splice (`SliceVLM.prompt_inputs`): embeddings (B, L', d), mask (B, L'), left-padded."""
        return self.model.prompt_inputs(volume, instructions)

    @torch.no_grad()
    def plain(self, embeds: torch.Tensor, mask: torch.Tensor, tokens: int, stop: bool = False, cache: str | None = None) -> torch.Tensor:
        """Hugging Face `generate` (dynamic cache, or `cache` such as "static"); without `stop` it always makes `tokens` tokens."""
        length = {} if stop else {"min_new_tokens": tokens}
        if cache is not None:
            length["cache_implementation"] = cache
        return self.bench.causal_lm.generate(
            inputs_embeds=embeds, attention_mask=mask, max_new_tokens=tokens, do_sample=False, num_beams=1, eos_token_id=self.eos, pad_token_id=self.pad, **length
        )

    def static(self, embeds: torch.Tensor, mask: torch.Tensor, tokens: int) -> torch.Tensor:
        """Hugging Face `generate` with its static cache, exactly `tokens` tokens."""
        return self.plain(embeds, mask, tokens, cache="static")


def _bandwidth_detail(weight_bytes: int, bandwidth: float) -> str:
    return f"{weight_bytes / 1e9:.3g} GB of LLM weights at {bandwidth / 1e12:.3g} TB/s measured read bandwidth"


@torch.no_grad()
def latency(engines: Engines, settings: InferenceSettings, bandwidth: float) -> tuple[list[Figure], dict]:
    """One volume, one closed question, `answer_tokens` tokens: fast vs floor vs plain generate."""
    bench, run = engines.bench, dict(warmup=settings.warmup, repeats=settings.repeats)
    volume, instruction, count = volumes(1, bench.volume_size, bench.device), questions(1), settings.answer_tokens
    embeds, mask = engines.prompt(volume, instruction)
    arms = {
        "vision": lambda: bench.model.visual_embeddings(volume),
        "prefill": lambda: engines.fast(embeds, mask, 1),
        "fast": lambda: engines.fast(*engines.prompt(volume, instruction), count),
        "plain": lambda: engines.plain(*engines.prompt(volume, instruction), count),
        "static": lambda: engines.static(*engines.prompt(volume, instruction), count),
    }
    if engines.compiled_ready(embeds, mask):
        arms["compiled"] = lambda: engines.compiled(*engines.prompt(volume, instruction), count)
    timings = compare(arms, bench.device, **run)
    vision_s, prefill_s, fast_s, plain_s, static_s = (timings[k] for k in ("vision", "prefill", "fast", "plain", "static"))
    weight_bytes = llm_weight_bytes(bench.causal_lm)
    read_s = weight_bytes / bandwidth
    floor_s = vision_s + prefill_s + count * read_s
    strict_floor_s = vision_s + prefill_s + (count - 1) * read_s  # the first token comes out of the prefill
    floor_text = f"floor {_ms(floor_s)} = vision {_ms(vision_s)} + prefill {_ms(prefill_s)} + {count} × {_ms(read_s)}"
    figures = [
        Figure("latency", f"closed VQA, {count} tokens: fast / floor", fast_s / floor_s, "×", f"fast {_ms(fast_s)}; {floor_text}", ("<=", 1.25)),
        Figure("latency", "plain generate / fast", plain_s / fast_s, "×", f"plain {_ms(plain_s)}, fast {_ms(fast_s)}", (">=", 2.5)),
        Figure("latency", f"fast / strict floor ({count - 1} weight reads)", fast_s / strict_floor_s, "×", f"strict floor {_ms(strict_floor_s)}"),
        Figure("latency", "plain generate / floor", plain_s / floor_s, "×", f"plain {_ms(plain_s)}"),
        Figure("latency", "generate, static cache / floor", static_s / floor_s, "×", f"static {_ms(static_s)}"),
    ]
    if "compiled" in timings:
        compiled_s = timings["compiled"]
        figures += [
            Figure("latency", "fast, compiled step / floor", compiled_s / floor_s, "×", f"compiled {_ms(compiled_s)}", ("<=", 1.25)),
            Figure("latency", "plain generate / fast, compiled step", plain_s / compiled_s, "×", f"plain {_ms(plain_s)}", (">=", 2.5)),
        ]
    figures += _compile_failure("latency", engines)
    details = {
        "prompt_tokens": int(mask.shape[1]),
        "answer_tokens": count,
        "vision_s": vision_s,
        "prefill_s": prefill_s,
        "fast_s": fast_s,
        "plain_s": plain_s,
        "static_s": static_s,
        "weight_bytes": weight_bytes,
        "weight_read_s": read_s,
        "floor_s": floor_s,
        "strict_floor_s": strict_floor_s,
    }
    return figures, details


def _compile_failure(suite: str, engines: Engines) -> list[Figure]:
    """A visible row when the compiled step could not be built (the other figures still stand)."""
    if engines.compile_error is None or engines.compile_error_shown:
        return []
    engines.compile_error_shown = True
    return [Figure(suite, "fast, compiled step: FAILED", float("nan"), "", engines.compile_error)]


@torch.no_grad()
def decode(engines: Engines, settings: InferenceSettings, bandwidth: float) -> tuple[list[Figure], dict]:
    """Per-token decode during report generation: (time(N tokens) − time(1 token)) / (N − 1), per engine."""
    bench, run, count = engines.bench, dict(warmup=settings.warmup, repeats=settings.repeats), settings.decode_tokens
    embeds, mask = engines.prompt(volumes(1, bench.volume_size, bench.device), [REPORT_INSTRUCTION])

    arms = {
        "fast": lambda n: engines.fast(embeds, mask, n),
        "plain": lambda n: engines.plain(embeds, mask, n),
        "static": lambda n: engines.static(embeds, mask, n),
    }
    if engines.fast_eager is not None:
        arms["fast, no CUDA graph"] = lambda n: engines.fast_eager(embeds, mask, n)
    if engines.compiled_ready(embeds, mask):
        arms["fast, compiled step"] = lambda n: engines.compiled(embeds, mask, n)
    runs = {f"{name}@{n}": (lambda g=generate, n=n: g(n)) for name, generate in arms.items() for n in (1, count)}
    measured = compare(runs, bench.device, **run)
    timings = {name: (measured[f"{name}@{count}"] - measured[f"{name}@1"]) / (count - 1) for name in arms}
    weight_bytes = llm_weight_bytes(bench.causal_lm)
    floor = weight_bytes / bandwidth
    graph = "CUDA graph" if bench.device.type == "cuda" else "eager (no CUDA on this device)"
    figures = [
        Figure("decode", f"fast per token / floor [{graph}]", timings["fast"] / floor, "×", f"{_ms(timings['fast'])} vs {_ms(floor)}: {_bandwidth_detail(weight_bytes, bandwidth)}", ("<=", 1.3)),
        Figure("decode", "plain per token / fast per token", timings["plain"] / timings["fast"], "×", f"plain {_ms(timings['plain'])}"),
        Figure("decode", "plain generate per token / floor", timings["plain"] / floor, "×", _ms(timings["plain"])),
        Figure("decode", "generate, static cache per token / floor", timings["static"] / floor, "×", _ms(timings["static"])),
    ]
    for name in ("fast, no CUDA graph", "fast, compiled step"):
        if name in timings:
            target = ("<=", 1.3) if name == "fast, compiled step" else None
            figures.append(Figure("decode", f"{name} per token / floor", timings[name] / floor, "×", _ms(timings[name]), target))
    figures += _compile_failure("decode", engines)
    details = {"prompt_tokens": int(mask.shape[1]), "tokens": count, "per_token_s": timings, "floor_s": floor, "weight_bytes": weight_bytes}
    return figures, details


@torch.no_grad()
def vision(engines: Engines, settings: InferenceSettings) -> tuple[list[Figure], dict]:
    """Volumes/s through encoder + selection + fusion + injection + projector at `vision_batch`."""
    bench, run = engines.bench, dict(warmup=settings.warmup, repeats=settings.repeats)
    batch = volumes(settings.vision_batch, bench.volume_size, bench.device)
    single = batch[:1]
    timings = compare(
        {
            "pipeline": lambda: bench.model.visual_embeddings(batch),
            "encoder": lambda: bench.model.vision.encoder(batch),
            "single": lambda: bench.model.visual_embeddings(single),
        },
        bench.device,
        **run,
    )
    pipeline_s, encoder_s, single_s = timings["pipeline"], timings["encoder"], timings["single"]
    trunk = getattr(getattr(bench.model.vision.encoder, "visual", None), "trunk", None)  # timm trunks only
    fused = [getattr(block.attn, "fused_attn", None) for block in trunk.blocks] if trunk is not None else []
    rate = settings.vision_batch / pipeline_s
    detail = f"batch {settings.vision_batch}: {_ms(pipeline_s)} (encoder {_ms(encoder_s)}); batch 1: {_ms(single_s)}"
    figures = [Figure("vision", f"volumes/s at batch {settings.vision_batch}", rate, "volumes/s", detail, (">=", 200.0))]
    details = {
        "batch": settings.vision_batch,
        "pipeline_s": pipeline_s,
        "encoder_s": encoder_s,
        "batch1_s": single_s,
        "encoder_dtype": str(next(bench.model.vision.encoder.parameters()).dtype),
        "fused_attention_blocks": sum(bool(f) for f in fused) if fused else None,
    }
    return figures, details


@torch.no_grad()
def evaluation(engines: Engines, settings: InferenceSettings) -> tuple[list[Figure], dict]:
    """Batched closed-VQA throughput projected to the test set, and batched == batch-size-1 answers."""
    bench, count = engines.bench, settings.answer_tokens
    run = dict(warmup=1, repeats=max(1, settings.repeats // 2))
    size = settings.eval_batch
    batch, asked = volumes(size, bench.volume_size, bench.device, seed=1), questions(size)
    timings = compare(
        {"fast": lambda: engines.fast(*engines.prompt(batch, asked), count), "plain": lambda: engines.plain(*engines.prompt(batch, asked), count)},
        bench.device,
        **run,
    )
    fast_s, plain_s = timings["fast"], timings["plain"]
    minutes = settings.eval_questions / (size / fast_s) / 60
    same = _batched_equals_single(engines, batch[: settings.eval_check], asked[: settings.eval_check], count)
    figures = [
        Figure("eval", f"{settings.eval_questions:,} closed questions, fast, batch {size} (projected)", minutes, "min", f"{_ms(fast_s)} per batch, {size / fast_s:.1f} questions/s; data loading not included", ("<=", 10.0)),
        Figure("eval", "plain generate / fast, batched", plain_s / fast_s, "×", f"plain {_ms(plain_s)} per batch"),
        Figure("eval", "batched == batch-1 answers, fast", same["fast"], "fraction", f"{settings.eval_check} rows, greedy, EOS on", (">=", 1.0)),
        Figure("eval", "batched == batch-1 answers, plain", same["plain"], "fraction", f"{settings.eval_check} rows, greedy, EOS on"),
        Figure("eval", "fast == plain answers, batched", same["fast_vs_plain"], "fraction", "same inputs, greedy"),
    ]
    details = {"batch": size, "answer_tokens": count, "fast_batch_s": fast_s, "plain_batch_s": plain_s, "projected_minutes": minutes, **same}
    return figures, details


def _batched_equals_single(engines: Engines, batch: torch.Tensor, asked: list[str], count: int) -> dict[str, float]:
    """Fraction of rows whose batched answer equals the answer for that row alone (per engine)."""
    decode = engines.model.tokenizer.batch_decode

    def answers(engine: str, rows: slice) -> list[str]:
        embeds, mask = engines.prompt(batch[rows], asked[rows])
        tokens = engines.fast_stopping(embeds, mask, count) if engine == "fast" else engines.plain(embeds, mask, count, stop=True)
        return [text.strip() for text in decode(tokens, skip_special_tokens=True)]

    rows = len(asked)
    result = {}
    batched = {engine: answers(engine, slice(0, rows)) for engine in ("fast", "plain")}
    for engine in ("fast", "plain"):
        single = [answers(engine, slice(i, i + 1))[0] for i in range(rows)]
        result[engine] = sum(a == b for a, b in zip(batched[engine], single)) / rows
    result["fast_vs_plain"] = sum(a == b for a, b in zip(batched["fast"], batched["plain"])) / rows
    return result
