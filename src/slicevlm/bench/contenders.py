"""The three models of the paper's Table 6, read from their shipped stage-2 configs, around one LLM.

    SliceVLM    configs/stage2.yaml                 tiny twin: demo.yaml + demo_stage2.yaml
    M3D-LaMed   configs/baselines/m3d_lamed.yaml    tiny twin: baselines/m3d_lamed_tiny.yaml
    Med3DVLM    configs/baselines/med3dvlm.yaml     tiny twin: baselines/med3dvlm_tiny.yaml

Each config's `model.vision`, `model.language`, `model.lora` and `data.volume_size` are used as they
ship. The configs must name one language model: it is built once, and every model gets its own LoRA
adapter on it (a peft adapter named by the model's key, with that config's settings). Only that
adapter is active and trained while the model runs.

Full size: random weights of the shipped architecture configs (BiomedCLIP's ViT-B/16 with
`pretrained: false`, LLaMA-2-7B), nothing downloaded; the LLM's tokenizer is a stand-in byte-level
BPE over its 32,000 ids (`<image>` adds one row, as with the real tokenizer). Tiny: the demo's tiny
encoder and LLM, which the tiny configs name as `runs/tiny/...` and which are read from `tiny_dir`.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from slicevlm.bench.flops import VisionFlops, count_vision_flops
from slicevlm.config_record import build
from slicevlm.errors import ConfigError
from slicevlm.llm.lora import LoraSettings, add_named_adapter
from slicevlm.metrics.paper_tables import OURS
from slicevlm.shipped_configs import config_path

#: How the tiny configs write the folder `slicevlm make-tiny-models runs/tiny` fills.
TINY_FOLDER = "runs/tiny"


@dataclass(frozen=True)
class Contender:
    """One row of Table 6.

    Attributes:
        name: the row's name in our tables.
        key: a short identifier (LoRA adapter name, JSON key).
        paper_row: the row's name in the paper's Table 6.
        configs: size ("full", "tiny") -> shipped config names, overlays after the first.
    """

    name: str
    key: str
    paper_row: str
    configs: dict[str, tuple[str, ...]] = field(hash=False)


CONTENDERS: tuple[Contender, ...] = (
    Contender("SliceVLM", "slicevlm", OURS, {"full": ("stage2.yaml",), "tiny": ("demo.yaml", "demo_stage2.yaml")}),
    Contender("M3D-LaMed", "m3d_lamed", "M3D-LaMed", {"full": ("baselines/m3d_lamed.yaml",), "tiny": ("baselines/m3d_lamed_tiny.yaml",)}),
    Contender("Med3DVLM", "med3dvlm", "Med3DVLM", {"full": ("baselines/med3dvlm.yaml",), "tiny": ("baselines/med3dvlm_tiny.yaml",)}),
)


@dataclass
class ModelSpec:
    """What a contender's configs say, ready to build.

    Attributes:
        contender: the row.
        configs: the config files read, in order.
        vision: `model.vision` (class_path / init_args), set for this size's weights.
        language: `model.language`, set for this size's weights and tokenizer.
        lora: `model.lora` (the class defaults where the config has none).
        volume_size: `data.volume_size`, the (D, H, W) the model reads.
    """

    contender: Contender
    configs: tuple[str, ...]
    vision: dict[str, Any]
    language: dict[str, Any]
    lora: LoraSettings
    volume_size: tuple[int, int, int]

    def build_tower(self) -> nn.Module:
        """A fresh vision tower (on the current default device)."""
        return build(copy.deepcopy(self.vision))

    def without_weights(self) -> ModelSpec:
        """The same architectures with random weights: no checkpoint is read (meta-device builds)."""
        vision, language = copy.deepcopy(self.vision), copy.deepcopy(self.language)
        encoder = vision.get("init_args", {}).get("encoder")
        if isinstance(encoder, dict):
            encoder.setdefault("init_args", {})["pretrained"] = False
        language.setdefault("init_args", {})["pretrained"] = False
        return dataclasses.replace(self, vision=vision, language=language)


def _in_tiny_dir(value: Any, tiny_dir: Path) -> Any:
    """Every `runs/tiny/...` path in a config (also behind `local-dir:`) moved into `tiny_dir`."""
    if isinstance(value, dict):
        return {key: _in_tiny_dir(item, tiny_dir) for key, item in value.items()}
    if isinstance(value, list):
        return [_in_tiny_dir(item, tiny_dir) for item in value]
    if isinstance(value, str):
        scheme = "local-dir:" if value.startswith("local-dir:") else ""
        path = value[len(scheme):]
        if path == TINY_FOLDER or path.startswith(TINY_FOLDER + "/"):
            return f"{scheme}{tiny_dir}{path[len(TINY_FOLDER):]}"
    return value


def read_spec(contender: Contender, size: str, tiny_dir: Path, tokenizer_dir: Path | None) -> ModelSpec:
    """The contender's configs for `size`, set to build offline.

    Args:
        contender: the row.
        size: "full" (random weights of the real architectures) or "tiny" (the demo's tiny models).
        tiny_dir: the tiny models' folder (replaces `runs/tiny` in the tiny configs).
        tokenizer_dir: full size: the tokenizer folder to use instead of the hub's.
    """
    from slicevlm.cli import merged_config

    names = contender.configs[size]
    config = merged_config([config_path(name) for name in names])
    model = _in_tiny_dir(config["model"], tiny_dir)
    volume_size = tuple(int(s) for s in config["data"]["volume_size"])
    spec = ModelSpec(contender, names, model["vision"], model["language"], LoraSettings(**model.get("lora", {})), volume_size)  # type: ignore[arg-type]
    if size == "tiny":
        return spec
    spec = spec.without_weights()
    spec.language["init_args"]["tokenizer_name"] = str(tokenizer_dir)
    return spec


def shared_language(specs: list[ModelSpec], **overrides: Any):
    """The one LanguageModel of all `specs`, built from the first's config (with `overrides`), no adapters yet.

    Raises:
        ConfigError: the configs name different language models.
    """
    names = {spec.contender.name: spec.language["init_args"]["model_name"] for spec in specs}
    if len(set(names.values())) != 1:
        raise ConfigError(
            f"Table 6 compares the models with one LLM, but their configs name {names}; "
            "set model.language.init_args.model_name to the same model in each."
        )
    config = copy.deepcopy(specs[0].language)
    config["init_args"].update(overrides)
    return build(config)


def attach_adapters(language, specs: list[ModelSpec]) -> None:
    """One LoRA adapter per model on the shared LLM, named by its key, with its config's settings."""
    for spec in specs:
        language.model = add_named_adapter(language.model, spec.contender.key, spec.lora)


def adapter_parameters(language, key: str) -> list[nn.Parameter]:
    """The parameters of the LoRA adapter `key` on `language`."""
    return [p for name, p in language.model.named_parameters() if "lora_" in name and f".{key}." in name]


def use_adapter(language, key: str) -> None:
    """Make the adapter `key` the active (and the only trainable) one."""
    language.model.set_adapter(key)


@dataclass
class Census:
    """Parameters, visual tokens and FLOPs of one contender at one size (counted, not measured).

    Attributes:
        name: the row.
        size: "full" or "tiny".
        configs: the config files read.
        volume_size: (D, H, W) of its input.
        visual_tokens: M', from the shape of the projector's output.
        parameters: trainable, total, and the parts (vision, vision_trainable, llm, lora).
        flops: vision-side FLOPs per volume.
    """

    name: str
    size: str
    configs: tuple[str, ...]
    volume_size: tuple[int, int, int]
    visual_tokens: int
    parameters: dict[str, int]
    flops: VisionFlops


def count_parameters(tower: nn.Module, projector: nn.Module, language, key: str) -> dict[str, int]:
    """Stage-2 parameter counts of one model: its tower and projector, the LLM and its own adapter."""
    vision = [*tower.parameters(), *projector.parameters()]
    llm = sum(p.numel() for name, p in language.model.named_parameters() if "lora_" not in name)
    lora = sum(p.numel() for p in adapter_parameters(language, key))
    vision_trainable = sum(p.numel() for p in vision if p.requires_grad)
    vision_total = sum(p.numel() for p in vision)
    return {
        "trainable": vision_trainable + lora,
        "total": vision_total + llm + lora,
        "vision_trainable": vision_trainable,
        "vision": vision_total,
        "llm": llm,
        "lora": lora,
    }


def census(specs: list[ModelSpec], size: str) -> list[Census]:
    """Count every contender on the meta device (no weights, no arithmetic: seconds even at full size)."""
    specs = [spec.without_weights() for spec in specs]
    with torch.device("meta"):
        language = shared_language(specs, gradient_checkpointing=False)
        attach_adapters(language, specs)
        towers = [spec.build_tower() for spec in specs]
        projectors = [tower.build_projector(language.hidden_size) for tower in towers]
    rows = []
    for spec, tower, projector in zip(specs, towers, projectors):
        parameters = count_parameters(tower, projector, language, spec.contender.key)
        flops = count_vision_flops(tower, projector, spec.volume_size)
        rows.append(Census(spec.contender.name, size, spec.configs, spec.volume_size, flops.visual_tokens, parameters, flops))
    return rows
