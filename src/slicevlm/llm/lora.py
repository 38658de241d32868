"""LoRA on the language model via peft (paper, "Implementation details"; docs/method.md#training)."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn


@dataclass
class LoraSettings:
    """LoRA hyperparameters for stage 2.

    Attributes:
        rank: r, the rank of each low-rank update (paper: 16).
        alpha: α; updates are scaled by α / r (paper: 32).
        dropout: dropout on the LoRA input (paper: 0.1).
        target_modules: which linear layers get adapters. "all-linear" = every linear layer of the
            transformer blocks (q, k, v, o, gate, up, down for LLaMA), never the LM head.
    """

    rank: int = 16
    alpha: int = 32
    dropout: float = 0.1
    target_modules: list[str] | str = field(default="all-linear")


def add_lora(model: nn.Module, settings: LoraSettings) -> nn.Module:
    """Wrap a causal LM with fresh LoRA adapters; only the adapters are trainable afterwards."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=settings.target_modules,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def load_lora(model: nn.Module, adapter_dir: str, trainable: bool = False) -> nn.Module:
    """Attach adapters saved by peft (`adapter_config.json` + `adapter_model.safetensors`)."""
    from peft import PeftModel

    return PeftModel.from_pretrained(model, adapter_dir, is_trainable=trainable)
