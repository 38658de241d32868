"""The self-describing checkpoint folder, and loading it back without the Trainer.

    checkpoint/
      model.yaml             how to rebuild the model (class_path / init_args, the LightningCLI form);
                             `vision.class_path` names the vision tower
      vision.safetensors     the vision tower's stored modules and the projector: fusion.*, injection.*,
                             projector.* for the paper's pipeline (a baseline's 3D tower: encoder.*, ...)
      adapter/               LoRA in peft's own format (adapter_config.json, adapter_model.safetensors)
      tokenizer/             tokenizer files, `<image>` included
      slicevlm.json          format version, stage, input size, visual token count, the vision tower
                             (class, input size, width, tokens, intensity range), package version,
                             the training preprocessing recipe, whether the model is a toy and
                             whether it is small (`slicevlm.toy`)
      config.yaml            the full resolved training config (when trained through the CLI)
      encoder/, llm/         small local models (the tiny stand-ins), copied so the folder travels

Large frozen weights (BiomedCLIP, LLaMA-2-7B) are not copied: `model.yaml` names them by hub name or
absolute path. Small local models travel inside the folder and are named relative to it, so a folder
loads from any working directory and after being moved or copied (see `slicevlm.checkpoint_sources`).
Wherever a folder is read, the Hub repo it was uploaded to (`slicevlm upload`) works too, written
`hf://org/name` (any other name is a local folder).

Every `class_path` in `model.yaml` must be one of SliceVLM's model classes (see
`slicevlm.trusted_classes`); a folder naming anything else is refused before it is imported, unless
it is loaded with `trust_checkpoint=True` (`--trust-checkpoint`). The weights are safetensors files.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import torch
import yaml

from slicevlm import __version__
from slicevlm.checkpoint_sources import bundle_model_sources, resolve_checkpoint, resolve_model_sources
from slicevlm.config_record import build, describe
from slicevlm.io.recipe import PreprocessingRecipe
from slicevlm.errors import ConfigError, MissingFileError
from slicevlm.model import SliceVLM
from slicevlm.toy import toy_record
from slicevlm.trusted_classes import check_model_classes, trusted_by_environment

#: 2: the toy/small flags and the preprocessing recipe are always recorded, and the encoder is named by
#: its own class (format 1 folders from before these could still lack them; they are no longer read).
FORMAT_VERSION = 2
VISION_WEIGHTS = "vision.safetensors"
REQUIRED_FILES = ("model.yaml", VISION_WEIGHTS, "slicevlm.json", "tokenizer")


def save_checkpoint_folder(
    model: SliceVLM,
    folder: str | Path,
    stage: int,
    input_size: tuple[int, int, int],
    training_config: str | Path | None = None,
    preprocessing: PreprocessingRecipe | None = None,
    bundle_models: bool | None = None,
) -> Path:
    """Write `model` as a checkpoint folder (see the module docstring); returns the folder.

    Args:
        model: the trained model.
        folder: where to write; created, and files inside replaced.
        stage: 1 or 2, recorded for the reader.
        input_size: the (D, H, W) volumes were brought to in training; inference resamples to it.
        training_config: the resolved training config file to copy beside the weights, if any.
        preprocessing: the recipe the training data went through; inference uses it as its default.
        bundle_models: copy local encoder/LLM folders into the checkpoint folder: None when at most
            50 MB each, True always, False never (they are then named by absolute path).
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model_config = {"vision": describe(model.vision), "language": describe(model.language)}
    model_config = bundle_model_sources(model_config, folder, bundle_models)
    (folder / "model.yaml").write_text(yaml.safe_dump(model_config, sort_keys=False), encoding="utf-8")
    weights = {
        f"{name}.{key}": tensor.detach().to("cpu").contiguous()
        for name, module in model.trainable_vision_modules().items()
        for key, tensor in module.state_dict().items()
    }
    save_file(weights, str(folder / VISION_WEIGHTS))
    adapter = folder / "adapter"
    if adapter.exists():
        shutil.rmtree(adapter)
    if model.language.has_lora:
        model.language.save_lora(str(adapter))
    model.tokenizer.save_pretrained(str(folder / "tokenizer"))
    metadata = {
        "format": FORMAT_VERSION,
        "slicevlm_version": __version__,
        "stage": stage,
        "input_size": list(input_size),
        "visual_tokens": model.vision.token_count(input_size[0]),
        "vision_tower": model.vision.record(input_size[0]),
        "has_adapter": model.language.has_lora,
        **toy_record(model),
    }
    if preprocessing is not None:
        metadata["preprocessing"] = preprocessing.to_dict()
    (folder / "slicevlm.json").write_text(json.dumps(metadata, indent=2), encoding="utf-8")
    if training_config is not None and Path(training_config).is_file():
        shutil.copyfile(training_config, folder / "config.yaml")
    return folder


