"""`slicevlm upload CHECKPOINT REPO_ID`: put a checkpoint folder on the Hugging Face Hub.

    hf auth login                                         # a token with write access
    slicevlm upload runs/demo/checkpoint user/slicevlm-demo --private
    slicevlm ask scan.npy "Which plane?" --checkpoint hf://user/slicevlm-demo    # on any machine

The folder is uploaded as it is, with `HfApi.upload_folder` (the repo is created first when missing).
Loading it as `hf://user/slicevlm-demo` reads the snapshot from the Hugging Face cache (`hf download user/slicevlm-demo`
fetches it ahead, e.g. for an offline machine). Before anything is sent, the folder is checked to
be complete and portable: a model that `model.yaml` names by a local path outside the folder would
not exist on the machine that downloads it (export with `model.bundle_models: true`, or name the
model by its hub id), so such a folder is refused unless `--allow-local-models` is given.
"""

from __future__ import annotations

import sys
from pathlib import Path

from slicevlm.command_line import run_command
from slicevlm.errors import ConfigError, MissingFileError, SliceVLMError


class UploadError(SliceVLMError):
    """The hub refused or could not take the upload."""


def local_model_references(folder: Path) -> list[str]:
    """Models that `folder/model.yaml` names by a local path outside the folder (they do not travel)."""
    from slicevlm.checkpoint import read_model_config
    from slicevlm.checkpoint_sources import MODEL_SOURCES, model_name_slot, split_local_name

    config = read_model_config(folder, resolve_sources=False, trust_checkpoint=True)  # read only: nothing is built
    outside = []
    for bundled_name, keys in MODEL_SOURCES.items():
        args, key = model_name_slot(config, keys)
        local = split_local_name(str(args[key]), folder)
        if local is not None and not (folder / local[1]).resolve().is_relative_to(folder.resolve()):
            outside.append(f"{'.'.join(keys)}: {args[key]}")
        elif local is not None and not (folder / local[1]).is_dir():
            outside.append(f"{'.'.join(keys)}: {args[key]} (missing from the folder)")
    return outside


def upload_checkpoint(
    folder: str | Path,
    repo_id: str,
    private: bool = False,
    commit_message: str | None = None,
    allow_local_models: bool = False,
) -> str:
    """Upload a checkpoint folder to a Hub model repo (created when missing); returns the commit URL.

    Args:
        folder: the checkpoint folder a training run wrote.
        repo_id: `user/name` (or `org/name`) of the model repo.
        private: create the repo private (an existing repo keeps its visibility).
        commit_message: the commit message; by default names the folder's stage and version.
        allow_local_models: upload even when `model.yaml` names models by local paths outside the folder.

    Raises:
        MissingFileError: not a checkpoint folder.
        ConfigError: the folder names local models that would not travel, or `repo_id` is malformed.
        UploadError: the hub is switched off (`HF_HUB_OFFLINE`) or refused the upload.
    """
    from slicevlm.checkpoint import read_metadata
    from slicevlm.checkpoint_sources import REPO_ID
    from slicevlm.hub import offline_by_setting

    folder = Path(folder)
    if not folder.is_dir():
        raise MissingFileError(f"{folder} is not a folder; pass the checkpoint folder a training run wrote (e.g. runs/demo/checkpoint).")
    metadata = read_metadata(folder)
    if not REPO_ID.fullmatch(repo_id) or repo_id.startswith("hf-hub:"):
        raise ConfigError(f"repo id {repo_id!r} is not of the form `user/name`.")
    outside = local_model_references(folder)
    if outside and not allow_local_models:
        raise ConfigError(
            f"{folder}/model.yaml names models by local paths that will not exist where the checkpoint is downloaded:\n  "
            + "\n  ".join(outside)
            + "\nExport with `--model.bundle_models true` (copies them into the folder), name them by hub id in "
            "model.yaml, or pass --allow-local-models to upload anyway."
        )
    if offline_by_setting():
        raise UploadError("HF_HUB_OFFLINE is set, so nothing can be uploaded; unset it on a machine with internet access.")
    from huggingface_hub import HfApi

    message = commit_message or f"SliceVLM stage-{metadata.get('stage')} checkpoint (slicevlm {metadata.get('slicevlm_version')})"
    api = HfApi()
    try:
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        commit = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model", commit_message=message)
    except Exception as error:  # the hub client's errors (HTTP, connection, auth) vary by version
        raise UploadError(
            f"Uploading {folder} to {repo_id} failed: {type(error).__name__}: {error}\n"
            "Log in with a token that can write to that repo (`hf auth login`), or check the repo id."
        ) from error
    return str(getattr(commit, "commit_url", commit))


def upload(
    checkpoint: Path, repo_id: str, private: bool = False, message: str | None = None, allow_local_models: bool = False
) -> int:
    """Upload a checkpoint folder to a Hugging Face model repo; load it anywhere with --checkpoint hf://REPO_ID.

    Args:
        checkpoint: the checkpoint folder a training run wrote (e.g. runs/demo/checkpoint)
        repo_id: the model repo, user/name (created when missing)
        private: create the repo private
        message: commit message (default: the stage and package version)
        allow_local_models: upload even if model.yaml names models by local paths outside the folder
    """
    url = upload_checkpoint(checkpoint, repo_id, private, message, allow_local_models)
    print(f"upload: {checkpoint} -> {url}\nLoad it with --checkpoint hf://{repo_id}", file=sys.stdout)
    return 0


def main(argv: list[str] | None = None) -> int:
    """`slicevlm upload CHECKPOINT REPO_ID [--private] [--message TEXT] [--allow-local-models]`."""
    return run_command(upload, argv, prog="slicevlm upload")
