"""Which classes a checkpoint may name: the allow-list checked before anything is imported.

A checkpoint folder's ``model.yaml`` (and the training config a DeepSpeed checkpoint carries, read
by ``slicevlm export-zero``) says how to rebuild the model as ``class_path`` / ``init_args``. Building
it imports the module and calls what ``class_path`` names, so a folder from somebody else could name
any callable (``os.system``, ``subprocess.Popen``, ...) and run it. Every ``class_path``, at any
depth, must therefore be one of :data:`MODEL_CLASSES` — the model components SliceVLM itself
writes: vision towers, slice encoders, the baselines' 3D encoders and the language model — or a
class registered in this process with :func:`allow_model_class` (an encoder plugin of your own).
Anything else is refused before its module is imported, unless the caller trusts the checkpoint
(``--trust-checkpoint`` on the command lines, ``trust_checkpoint=True`` in Python).

No torch, transformers or peft class is listed: no shipped config and no folder
``save_checkpoint_folder`` writes names one (the encoder and the LLM are named by model folder or
hub name, and loaded by the classes listed here).

This module imports nothing heavy, so the check runs before torch or the model code loads.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from slicevlm.errors import ConfigError

#: Every class a checkpoint may name, by each dotted path it is reachable under (the defining module,
#: as ``save_checkpoint_folder`` writes it, and the shorter public paths configs use).
MODEL_CLASSES: frozenset[str] = frozenset({
    # the paper's vision tower
    "slicevlm.vision.VisionPipeline",
    "slicevlm.vision.pipeline.VisionPipeline",
    # slice encoders (SliceEncoder is the public name of the open_clip encoder)
    "slicevlm.vision.SliceEncoder",
    "slicevlm.vision.OpenClipSliceEncoder",
    "slicevlm.vision.encoders.OpenClipSliceEncoder",
    "slicevlm.vision.encoders.open_clip_encoder.OpenClipSliceEncoder",
    "slicevlm.vision.HFClipSliceEncoder",
    "slicevlm.vision.encoders.HFClipSliceEncoder",
    "slicevlm.vision.encoders.hf_clip.HFClipSliceEncoder",
    "slicevlm.vision.EfficientNetLiteSliceEncoder",
    "slicevlm.vision.encoders.EfficientNetLiteSliceEncoder",
    "slicevlm.vision.encoders.efficientnet.EfficientNetLiteSliceEncoder",
    # the baselines' towers and their 3D encoders
    "slicevlm.vision.baselines.M3DLaMedTower",
    "slicevlm.vision.baselines.m3d_lamed.M3DLaMedTower",
    "slicevlm.vision.baselines.Med3DVLMTower",
    "slicevlm.vision.baselines.med3dvlm.Med3DVLMTower",
    "slicevlm.vision.baselines.DCFormer3D",
    "slicevlm.vision.baselines.dcformer.DCFormer3D",
    "slicevlm.vision.baselines.VisionTransformer3D",
    "slicevlm.vision.baselines.vit3d.VisionTransformer3D",
    # the language side
    "slicevlm.llm.LanguageModel",
    "slicevlm.llm.language_model.LanguageModel",
})

_registered: set[str] = set()

#: An environment variable naming one checkpoint folder to trust (``slicevlm serve --trust-checkpoint``
#: sets it for the processes it starts, which load the model).
TRUST_ENV = "SLICEVLM_TRUST_CHECKPOINT"

#: What the refusal tells the user to do.
TRUST_HINT = (
    "Only load checkpoints from people you trust: building this model would import and call that name. "
    "If you trust this checkpoint (e.g. it uses an encoder class of your own), pass --trust-checkpoint "
    "(trust_checkpoint=True in Python), or register the class in your code with "
    "slicevlm.trusted_classes.allow_model_class."
)


class UntrustedCheckpointError(ConfigError):
    """A checkpoint names a class outside the allow-list (or holds pickled objects) and was not trusted."""


def allow_model_class(cls: type) -> type:
    """Add ``cls`` to the classes checkpoints may name in this process; returns it (usable as a decorator)."""
    if not isinstance(cls, type):
        raise TypeError(f"allow_model_class takes a class, not {type(cls).__name__}")
    _registered.add(f"{cls.__module__}.{cls.__qualname__}")
    return cls


def trusted_by_environment(folder: str | os.PathLike) -> bool:
    """Whether :data:`TRUST_ENV` names ``folder`` (compared after resolving both)."""
    value = os.environ.get(TRUST_ENV, "").strip()
    return bool(value) and Path(value).resolve() == Path(folder).resolve()


def is_allowed(class_path: object) -> bool:
    """Whether ``class_path`` names a class checkpoints may name (:data:`MODEL_CLASSES` or registered)."""
    return isinstance(class_path, str) and (class_path in MODEL_CLASSES or class_path in _registered)


def class_paths(config: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    """``(key path of the class_path key, its value)`` for every ``{"class_path": ...}`` mapping in ``config``, at any depth."""
    if isinstance(config, dict):
        if "class_path" in config:
            yield f"{where}.class_path" if where else "class_path", config["class_path"]
        for key, value in config.items():
            if key != "class_path":
                yield from class_paths(value, f"{where}.{key}" if where else str(key))
    elif isinstance(config, (list, tuple)):
        for index, value in enumerate(config):
            yield from class_paths(value, f"{where}[{index}]")


def check_model_classes(config: Any, source: str, trust: bool = False, prefix: str = "") -> None:
    """Refuse ``config`` when a ``class_path`` in it is not allowed (see the module docstring).

    Args:
        config: a parsed ``model.yaml`` (or a config's ``model`` section).
        source: the file it was read from, for the message.
        trust: skip the check (the user trusts where the file came from).
        prefix: key path of ``config`` inside ``source`` (e.g. ``"model"``), for the message.

    Raises:
        UntrustedCheckpointError: the first class that is not allowed, with the file and key path.
    """
    if trust:
        return
    for where, class_path in class_paths(config, prefix):
        if not is_allowed(class_path):
            raise UntrustedCheckpointError(
                f"{source}: `{where}` names {class_path!r}, which is not one of SliceVLM's model "
                f"classes; refused without importing it. {TRUST_HINT}"
            )