def read_metadata(folder: str | Path) -> dict[str, Any]:
    """`slicevlm.json` of a checkpoint folder (or `hf://org/name`), after checking the folder is complete."""
    folder = resolve_checkpoint(folder)
    missing = [name for name in REQUIRED_FILES if not (folder / name).exists()]
    if missing:
        raise MissingFileError(
            f"{folder} is not a SliceVLM checkpoint folder: missing {missing}. "
            "Point at the folder a training run wrote (e.g. runs/demo/checkpoint)."
        )
    metadata = json.loads((folder / "slicevlm.json").read_text(encoding="utf-8"))
    if metadata.get("format") != FORMAT_VERSION:
        raise ValueError(
            f"{folder}/slicevlm.json has format {metadata.get('format')}; this version of SliceVLM reads format "
            f"{FORMAT_VERSION} only. Train the model again with this version (e.g. `make demo` for the demo's "
            "checkpoint), or load the folder with the SliceVLM version that wrote it."
        )
    return metadata


def load_vision_weights(model: SliceVLM, path: str | Path) -> None:
    """Load fusion / injection / projector weights from a `vision.safetensors` file."""
    from safetensors.torch import load_file

    state = load_file(str(path))
    for name, module in model.trainable_vision_modules().items():
        part = {k.removeprefix(f"{name}."): v for k, v in state.items() if k.startswith(f"{name}.")}
        try:
            module.load_state_dict(part, strict=True)
        except RuntimeError as error:
            raise ValueError(f"{path}: the {name} weights do not fit this model's {name} module ({error})") from error


def stored_vision_parameters(folder: str | Path) -> int:
    """Parameters in the folder's `vision.safetensors` (the tower's trained modules and the projector),
    counted from the file's header without loading the tensors."""
    from safetensors import safe_open

    with safe_open(str(Path(folder) / VISION_WEIGHTS), framework="pt") as weights:
        total = 0
        for key in weights.keys():
            size = 1
            for dimension in weights.get_slice(key).get_shape():
                size *= dimension
            total += size
    return total


def adapter_settings(folder: str | Path) -> dict[str, Any] | None:
    """The LoRA a folder's `adapter/` was trained with (rank, alpha, dropout, target_modules); None without one."""
    config = Path(folder) / "adapter" / "adapter_config.json"
    if not config.is_file():
        return None
    peft = json.loads(config.read_text(encoding="utf-8"))
    return {"rank": peft.get("r"), "alpha": peft.get("lora_alpha"), "dropout": peft.get("lora_dropout"),
            "target_modules": peft.get("target_modules")}


#: The dtypes a checkpoint's encoder and LLM can be loaded in (`override_model_config`).
DTYPES: tuple[str, ...] = ("float32", "bfloat16", "float16")


