"""Architecture configs shipped with the package, by hub name: build a model with random weights offline.

`pretrained: false` must build the real architecture (for memory and speed runs) on a machine that
cannot reach the hub. The configs of the models the configs name are shipped as JSON files, one
registry for all of them:

    slicevlm/assets/encoders/<org>--<repo>.json   slice encoders (open_clip_config.json layout for
                                                   open_clip models, CLIPVisionConfig for transformers CLIP)
    slicevlm/assets/llms/<org>--<repo>.json       language models (AutoConfig fields + `model_type`)

A hub name `org/repo` or `hf-hub:org/repo` maps to the file `org--repo.json`. Adding a model is
adding its file. The files are read with `importlib.resources`, so they load from an installed
wheel as well as from a source checkout. A local folder is never looked up here: its own config wins.
"""

from __future__ import annotations

from importlib import resources
import json
from typing import Any, Literal

from slicevlm.hub import local_directory

ArchitectureKind = Literal["encoders", "llms"]
HUB_PREFIX = "hf-hub:"


def architecture_file_name(name: str) -> str:
    """`hf-hub:org/repo` or `org/repo` -> `org--repo.json`, the shipped file's name."""
    return f"{name.removeprefix(HUB_PREFIX).replace('/', '--')}.json"


def shipped_architecture(kind: ArchitectureKind, name: str) -> dict[str, Any] | None:
    """The shipped config of the hub model `name`, or None (a local folder, or a model we ship nothing for).

    Args:
        kind: "encoders" or "llms".
        name: the model name as a config writes it (`org/repo`, `hf-hub:org/repo`, or a folder).

    Returns:
        The parsed JSON (a fresh dict; callers may modify it), or None.
    """
    if local_directory(name) is not None:
        return None
    resource = resources.files("slicevlm") / "assets" / kind / architecture_file_name(name)
    if not resource.is_file():
        return None
    return json.loads(resource.read_text(encoding="utf-8"))


def shipped_names(kind: ArchitectureKind) -> list[str]:
    """The hub names (`org/repo`) with a shipped config of `kind`, sorted."""
    folder = resources.files("slicevlm") / "assets" / kind
    return sorted(entry.name.removesuffix(".json").replace("--", "/", 1) for entry in folder.iterdir() if entry.name.endswith(".json"))
