"""Where a checkpoint folder's models come from, so that the folder loads from anywhere.

`model.yaml` names the frozen encoder and the LLM the way their configs did: a hub name, or a
local folder. A folder name relative to the working directory (`local-dir:runs/tiny/encoder`)
would only load from the folder training ran in, so at export (:func:`bundle_model_sources`):

- a local model of at most :data:`BUNDLE_LIMIT_BYTES` (the tiny stand-ins, small encoders) is
  copied into the checkpoint folder, as `encoder/` or `llm/`, and named relative to the
  checkpoint folder (`local-dir:./encoder`, `./llm`); `bundle=True` copies any size,
  `bundle=False` none;
- a larger local model is named by its absolute path (it stays where it is);
- a hub name (`hf-hub:org/repo`, `org/repo`) stays as it is, read from the Hugging Face cache.

At load (:func:`resolve_model_sources`), a relative folder name is looked up inside the checkpoint
folder first, then in the current working directory (folders exported before models travelled with
them name folders relative to where training ran); when neither holds it, the error names both
paths. :func:`resolve_checkpoint` accepts `hf://org/name` (or `hf://org/name@revision`) wherever a
checkpoint folder is expected and reads that Hub repo's snapshot from the Hugging Face cache. Any other
name is a local folder, and a folder that does not exist is an error: a typo never becomes a download.
"""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path
from typing import Any

from slicevlm.errors import MissingFileError
from slicevlm.hub import ModelNotAvailableError, hub_snapshot

#: Local models up to this size (all files together) travel inside the checkpoint folder.
BUNDLE_LIMIT_BYTES = 50 * 1024**2
LOCAL_PREFIX = "local-dir:"
#: A Hugging Face repo id: `user/repo` (letters, digits, `-`, `_`, `.`).
REPO_ID = re.compile(r"(?:hf-hub:)?[A-Za-z0-9][\w.-]*/[\w.-]+")
#: How a checkpoint on the Hugging Face Hub is named: the scheme every hub checkpoint name starts with.
HUB_SCHEME = "hf://"
#: `hf://org/name`, optionally `@revision` (a branch, tag or commit).
HUB_CHECKPOINT = re.compile(r"hf://(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+)(?:@(?P<revision>[\w./-]+))?")

#: Where each model name sits in `model.yaml` (keys below `init_args`), and its folder name when bundled.
MODEL_SOURCES: dict[str, tuple[str, ...]] = {
    "encoder": ("vision", "encoder", "model_name"),
    "llm": ("language", "model_name"),
}


def model_name_slot(config: dict[str, Any], keys: tuple[str, ...]) -> tuple[dict[str, Any], str]:
    """The `init_args` dict holding the last key of `keys`, and that key (walks component descriptions).

    A component without that nested part (a vision tower that builds its encoder in code) gives an
    empty dict, so the caller finds no model name in it.
    """
    node = config[keys[0]]
    for key in keys[1:-1]:
        node = node.get("init_args", {}).get(key)
        if not isinstance(node, dict):
            return {}, keys[-1]
    return node.get("init_args", {}), keys[-1]


def split_local_name(name: str, folder: Path | None = None) -> tuple[str, str] | None:
    """`(prefix, path)` when `name` names a local folder, else None (a hub name).

    `local-dir:X` and absolute, `./`, `../` or `~` paths are folders. A name with two or more `/`
    (`runs/tiny/llm`) is a folder too, since a hub id has one. `org/name` or a bare word is a folder
    only when it exists, inside `folder` (the checkpoint folder) or in the working directory.
    """
    if name.startswith(LOCAL_PREFIX):
        return LOCAL_PREFIX, name.removeprefix(LOCAL_PREFIX)
    if name.startswith("hf-hub:"):
        return None
    if Path(name).is_absolute() or name.startswith((".", "~")) or name.count("/") >= 2 or "\\" in name:
        return "", name
    if (folder is not None and (folder / name).is_dir()) or Path(name).is_dir():
        return "", name
    return None


