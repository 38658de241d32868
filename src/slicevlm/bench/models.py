"""What the benchmarks run on: the real SliceVLM classes at tiny or full size, random weights, synthetic inputs.

* `tiny`: the tiny open_clip encoder and tiny LLaMA written by `slicevlm make-tiny-models` (CPU twin).
* `full`: BiomedCLIP's ViT-B/16 and LLaMA-2-7B architectures with random weights in bf16, on a CUDA
  GPU or on the CPU (≈ 14 GB of host memory; bf16 units such as AVX-512 BF16 or AMX make it usable) — the
  speed of the real model does not depend on the weights' values. The tiny tokenizer stands in for
  LLaMA's (nothing is downloaded); prompt lengths are reported with every figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from slicevlm.model import SliceVLM

SIZES = ("tiny", "full")
#: Closed-ended M3D-VQA style questions (M3D's prompt: question + " Choices: A. … D. …"), different lengths.
CLOSED_QUESTIONS = (
    "Which organ shows the abnormality in this image? Choices: A. liver B. spleen C. kidney D. pancreas",
    "What plane is this image? Choices: A. axial B. coronal C. sagittal D. oblique",
    "In which phase was this scan acquired? Choices: A. non-contrast B. arterial C. portal venous D. delayed",
    "Where is the lesion located? Choices: A. left upper lobe of the lung B. right kidney C. the gallbladder D. the bladder",
)


@dataclass
class BenchModel:
    """A SliceVLM to time, and how it was built."""

    model: SliceVLM
    device: torch.device
    size: str
    volume_size: tuple[int, int, int]
    tokenizer_dir: Path

    @property
    def causal_lm(self) -> torch.nn.Module:
        return self.model.language.model


def weight_dtype(size: str, device: torch.device) -> str:
    """The frozen weights' dtype: bf16 at full size (GPU or CPU) and for the tiny models on a GPU; fp32 for tiny on the CPU."""
    return "bfloat16" if size == "full" or device.type == "cuda" else "float32"


def mixed_precision(size: str, device: torch.device) -> torch.autocast:
    """bf16 autocast wherever the weights are bf16 (as ``precision: bf16-mixed`` trains); off for the tiny CPU twin."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=weight_dtype(size, device) == "bfloat16")


def build(size: str, device: torch.device, workdir: Path, volume_size: tuple[int, int, int], seed: int = 0) -> BenchModel:
    """Build the model for `size` on `device` (eval mode; the frozen parts in the LLM's dtype)."""
    from slicevlm.llm.language_model import LLAMA2_7B, LanguageModel
    from slicevlm.tiny import write_tiny_models
    from slicevlm.vision import BIOMEDCLIP, SliceEncoder
    from slicevlm.vision.pipeline import VisionPipeline

    if size not in SIZES:
        raise ValueError(f"--size must be one of {SIZES}, got {size!r}")
    tiny = write_tiny_models(workdir / "tiny-models", pretrain_steps=150)  # speed only: a short warm-up is enough
    # The padding comparison pads text to 512 tokens, as the peers' loaders do, so the visual tokens
    # do not count towards the context here.
    dtype = weight_dtype(size, device)
    torch.manual_seed(seed)
    with torch.device(device):  # random 7B weights are initialised on the GPU, not in host memory
        if size == "tiny":
            encoder = SliceEncoder(f"local-dir:{tiny['encoder']}", dtype=dtype)
            language = LanguageModel(str(tiny["llm"]), dtype=dtype, count_visual_tokens=False)
        else:
            encoder = SliceEncoder(BIOMEDCLIP, pretrained=False, dtype=dtype)
            language = LanguageModel(LLAMA2_7B, pretrained=False, tokenizer_name=str(tiny["llm"]), dtype=dtype, count_visual_tokens=False)
        model = SliceVLM(VisionPipeline(encoder), language)
    return BenchModel(model.to(device).eval(), device, size, volume_size, tiny["llm"])


def volumes(batch: int, volume_size: tuple[int, int, int], device: torch.device, seed: int = 0) -> torch.Tensor:
    """Random volumes in [0, 1], (B, D, H, W)."""
    generator = torch.Generator(device=device).manual_seed(seed)
    return torch.rand(batch, *volume_size, device=device, generator=generator)


def questions(count: int) -> list[str]:
    """`count` closed-ended questions cycling through `CLOSED_QUESTIONS`."""
    return [CLOSED_QUESTIONS[i % len(CLOSED_QUESTIONS)] for i in range(count)]


def llm_weight_bytes(causal_lm: torch.nn.Module) -> int:
    """Bytes a decode step must read: every LLM weight except the input embedding (one row of it is read)."""
    total = sum(p.numel() * p.element_size() for p in causal_lm.parameters())
    embedding = causal_lm.get_input_embeddings().weight
    output = causal_lm.get_output_embeddings()
    tied = output is not None and output.weight is embedding
    return total - (0 if tied else embedding.numel() * embedding.element_size())
