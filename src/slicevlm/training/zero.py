"""DeepSpeed ZeRO checkpoints: gathering partitioned weights for export, and converting a saved run.

Under ZeRO-3 every parameter is split across ranks; a rank's ``param.data`` is an empty placeholder.
Three consequences:

- Code that reads a parameter outside its own module's forward finds the placeholder:
  :func:`gather_whole_in_forward` makes the frozen encoder gather all its weights when it runs.

- The checkpoint folder written at the end of ``fit`` needs the trained weights whole:
  :func:`gathered` assembles them (on every rank, a collective) for the duration of the export.
- A Lightning checkpoint of a DeepSpeed run is a folder DeepSpeed writes from every rank
  (``last.ckpt/checkpoint/*_model_states.pt`` + ``*_optim_states.pt``, with the fp32 master weights
  sharded in the optimiser files). :func:`convert_zero_checkpoint` turns such a folder into the plain
  inference folder of ``slicevlm.checkpoint`` (``vision.safetensors``, ``adapter/``, ...), on any
  machine, without GPUs:

      slicevlm export-zero runs/stage2/checkpoints/last.ckpt runs/stage2/checkpoint_from_zero

With ``exclude_frozen_parameters: true`` (the shipped strategy configs) DeepSpeed's own files hold
only the trainable weights, their optimiser state and the training state; the frozen encoder and LLM
are rebuilt from the names in the training config, as for every checkpoint folder. DeepSpeed's files
are pickles: convert only checkpoints you trust (your own runs).
"""

from __future__ import annotations

import contextlib
import inspect
import shutil
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
import yaml

from slicevlm.command_line import run_command
from slicevlm.errors import require, show_traceback_if_debug

#: The key under which the LightningModule stores the run's resolved config text in every checkpoint.
CONFIG_KEY = "slicevlm_training_config"
_LEGACY_PREFIX = "_forward_module."  # Lightning < 2.1 wrapped the module under this name


@contextlib.contextmanager
def gathered(parameters: Iterable[torch.nn.Parameter]) -> Iterator[None]:
    """Make ZeRO-3 partitioned ``parameters`` whole on every rank inside the block (no-op otherwise).

    A collective under ZeRO-3: every rank must enter the block.
    """
    partitioned = [p for p in parameters if hasattr(p, "ds_id")]
    if not partitioned:
        yield
        return
    import deepspeed

    with deepspeed.zero.GatheredParameters(partitioned, modifier_rank=None):
        yield


def gather_whole_in_forward(module: torch.nn.Module) -> None:
    """Under ZeRO-3, have DeepSpeed assemble every parameter of ``module`` whenever ``module`` runs.

    ZeRO-3 gathers a submodule's own parameters when that submodule is called. The frozen encoder
    reads some parameters outside such a call (timm's ``forward_features`` adds ``cls_token`` and
    ``pos_embed`` itself; open_clip's ViT embeds with ``class_embedding``), which would find empty
    placeholders. Registering them as external parameters of the whole encoder makes its forward
    gather them first (a frozen ViT is small next to the LLM). Harmless without ZeRO-3.
    """
    import deepspeed

    for parameter in module.parameters():
        deepspeed.zero.register_external_parameter(module, parameter)


def _deepspeed_fp32_reader():
    module = require("deepspeed.utils.zero_to_fp32", "Reading a DeepSpeed checkpoint (on the CPU too)")
    return module.get_fp32_state_dict_from_zero_checkpoint


def _tag_folder(checkpoint_dir: Path) -> Path:
    if not checkpoint_dir.is_dir():
        raise FileNotFoundError(
            f"{checkpoint_dir}: not a folder. A DeepSpeed run's Lightning checkpoint is a folder "
            "(e.g. runs/stage2/checkpoints/last.ckpt/) holding `latest` and a tag folder."
        )
    latest = checkpoint_dir / "latest"
    if not latest.is_file():
        raise FileNotFoundError(
            f"{checkpoint_dir}: no `latest` file, so this is not a DeepSpeed checkpoint folder. A checkpoint "
            "file written without DeepSpeed already holds the weights: export it with `fit --ckpt_path` and "
            "model.export_dir instead."
        )
    tag = checkpoint_dir / latest.read_text(encoding="utf-8").strip()
    if not tag.is_dir():
        raise FileNotFoundError(f"{checkpoint_dir}/latest names tag folder {tag.name!r}, which is missing.")
    return tag


