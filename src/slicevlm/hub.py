"""Where weights come from: hub names, local folders, and the error when neither is reachable.

One place resolves every model name the project accepts (open_clip style):

* `hf-hub:org/repo` — an open_clip model on the Hugging Face Hub (read from the local HF cache
  when offline);
* `local-dir:/path` or a plain existing directory — the same files in a folder;
* for language models, a Hugging Face repo id (`meta-llama/Llama-2-7b-hf`) or a local directory.

When a name cannot be resolved, `ModelNotAvailableError` says what to fetch and where it looked.
"""

from __future__ import annotations

import os
from pathlib import Path


class ModelNotAvailableError(RuntimeError):
    """A model named in the config cannot be found locally and cannot be downloaded."""


def hf_cache_dir() -> str:
    """The Hugging Face cache folder that `from_pretrained` / `hf_hub_download` read."""
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def missing_model_message(name: str, what: str, config_key: str, cause: BaseException | None = None) -> str:
    """The text of a `ModelNotAvailableError`: what was asked, where we looked, how to fix it."""
    repo = name.removeprefix("hf-hub:")
    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
    lines = [
        f"Cannot load the {what} {name!r}.",
        f"Looked in the Hugging Face cache ({hf_cache_dir()})"
        + (" with HF_HUB_OFFLINE set, so the hub was not asked." if offline else " and on the hub, which did not answer."),
        "To fix it, either:",
        f"  * on a machine with internet run `hf download {repo}` and copy the cache folder here "
        "(or point HF_HOME at it), or",
        f"  * put the files in a folder and set `{config_key}` to that folder"
        + (" as `local-dir:/path/to/folder`." if name.startswith("hf-hub:") else "."),
    ]
    if cause is not None:
        lines.append(f"Underlying error: {type(cause).__name__}: {cause}")
    return "\n".join(lines)


def local_directory(name: str) -> Path | None:
    """The folder a name points at (`local-dir:/x` or an existing directory), else None."""
    if name.startswith("local-dir:"):
        path = Path(name.removeprefix("local-dir:")).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"{name!r} names a folder that does not exist: {path}")
        return path
    path = Path(name).expanduser()
    return path if path.is_dir() else None
