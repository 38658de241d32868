"""DeepSpeed ZeRO checkpoints: gathering partitioned weights for export, and converting a saved run.

Under ZeRO-3 every parameter is split across ranks; a rank's ``param.data`` is an empty placeholder.
Three consequences:

- Code that reads a parameter outside its own module's forward finds the placeholder:
  :func:`gather_whole_in_forward` makes the frozen encoder gather all its weights when it runs.

- The checkpoint folder written at the end of ``fit`` needs the trained weights whole:
  :func:`gathered` assembles them (on every rank, a collective) for the duration of the export.
- A Lightning checkpoint of a DeepSpeed run is a folder DeepSpeed writes from every rank
  (``last.ckpt/checkpoint/*_model_states.pt`` + ``*_optim_states.pt``, with the fp32 master weights
  sharded in the optimiser files). :func:`read_zero_checkpoint` reads the trained weights back from it, and
  :mod:`slicevlm.training.zero_export` turns such a folder into the plain inference folder of
  ``slicevlm.checkpoint`` (``vision.safetensors``, ``adapter/``, ...), on any machine, without GPUs:

      slicevlm export-zero runs/stage2/checkpoints/last.ckpt runs/stage2/checkpoint_from_zero

With ``exclude_frozen_parameters: true`` (the shipped strategy configs) DeepSpeed's own files hold
only the trainable weights, their optimiser state and the training state; the frozen encoder and LLM
are rebuilt from the names in the training config, as for every checkpoint folder.

DeepSpeed's files are pickles, which could run code when read. They are read with
``torch.load(weights_only=True)`` (DeepSpeed's own reader included): tensors, plain values and the few
bookkeeping classes DeepSpeed and Lightning store (:data:`SAFE_GLOBALS`) only; a file holding anything
else is refused, naming the file and the object. The training config's ``model`` may only name
SliceVLM's model classes (:mod:`slicevlm.trusted_classes`). ``--trust-checkpoint``
(``trust_checkpoint=True``) lifts both checks, for your own runs only.
"""

from __future__ import annotations

import contextlib
import importlib
import pickle
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import torch

from slicevlm.errors import require
from slicevlm.trusted_classes import UntrustedCheckpointError

#: The key under which the LightningModule stores the run's resolved config text in every checkpoint.
CONFIG_KEY = "slicevlm_training_config"

#: Classes besides tensors and plain values that DeepSpeed and Lightning store in a ZeRO checkpoint,
#: allowed when its files are read with `weights_only=True` (those not installed are skipped). They
#: hold numbers and names only; unpickling them calls no code of the file's choosing.
SAFE_GLOBALS: tuple[str, ...] = (
    "deepspeed.runtime.fp16.loss_scaler.LossScaler",
    "deepspeed.runtime.fp16.loss_scaler.DynamicLossScaler",
    "deepspeed.runtime.zero.config.ZeroStageEnum",
    "deepspeed.utils.tensor_fragment.fragment_address",
    "lightning.fabric.utilities.data.AttributeDict",
    "lightning_fabric.utilities.data.AttributeDict",
    "pathlib.PosixPath",
    "pathlib.WindowsPath",
)


def _safe_globals() -> list[Any]:
    found = []
    for dotted in SAFE_GLOBALS:
        module_name, _, name = dotted.rpartition(".")
        try:
            found.append(getattr(importlib.import_module(module_name), name))
        except (ImportError, AttributeError):
            continue
    return found


def _refusal(path: object, error: BaseException) -> UntrustedCheckpointError:
    named = re.search(r"GLOBAL (\S+)", str(error))
    detail = f" (it names {named[1]})" if named else ""
    return UntrustedCheckpointError(
        f"{path}: holds pickled objects other than tensors and plain values{detail}; reading "
        "it could run code, so it is refused. If this is a checkpoint of your own run, pass --trust-checkpoint "
        "(trust_checkpoint=True in Python)."
    )


def load_zero_file(path: str | Path, trust: bool = False, **kwargs: Any) -> Any:
    """``torch.load`` of one DeepSpeed checkpoint file: tensors, plain values and :data:`SAFE_GLOBALS` only,
    unless ``trust``.

    Raises:
        UntrustedCheckpointError: the file holds other objects (the message names it).
    """
    if trust:
        return torch.load(path, map_location="cpu", weights_only=False, **kwargs)
    try:
        with torch.serialization.safe_globals(_safe_globals()):
            return torch.load(path, map_location="cpu", weights_only=True, **kwargs)
    except pickle.UnpicklingError as error:
        raise _refusal(path, error) from error


@contextlib.contextmanager
def _tensors_only_torch_load() -> Iterator[None]:
    """Make every ``torch.load`` in the block (DeepSpeed's reader asks for ``weights_only=False``) read
    with ``weights_only=True`` and :data:`SAFE_GLOBALS`."""
    original = torch.load

    def load(f: Any, *args: Any, weights_only: Any = None, **kwargs: Any) -> Any:
        try:
            with torch.serialization.safe_globals(_safe_globals()):
                return original(f, *args, weights_only=True, **kwargs)
        except pickle.UnpicklingError as error:
            raise _refusal(f, error) from error

    torch.load = load
    try:
        yield
    finally:
        torch.load = original


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


def read_zero_checkpoint(checkpoint_dir: str | Path, trust_checkpoint: bool = False) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The trainable fp32 weights (by LightningModule parameter name) and the saved training state.

    Args:
        checkpoint_dir: The folder Lightning's DeepSpeed strategy wrote (it holds ``latest``).
        trust_checkpoint: read the pickles whatever they hold (see the module docstring).

    Returns:
        ``(weights, client_state)``: weights merged from every rank's shard; client_state is what
        Lightning stored beside them (hyper-parameters, loop state, callbacks, the run's config).

    Raises:
        UntrustedCheckpointError: a file holds objects other than tensors and plain values and
            ``trust_checkpoint`` is False.
    """
    checkpoint_dir = Path(checkpoint_dir)
    tag = _tag_folder(checkpoint_dir)
    model_files = sorted(tag.glob("*mp_rank_00_model_states.pt"))
    if not model_files:
        raise FileNotFoundError(f"{tag}: no *mp_rank_00_model_states.pt; the DeepSpeed checkpoint is incomplete.")
    client_state = load_zero_file(model_files[0], trust_checkpoint)
    read_fp32 = _deepspeed_fp32_reader()
    with contextlib.nullcontext() if trust_checkpoint else _tensors_only_torch_load():
        weights = read_fp32(str(checkpoint_dir), tag=tag.name, exclude_frozen_parameters=True)
    return dict(weights), client_state
