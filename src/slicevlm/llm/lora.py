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


def lora_config(settings: LoraSettings):
    """peft's `LoraConfig` for a causal LM with `settings`."""
    from peft import LoraConfig

    return LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=settings.target_modules,
        task_type="CAUSAL_LM",
    )


def add_lora(model: nn.Module, settings: LoraSettings) -> nn.Module:
    """Wrap a causal LM with fresh LoRA adapters; only the adapters are trainable afterwards."""
    from peft import get_peft_model

    return get_peft_model(model, lora_config(settings))


def add_named_adapter(model: nn.Module, name: str, settings: LoraSettings) -> nn.Module:
    """Add a fresh LoRA adapter called `name` (wrapping `model` first if it has none yet); returns the peft model.

    Several adapters can sit on one frozen LLM; `model.set_adapter(name)` makes one active and trainable.
    Their parameters are named `...lora_A.<name>.weight`.
    """
    from peft import PeftModel, get_peft_model

    if isinstance(model, PeftModel):
        model.add_adapter(name, lora_config(settings))
        return model
    return get_peft_model(model, lora_config(settings), adapter_name=name)


def load_lora(model: nn.Module, adapter_dir: str, trainable: bool = False) -> nn.Module:
    """Attach adapters saved by peft (`adapter_config.json` + `adapter_model.safetensors`)."""
    from peft import PeftModel

    return PeftModel.from_pretrained(model, adapter_dir, is_trainable=trainable)
