"""Random weights of the paper's models, written once into local model folders.

The rehearsal must load its models the way a user's downloaded weights load: from a folder, through
``from_pretrained`` and open_clip's ``local-dir:``. So the shipped architecture files are built with
random weights and saved in the layout each library reads:

- ``<root>/biomedclip``: ``open_clip_config.json`` + ``open_clip_model.safetensors`` (the vision
  tower's ``visual.*`` weights of BiomedCLIP ViT-B/16, 86 M parameters);
- ``<root>/llama-2-7b``: ``config.json`` + sharded ``model-*.safetensors`` in bf16 (6.74 B
  parameters, 13.5 GB) + a stand-in byte-level tokenizer with LLaMA-2's 32,000 ids (the real
  tokenizer is not reachable offline; texts are split differently, sizes and shapes are not).

A folder is rebuilt only when its ``recipe.json`` is missing or records other settings.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from slicevlm.architectures import shipped_architecture
from slicevlm.build_marker import built_with, write_marker
from slicevlm.llm.language_model import LLAMA2_7B
from slicevlm.vision.encoders.open_clip_encoder import BIOMEDCLIP, build_vision_tower

#: Bump when what these folders hold changes, so that older folders are rebuilt.
RECIPE_VERSION = 1


def write_random_encoder(folder: Path, name: str = BIOMEDCLIP, seed: int = 0) -> Path:
    """BiomedCLIP's vision tower with random weights, as an open_clip ``local-dir`` folder."""
    from safetensors.torch import save_file

    config = shipped_architecture("encoders", name)
    if config is None:
        raise ValueError(f"no shipped architecture for the encoder {name!r}")
    torch.manual_seed(seed)
    visual = build_vision_tower(config)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "open_clip_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    state = {f"visual.{key}": value.contiguous() for key, value in visual.state_dict().items()}
    save_file(state, str(folder / "open_clip_model.safetensors"))
    return folder


def write_random_llm(folder: Path, name: str = LLAMA2_7B, seed: int = 0, dtype: torch.dtype = torch.bfloat16) -> Path:
    """LLaMA-2-7B from the shipped config with random ``dtype`` weights, saved with ``save_pretrained``.

    The model is built on the meta device and materialised tensor by tensor (normal, std =
    ``initializer_range``; norms at one), so the peak is one copy of the weights.
    """
    from transformers import AutoConfig, AutoModelForCausalLM

    from slicevlm.llm.byte_level import stand_in_tokenizer

    settings = shipped_architecture("llms", name)
    if settings is None:
        raise ValueError(f"no shipped architecture for the language model {name!r}")
    config = AutoConfig.for_model(settings.pop("model_type"), **settings)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model = model.to_empty(device="cpu")
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter_name, parameter in model.named_parameters():
            if parameter_name.endswith("norm.weight"):
                parameter.fill_(1.0)
            else:
                parameter.copy_(torch.randn(parameter.shape, generator=generator, dtype=torch.float32).mul_(config.initializer_range))
        for buffer_name, buffer in model.named_buffers():  # rotary inverse frequencies
            if "inv_freq" in buffer_name:
                base = getattr(config, "rope_theta", 10000.0)
                dim = buffer.shape[0] * 2
                buffer.copy_(1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim)))
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, max_shard_size="2GB", safe_serialization=True)
    stand_in_tokenizer(config.vocab_size).save_pretrained(folder)
    return folder


def write_random_weights(root: Path, log=print) -> dict[str, Path]:
    """Both folders under ``root``, each skipped when already complete with this recipe."""
    root = Path(root)
    folders = {"encoder": root / "biomedclip", "llm": root / "llama-2-7b"}
    recipe = {"version": RECIPE_VERSION, "seed": 0}
    if not built_with(folders["encoder"] / "recipe.json", {**recipe, "name": BIOMEDCLIP}, folders["encoder"] / "open_clip_model.safetensors"):
        start = time.perf_counter()
        write_random_encoder(folders["encoder"])
        write_marker(folders["encoder"] / "recipe.json", {**recipe, "name": BIOMEDCLIP})
        log(f"wrote random BiomedCLIP ViT-B/16 weights to {folders['encoder']} in {time.perf_counter() - start:.0f} s")
    if not built_with(folders["llm"] / "recipe.json", {**recipe, "name": LLAMA2_7B}, folders["llm"] / "config.json"):
        start = time.perf_counter()
        write_random_llm(folders["llm"])
        write_marker(folders["llm"] / "recipe.json", {**recipe, "name": LLAMA2_7B})
        log(f"wrote random LLaMA-2-7B weights (bf16) to {folders['llm']} in {time.perf_counter() - start:.0f} s")
    return folders
