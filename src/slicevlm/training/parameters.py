"""Trainable vs frozen parameter counts per component, printed at fit start."""

from __future__ import annotations

from torch import nn


def _count(parameters, trainable: bool) -> int:
    return sum(p.numel() for p in parameters if p.requires_grad == trainable)


def parameter_table(model: nn.Module) -> list[tuple[str, int, int]]:
    """(component, trainable, frozen) rows for a `SliceVLM`: the tower's parts (the paper's: encoder, fusion,
    injection), projector, llm, lora."""
    language = model.language.model
    lora = [p for name, p in language.named_parameters() if "lora_" in name]
    lora_ids = {id(p) for p in lora}
    llm = [p for p in language.parameters() if id(p) not in lora_ids]
    parts = {
        **{name: list(module.parameters()) for name, module in model.vision.frozen_modules().items()},
        **{name: list(module.parameters()) for name, module in model.vision.trainable_modules().items()},
        "projector": list(model.projector.parameters()),
        "llm": llm,
        "lora": lora,
    }
    return [(name, _count(params, True), _count(params, False)) for name, params in parts.items()]


def format_parameter_table(rows: list[tuple[str, int, int]]) -> str:
    """A fixed-width text table with a total row."""
    lines = [f"{'component':<10} {'trainable':>14} {'frozen':>16}"]
    lines += [f"{name:<10} {trainable:>14,} {frozen:>16,}" for name, trainable, frozen in rows]
    total_trainable = sum(row[1] for row in rows)
    total_frozen = sum(row[2] for row in rows)
    lines.append(f"{'total':<10} {total_trainable:>14,} {total_frozen:>16,}")
    return "\n".join(lines)
