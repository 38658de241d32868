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


def build_optimizer(
    parameters: list[torch.nn.Parameter],
    learning_rate: float,
    weight_decay: float,
    betas: tuple[float, float],
    fused: bool,
) -> torch.optim.Optimizer:
    """AdamW over the trainable parameters; biases and norms get no weight decay."""
    decay = [p for p in parameters if p.ndim >= 2]
    no_decay = [p for p in parameters if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    kwargs = {"fused": True} if fused and torch.cuda.is_available() else {}
    return torch.optim.AdamW(groups, lr=learning_rate, betas=betas, **kwargs)