def folder_size(folder: Path) -> int:
    """Bytes of all files below `folder`."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def bundle_model_sources(config: dict[str, Any], folder: Path, bundle: bool | None = None) -> dict[str, Any]:
    """Copy small local models into `folder` and rewrite `config`'s model names to travel with it.

    Args:
        config: `model.yaml`'s content (`{"vision": ..., "language": ...}`); not modified.
        folder: the checkpoint folder being written.
        bundle: None copies local models up to :data:`BUNDLE_LIMIT_BYTES`; True copies every local
            model; False copies none (local models are named by absolute path).

    Returns:
        The config with each local model named `./<encoder|llm>` (copied) or by absolute path.
    """
    config = copy.deepcopy(config)
    for bundled_name, keys in MODEL_SOURCES.items():
        args, key = model_name_slot(config, keys)
        if key not in args:  # a component that loads no model by name (e.g. an encoder built in code)
            continue
        local = split_local_name(str(args[key]))
        target = folder / bundled_name
        if local is None:
            continue
        prefix, path = local
        source = Path(path).expanduser().resolve()
        if not source.is_dir():
            raise MissingFileError(f"The model folder {args[key]!r} ({source}) is gone; the checkpoint folder cannot name it.")
        if bundle is True or (bundle is None and folder_size(source) <= BUNDLE_LIMIT_BYTES):
            if target.resolve() != source:
                if target.exists():
                    shutil.rmtree(target)
                shutil.copytree(source, target)
            args[key] = f"{prefix}./{bundled_name}"
        else:
            if target.is_dir() and target.resolve() != source:
                shutil.rmtree(target)  # bundled by an earlier export to this folder
            args[key] = f"{prefix}{source}"
    config["language"]["init_args"]["tokenizer_name"] = "./tokenizer"  # saved beside; load reads it from there
    return config


def _resolve_local(name: str, what: str, prefix: str, path_text: str, folder: Path) -> str:
    path = Path(path_text).expanduser()
    if path.is_absolute():
        if path.is_dir():
            return name
        raise ModelNotAvailableError(
            f"{folder / 'model.yaml'} names the {what} folder {path}, which does not exist on this machine. Copy "
            f"that folder there, or write where it is into model.yaml (or export the checkpoint with the model "
            "inside it: model.bundle_models: true)."
        )
    tried = [folder / path, Path.cwd() / path]
    for candidate in tried:
        if candidate.is_dir():
            return f"{prefix}{candidate.resolve()}"
    raise ModelNotAvailableError(
        f"{folder / 'model.yaml'} names the {what} {name!r}, a folder relative to where the checkpoint was made. "
        f"Tried {tried[0]} (inside the checkpoint folder) and {tried[1]} (the current folder); neither exists. "
        f"Run from the folder the model was trained in, copy the model folder to {tried[0]}, or write its "
        "absolute path into model.yaml."
    )


def resolve_model_sources(config: dict[str, Any], folder: Path) -> dict[str, Any]:
    """`config` with every local model name made absolute (see the module docstring); hub names kept.

    Raises:
        ModelNotAvailableError: a local model folder is found neither in the checkpoint folder nor
            in the working directory (the message names both paths tried).
    """
    config = copy.deepcopy(config)
    for what, keys in (("slice encoder", MODEL_SOURCES["encoder"]), ("language model", MODEL_SOURCES["llm"])):
        args, key = model_name_slot(config, keys)
        if key not in args:
            continue
        name = str(args[key])
        local = split_local_name(name, folder)
        if local is not None:
            args[key] = _resolve_local(name, what, *local, folder)
    return config


def resolve_checkpoint(name: str | Path) -> Path:
    """The checkpoint folder `name` names: an existing local folder, or a Hub repo's snapshot.

    `hf://org/name` (or `hf://org/name@revision`) is a checkpoint on the Hugging Face Hub, read from the
    Hugging Face cache (`HF_HUB_CACHE`, or `HF_HOME/hub`); when it is not cached it is downloaded,
    unless the hub cannot be asked (`HF_HUB_OFFLINE=1`, or no answer), in which case the error says
    what to fetch. Every other name is a local folder; the hub is never asked for one.

    Raises:
        MissingFileError: a local folder that does not exist, or a malformed `hf://` name.
        ModelNotAvailableError: an `hf://` repo that is not cached and cannot be downloaded.
    """
    text = str(name)
    if text.startswith(HUB_SCHEME):
        match = HUB_CHECKPOINT.fullmatch(text)
        if match is None:
            raise MissingFileError(
                f"checkpoint {text!r}: not a Hub checkpoint name; write hf://org/name (or hf://org/name@revision)."
            )
        return hub_snapshot(match["repo"], text, "checkpoint", "--checkpoint", revision=match["revision"])
    path = Path(text).expanduser()
    if path.is_dir():
        return path
    where = path if path.is_absolute() else f"{path} (relative to {Path.cwd()})"
    what = "is not a folder" if path.exists() else "does not exist"
    raise MissingFileError(
        f"checkpoint folder {where} {what}. Pass the folder a training run wrote (e.g. runs/demo/checkpoint); "
        f"for a checkpoint on the Hugging Face Hub write {HUB_SCHEME}org/name."
    )
