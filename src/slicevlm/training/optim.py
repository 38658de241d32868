"""AdamW with linear warm-up then cosine decay (paper, "Implementation details")."""

from __future__ import annotations

import math

import torch


def warmup_cosine(step: int, total_steps: int, warmup_steps: int, min_ratio: float = 0.0) -> float:
    """Learning-rate multiplier: linear 0→1 over `warmup_steps`, then cosine 1→`min_ratio` at `total_steps`."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def parameter_groups(model: torch.nn.Module) -> dict[str, list[torch.nn.Parameter]]:
    """The trainable parameters of a SliceVLM by name: `vision` (fusion, injection, projector) and `lora`.

    Every trainable parameter under the language model (`language.`) is LoRA's, since its base is frozen.
    Empty groups are left out (stage 1 has no `lora`).
    """
    groups: dict[str, list[torch.nn.Parameter]] = {"vision": [], "lora": []}
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            groups["lora" if name.startswith("language.") else "vision"].append(parameter)
    return {name: params for name, params in groups.items() if params}


def build_optimizer(
    parameters: list[torch.nn.Parameter] | dict[str, list[torch.nn.Parameter]],
    learning_rate: float,
    weight_decay: float,
    betas: tuple[float, float],
    fused: bool,
    group_learning_rates: dict[str, float] | None = None,
) -> torch.optim.Optimizer:
    """AdamW over the trainable parameters; biases and norms get no weight decay.

    Args:
        parameters: the trainable parameters, or named groups of them (see :func:`parameter_groups`).
            Each group keeps its name as the param group's `name`, which LearningRateMonitor logs as
            `lr-AdamW/<name>`. With weight decay, a group's biases and norms go to `<name>/no_decay`.
        learning_rate: the peak learning rate.
        weight_decay: AdamW weight decay on matrices.
        betas: AdamW betas.
        fused: use the fused CUDA kernel when a GPU is present.
        group_learning_rates: a peak learning rate per named group that differs from `learning_rate`
            (e.g. {"vision": 1e-4}); the schedule scales each group's own peak.
    """
    named = parameters if isinstance(parameters, dict) else {"trainable": list(parameters)}
    rates = group_learning_rates or {}
    unknown = sorted(set(rates) - set(named))
    if unknown:
        raise ValueError(f"group_learning_rates names {unknown}, which are not parameter groups here ({sorted(named)})")
    groups: list[dict] = []
    for name, params in named.items():
        lr = rates.get(name, learning_rate)
        if weight_decay == 0:
            groups.append({"name": name, "params": params, "weight_decay": 0.0, "lr": lr})
            continue
        groups.append({"name": name, "params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay, "lr": lr})
        groups.append({"name": f"{name}/no_decay", "params": [p for p in params if p.ndim < 2], "weight_decay": 0.0, "lr": lr})
    groups = [group for group in groups if group["params"]]
    kwargs = {"fused": True} if fused and torch.cuda.is_available() else {}
    return torch.optim.AdamW(groups, lr=learning_rate, betas=betas, **kwargs)
