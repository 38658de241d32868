"""`slicevlm export-zero`: a DeepSpeed ZeRO-2/3 checkpoint folder -> a plain inference checkpoint folder.

The weights come from :func:`slicevlm.training.zero.read_zero_checkpoint` (with its checks on what the
pickles hold); the model they belong to is rebuilt from the run's resolved training config (stored in
the checkpoint, or ``--config``), whose ``model`` may only name SliceVLM's model classes unless
``--trust-checkpoint`` is given. On any machine, without GPUs:

    slicevlm export-zero runs/stage2/checkpoints/last.ckpt runs/stage2/checkpoint_from_zero
"""

from __future__ import annotations

import inspect
import shutil
from pathlib import Path
from typing import Any

import yaml

from slicevlm.command_line import run_command
from slicevlm.config_record import build
from slicevlm.errors import report
from slicevlm.llm.lora import LoraSettings
from slicevlm.training.module import SliceVLMModule
from slicevlm.training.zero import CONFIG_KEY, read_zero_checkpoint
from slicevlm.trusted_classes import check_model_classes


def _training_config(client_state: dict[str, Any], config_path: str | Path | None) -> tuple[dict[str, Any], str]:
    if config_path is not None:
        text = Path(config_path).read_text(encoding="utf-8")
    elif client_state.get(CONFIG_KEY):
        text = client_state[CONFIG_KEY]
    else:
        raise ValueError(
            "This checkpoint does not carry its training config (it was not trained through lightning-cli); "
            "pass --config with the resolved config.yaml the run wrote beside its logs."
        )
    config = yaml.safe_load(text)
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
        raise ValueError("The training config has no `model` section; pass the config.yaml lightning-cli wrote.")
    return config, text


def build_module(config: dict[str, Any], trust_checkpoint: bool = True, source: str = "the training config"):
    """The ``SliceVLMModule`` a resolved training config describes (export_dir off).

    Args:
        config: the resolved training config.
        trust_checkpoint: False: ``model.vision`` / ``model.language`` may only name SliceVLM's
            model classes (:mod:`slicevlm.trusted_classes`), checked before anything is imported.
        source: where the config came from, for that refusal.
    """
    model = dict(config["model"])
    parts = {"vision": model.pop("vision"), "language": model.pop("language")}
    check_model_classes(parts, source, trust_checkpoint, prefix="model")
    vision, language = build(parts["vision"], trust=trust_checkpoint), build(parts["language"], trust=trust_checkpoint)
    lora = model.pop("lora", None)
    accepted = set(inspect.signature(SliceVLMModule.__init__).parameters)
    kwargs = {key: value for key, value in model.items() if key in accepted}
    kwargs["export_dir"] = None
    if kwargs.get("init_from") and not Path(kwargs["init_from"]).is_dir():
        kwargs["init_from"] = None  # its weights are in the checkpoint; the structure is checked below
    if isinstance(lora, dict):
        kwargs["lora"] = LoraSettings(**lora)
    return SliceVLMModule(vision, language, **kwargs)


def convert_zero_checkpoint(
    checkpoint_dir: str | Path,
    output_dir: str | Path,
    config_path: str | Path | None = None,
    overwrite: bool = False,
    trust_checkpoint: bool = False,
) -> Path:
    """Write the checkpoint folder (``slicevlm.checkpoint`` format) of a DeepSpeed ZeRO-2/3 checkpoint.

    Args:
        checkpoint_dir: The DeepSpeed checkpoint folder (e.g. ``runs/stage2/checkpoints/last.ckpt``).
        output_dir: Where to write the inference folder.
        config_path: The run's resolved config; by default the copy stored in the checkpoint.
        overwrite: Replace an existing ``output_dir``.
        trust_checkpoint: read DeepSpeed's pickles whatever they hold, and let the config name any
            class (see the module docstring): only for checkpoints of your own runs.

    Raises:
        FileExistsError: ``output_dir`` exists and ``overwrite`` is False.
        ValueError: The weights do not match the model the config describes; a file holds objects
            other than tensors and plain values, or the config names a class that is not one of
            SliceVLM's model classes, and ``trust_checkpoint`` is False.
    """
    from slicevlm.checkpoint import save_checkpoint_folder
    from slicevlm.io.recipe import recipe_from_data_config

    output_dir = Path(output_dir)
    if output_dir.exists() and any(output_dir.iterdir()) and not overwrite:
        raise FileExistsError(f"{output_dir} exists and is not empty; choose another folder or pass --overwrite.")
    weights, client_state = read_zero_checkpoint(checkpoint_dir, trust_checkpoint)
    config, text = _training_config(client_state, config_path)
    source = str(config_path) if config_path is not None else f"the training config stored in {checkpoint_dir}"
    module = build_module(config, trust_checkpoint, source)
    trainable = {name for name, p in module.named_parameters() if p.requires_grad}
    missing, unexpected = sorted(trainable - set(weights)), sorted(set(weights) - trainable)
    if missing or unexpected:
        raise ValueError(
            f"{checkpoint_dir}: the weights do not fit the model its config describes: missing {missing[:5]} "
            f"({len(missing)}), unexpected {unexpected[:5]} ({len(unexpected)}). Pass --config with the run's own config."
        )
    module.load_state_dict(weights, strict=False)
    input_size = tuple(int(s) for s in config.get("data", {}).get("volume_size", (50, 224, 224)))
    if output_dir.exists() and overwrite:
        shutil.rmtree(output_dir)
    recipe = recipe_from_data_config(config.get("data", {}))
    folder = save_checkpoint_folder(module.model, output_dir, module.stage, input_size, preprocessing=recipe)  # type: ignore[arg-type]
    (folder / "config.yaml").write_text(text, encoding="utf-8")
    return folder


def export_zero(
    checkpoint_dir: str, output_dir: str, config: str | None = None, overwrite: bool = False, trust_checkpoint: bool = False
) -> int:
    """DeepSpeed ZeRO-2/3 checkpoint folder -> SliceVLM inference folder.

    Exit status: 0 written, 2 the checkpoint cannot be converted (message on stderr).

    Args:
        checkpoint_dir: the folder the DeepSpeed strategy saved (e.g. runs/stage2/checkpoints/last.ckpt)
        output_dir: where to write the inference checkpoint folder
        config: the run's resolved config.yaml (default: the copy in the checkpoint)
        overwrite: replace output_dir if it exists
        trust_checkpoint: read DeepSpeed's files even when they hold objects other than tensors and
            plain values, and let the config name any class (reading them could run code: only for
            checkpoints of your own runs)
    """
    try:
        folder = convert_zero_checkpoint(checkpoint_dir, output_dir, config, overwrite, trust_checkpoint)
    except (FileNotFoundError, FileExistsError, ValueError, RuntimeError) as error:
        report("slicevlm export-zero", error)
        return 2
    print(f"export-zero: {checkpoint_dir} -> {folder}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``slicevlm export-zero CHECKPOINT_DIR OUTPUT_DIR [--config CONFIG] [--overwrite] [--trust-checkpoint]``."""
    return run_command(export_zero, argv, prog="slicevlm export-zero")