def read_model_config(
    folder: str | Path,
    overrides: dict[str, Any] | None = None,
    dtype: str | None = None,
    resolve_sources: bool = True,
    trust_checkpoint: bool = False,
) -> dict[str, Any]:
    """`model.yaml` ready to `build`: the folder's tokenizer, overrides applied, local model names made absolute.

    The one reader of `model.yaml`; every change to its content goes through `override_model_config`.
    Every `class_path` in it is checked against :mod:`slicevlm.trusted_classes` (nothing is imported).

    Args:
        folder: a checkpoint folder (`hf://org/name` is resolved first).
        overrides: init-arg overrides by component, e.g. {"language": {"dtype": "float32"}}.
        dtype: load the encoder and the LLM in this dtype (see `override_model_config`); None keeps
            the checkpoint's.
        resolve_sources: make local model names absolute against the folder (False: as written,
            e.g. to check whether they travel).
        trust_checkpoint: accept any `class_path` (the user trusts where the folder came from).

    Raises:
        UntrustedCheckpointError: a `class_path` is not one of SliceVLM's model classes and the
            folder is not trusted.
    """
    folder = resolve_checkpoint(folder)
    source = folder / "model.yaml"
    try:
        config = yaml.safe_load(source.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: not readable as YAML ({error}).") from error
    if not isinstance(config, dict) or not all(isinstance(config.get(part), dict) for part in ("vision", "language")):
        raise ConfigError(f"{source}: expected `vision` and `language` sections (class_path / init_args).")
    check_model_classes(config, str(source), trust_checkpoint or trusted_by_environment(folder))
    config["language"].setdefault("init_args", {})["tokenizer_name"] = str(folder / "tokenizer")
    config = override_model_config(config, overrides, dtype)
    return resolve_model_sources(config, folder) if resolve_sources else config


def override_model_config(
    config: dict[str, Any], overrides: dict[str, Any] | None = None, dtype: str | None = None
) -> dict[str, Any]:
    """A copy of `model.yaml`'s content with init-arg overrides and/or another dtype.

    Args:
        config: `{"vision": ..., "language": ...}` as `read_model_config` reads it; not modified.
        overrides: init-arg overrides by component, e.g. {"language": {"dtype": "float32"}}.
        dtype: one of :data:`DTYPES` for the encoder and the LLM. A model trained on a k-bit base
            (`quantization: 4bit`, QLoRA) is loaded with its base in `dtype` (the full-precision
            weights it was quantised from), which is what the CPU can run.

    Raises:
        ConfigError: `dtype` is not one of :data:`DTYPES`.
    """
    config = copy.deepcopy(config)
    for component, values in (overrides or {}).items():
        config[component]["init_args"].update(values)
    if dtype is not None:
        if dtype not in DTYPES:
            raise ConfigError(f"dtype {dtype!r} is not supported; expected 'float32', 'bfloat16' or 'float16'.")
        config["language"]["init_args"].update(dtype=dtype, quantization=None)
        encoder = config["vision"].get("init_args", {}).get("encoder")
        if isinstance(encoder, dict):  # a pretrained slice encoder; the baselines' 3D towers are stored in full
            encoder["init_args"] = {**encoder.get("init_args", {}), "dtype": dtype}
    return config


def trained_weights_sha256(folder: str | Path) -> str:
    """SHA-256 over the folder's trained weights: `vision.safetensors` and the LoRA adapter's files.

    Retraining into the same folder changes it; copying or moving the folder does not.
    """
    folder = resolve_checkpoint(folder)
    digest = hashlib.sha256()
    adapter = folder / "adapter"
    files = [folder / VISION_WEIGHTS, *(sorted(p for p in adapter.rglob("*") if p.is_file()) if adapter.is_dir() else [])]
    for path in files:
        digest.update(path.relative_to(folder).as_posix().encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def load_checkpoint_folder(
    folder: str | Path,
    device: str | torch.device = "cpu",
    overrides: dict[str, Any] | None = None,
    merge_adapter: bool = False,
    dtype: str | None = None,
    trust_checkpoint: bool = False,
) -> tuple[SliceVLM, dict[str, Any]]:
    """Rebuild a trained model from its folder, without Lightning.

    Args:
        folder: a checkpoint folder, or `hf://org/name` of one on the Hugging Face Hub.
        device: where to put the model.
        overrides: init-arg overrides by component, e.g. {"language": {"dtype": "float32"}}.
        merge_adapter: fold LoRA into the base weights (faster serving, no peft in the loop).
        dtype: load the encoder and the LLM in this dtype (see `override_model_config`).
        trust_checkpoint: let `model.yaml` name any class (see :mod:`slicevlm.trusted_classes`);
            only for folders from people you trust.

    Returns:
        The model in eval mode, and the folder's metadata.

    Raises:
        UntrustedCheckpointError: `model.yaml` names a class that is not one of SliceVLM's model
            classes and `trust_checkpoint` is False.
    """
    folder = resolve_checkpoint(folder)
    metadata = read_metadata(folder)
    trust = trust_checkpoint or trusted_by_environment(folder)
    config = read_model_config(folder, overrides, dtype, trust_checkpoint=trust)
    model = SliceVLM(build(config["vision"], trust=trust), build(config["language"], trust=trust))
    load_vision_weights(model, folder / VISION_WEIGHTS)
    if (folder / "adapter").is_dir():
        model.language.load_lora(str(folder / "adapter"))
        if merge_adapter:
            model.language.merge_lora()
    return model.to(device).eval(), metadata