def read_zero_checkpoint(checkpoint_dir: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The trainable fp32 weights (by LightningModule parameter name) and the saved training state.

    Args:
        checkpoint_dir: The folder Lightning's DeepSpeed strategy wrote (it holds ``latest``).

    Returns:
        ``(weights, client_state)``: weights merged from every rank's shard; client_state is what
        Lightning stored beside them (hyper-parameters, loop state, callbacks, the run's config).
    """
    checkpoint_dir = Path(checkpoint_dir)
    tag = _tag_folder(checkpoint_dir)
    model_files = sorted(tag.glob("*mp_rank_00_model_states.pt"))
    if not model_files:
        raise FileNotFoundError(f"{tag}: no *mp_rank_00_model_states.pt; the DeepSpeed checkpoint is incomplete.")
    client_state = torch.load(model_files[0], map_location="cpu", weights_only=False)
    read_fp32 = _deepspeed_fp32_reader()
    weights = read_fp32(str(checkpoint_dir), tag=tag.name, exclude_frozen_parameters=True)
    return {name.removeprefix(_LEGACY_PREFIX): tensor for name, tensor in weights.items()}, client_state


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


def build_module(config: dict[str, Any]):
    """The ``SliceVLMModule`` a resolved training config describes (export_dir off)."""
    from slicevlm.config_record import build
    from slicevlm.llm.lora import LoraSettings
    from slicevlm.training.module import SliceVLMModule

    model = dict(config["model"])
    vision, language = build(model.pop("vision")), build(model.pop("language"))
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
    checkpoint_dir: str | Path, output_dir: str | Path, config_path: str | Path | None = None, overwrite: bool = False
) -> Path:
    """Write the checkpoint folder (``slicevlm.checkpoint`` format) of a DeepSpeed ZeRO-2/3 checkpoint.

    Args:
        checkpoint_dir: The DeepSpeed checkpoint folder (e.g. ``runs/stage2/checkpoints/last.ckpt``).
        output_dir: Where to write the inference folder.
        config_path: The run's resolved config; by default the copy stored in the checkpoint.
        overwrite: Replace an existing ``output_dir``.

    Raises:
        FileExistsError: ``output_dir`` exists and ``overwrite`` is False.
        ValueError: The weights do not match the model the config describes.
    """
    from slicevlm.checkpoint import save_checkpoint_folder
    from slicevlm.data.recipe import recipe_from_data_config

    output_dir = Path(output_dir)
    if output_dir.exists() and any(output_dir.iterdir()) and not overwrite:
        raise FileExistsError(f"{output_dir} exists and is not empty; choose another folder or pass --overwrite.")
    weights, client_state = read_zero_checkpoint(checkpoint_dir)
    config, text = _training_config(client_state, config_path)
    module = build_module(config)
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


def export_zero(checkpoint_dir: str, output_dir: str, config: str | None = None, overwrite: bool = False) -> int:
    """DeepSpeed ZeRO-2/3 checkpoint folder -> SliceVLM inference folder.

    Exit status: 0 written, 2 the checkpoint cannot be converted (message on stderr).

    Args:
        checkpoint_dir: the folder the DeepSpeed strategy saved (e.g. runs/stage2/checkpoints/last.ckpt)
        output_dir: where to write the inference checkpoint folder
        config: the run's resolved config.yaml (default: the copy in the checkpoint)
        overwrite: replace output_dir if it exists
    """
    try:
        folder = convert_zero_checkpoint(checkpoint_dir, output_dir, config, overwrite)
    except (FileNotFoundError, FileExistsError, ValueError, RuntimeError) as error:
        show_traceback_if_debug(error)
        print(f"slicevlm export-zero: {error}", file=sys.stderr)
        return 2
    print(f"export-zero: {checkpoint_dir} -> {folder}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``slicevlm export-zero CHECKPOINT_DIR OUTPUT_DIR [--config CONFIG] [--overwrite]``."""
    return run_command(export_zero, argv, prog="slicevlm export-zero")
