"""k-bit loading of the language model with bitsandbytes (QLoRA: Dettmers et al., NeurIPS 2023).

`LanguageModel(quantization="4bit")` loads the frozen base weights as 4-bit NormalFloat (NF4) with
double quantisation of the scales and computes in the model's `dtype`; `"8bit"` loads LLM.int8()
weights. Stage 2's LoRA adapters stay in fp32 on top (QLoRA). For LLaMA-2-7B this brings the base
from 13.5 GB (bf16) to about 4.4 GB (4-bit: 3.3 GB of block linears plus embeddings, LM head and norms
upcast to fp32 for training) or 7.5 GB (8-bit), so stage 2 fits a 24 GB GPU (`slicevlm memory`).

bitsandbytes is in the `gpu` extra. Its quantised matmuls are meant for CUDA: a machine without a
CUDA GPU gets a `ConfigError` saying so (set `quantization: null` for CPU runs and inference).
"""

from __future__ import annotations

import os
from typing import Literal

import torch
from torch import nn

from slicevlm.errors import ConfigError, require

Quantization = Literal["8bit", "4bit"]
QUANTIZATIONS: tuple[str, ...] = ("8bit", "4bit")


def bits_and_bytes_config(quantization: str, compute_dtype: torch.dtype):
    """The `transformers.BitsAndBytesConfig` for `"4bit"` (NF4, double quantisation) or `"8bit"` (LLM.int8())."""
    from transformers import BitsAndBytesConfig

    if quantization == "4bit":
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute_dtype,
        )
    if quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    raise ConfigError(f"model.language.init_args.quantization={quantization!r} is not one of null, {list(QUANTIZATIONS)}.")


def check_kbit_loading(quantization: str, pretrained: bool, cuda_available: bool | None = None) -> None:
    """Raise a `SliceVLMError` saying what is missing when `quantization` cannot be used here.

    Args:
        quantization: "8bit" or "4bit".
        pretrained: k-bit loading quantises pretrained weights; a random-weight build has none.
        cuda_available: whether a CUDA GPU is present (None: ask torch).
    """
    bits_and_bytes_config(quantization, torch.bfloat16)  # validates the name
    if not pretrained:
        raise ConfigError(
            f"quantization={quantization!r} quantises pretrained weights; with pretrained: false set quantization: null."
        )
    if not (torch.cuda.is_available() if cuda_available is None else cuda_available):
        raise ConfigError(
            f"quantization={quantization!r} (bitsandbytes k-bit loading) needs a CUDA GPU, and this machine has none. "
            "Set model.language.init_args.quantization: null to load the LLM in its dtype on the CPU."
        )
    require("bitsandbytes", f"quantization={quantization!r}")


def kbit_device_map() -> dict[str, int]:
    """Every module on this process's GPU (`LOCAL_RANK`, as Lightning and torchrun set it)."""
    return {"": int(os.environ.get("LOCAL_RANK", "0"))}


def prepare_for_kbit_training(model: nn.Module, gradient_checkpointing: bool) -> nn.Module:
    """peft's `prepare_model_for_kbit_training`: norms in fp32, inputs that carry gradients, all weights frozen."""
    from peft import prepare_model_for_kbit_training

    return prepare_model_for_kbit_training(
        model,
        use_gradient_checkpointing=gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False},
    )
