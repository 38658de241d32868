"""Checkpoint folders load from any working directory, after a move, and as hf://org/name from the Hugging Face cache (offline)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from slicevlm.checkpoint import load_checkpoint_folder, save_checkpoint_folder
from slicevlm.errors import MissingFileError
from slicevlm.hub import ModelNotAvailableError
from slicevlm.llm.generation_config import GenerationConfig
from slicevlm.llm.language_model import LanguageModel
from slicevlm.model import SliceVLM
from slicevlm.vision import SliceEncoder
from slicevlm.vision.pipeline import VisionPipeline

INPUT_SIZE = (32, 64, 64)
REVISION = "0123456789abcdef0123456789abcdef01234567"


def _model(encoder_name: str, llm_name: str) -> SliceVLM:
    torch.manual_seed(0)
    encoder = SliceEncoder(encoder_name, dtype="float32")
    return SliceVLM(VisionPipeline(encoder), LanguageModel(llm_name, dtype="float32")).eval()


def _logits(model: SliceVLM) -> torch.Tensor:
    torch.manual_seed(1)
    volume = torch.rand(1, *INPUT_SIZE)
    with torch.no_grad():
        return model(volume, **model.tokenize_for_training(["which organ?"], ["liver"], INPUT_SIZE[0])).logits


def _model_names(folder: Path) -> tuple[str, str, str]:
    config = yaml.safe_load((folder / "model.yaml").read_text(encoding="utf-8"))
    language = config["language"]["init_args"]
    return config["vision"]["init_args"]["encoder"]["init_args"]["model_name"], language["model_name"], language["tokenizer_name"]


@pytest.fixture
def relative_models(tiny_models, tmp_path, monkeypatch) -> Path:
    """The tiny models copied to `<tmp>/root/tiny/`, with the working directory at `<tmp>/root` (a repo root)."""
    root = tmp_path / "root"
    for part in ("encoder", "llm"):
        shutil.copytree(tiny_models[part], root / "tiny" / part)
    monkeypatch.chdir(root)
    return root


@pytest.fixture(scope="module")
def bundled_checkpoint(tiny_models, tmp_path_factory) -> Path:
    """A checkpoint folder with both tiny models inside."""
    model = _model(f"local-dir:{tiny_models['encoder']}", str(tiny_models["llm"]))
    return save_checkpoint_folder(model, tmp_path_factory.mktemp("bundled") / "ckpt", stage=1, input_size=INPUT_SIZE)


def test_small_models_travel_inside_the_folder_which_loads_after_a_move_from_anywhere(relative_models, tmp_path, monkeypatch):
    model = _model("local-dir:tiny/encoder", "tiny/llm")  # relative to the working directory, as the demo config
    expected = _logits(model)
    folder = save_checkpoint_folder(model, Path("runs/ckpt"), stage=1, input_size=INPUT_SIZE)
    assert _model_names(folder) == ("local-dir:./encoder", "./llm", "./tokenizer")
    assert (folder / "encoder" / "open_clip_model.safetensors").is_file() and (folder / "llm" / "config.json").is_file()
    shutil.rmtree(relative_models / "tiny")  # the models it was trained from are gone
    moved = shutil.move(str(folder), str(tmp_path / "elsewhere" / "copied"))
    monkeypatch.chdir(tmp_path)
    reloaded, metadata = load_checkpoint_folder(Path(moved))
    assert metadata["stage"] == 1
    assert torch.allclose(_logits(reloaded), expected, atol=1e-5)


def test_large_models_are_named_by_absolute_path(relative_models, tmp_path, monkeypatch):
    monkeypatch.setattr("slicevlm.checkpoint_sources.BUNDLE_LIMIT_BYTES", 1024)  # the tiny models count as large
    model = _model("local-dir:tiny/encoder", "tiny/llm")
    folder = save_checkpoint_folder(model, tmp_path / "ckpt", stage=1, input_size=INPUT_SIZE)
    encoder, llm, _ = _model_names(folder)
    assert encoder == f"local-dir:{relative_models / 'tiny' / 'encoder'}" and llm == str(relative_models / "tiny" / "llm")
    assert not (folder / "encoder").exists() and not (folder / "llm").exists()
    # bundle_models=True copies them whatever their size; bundle_models=False never does
    bundled = save_checkpoint_folder(model, tmp_path / "bundled", stage=1, input_size=INPUT_SIZE, bundle_models=True)
    assert _model_names(bundled)[:2] == ("local-dir:./encoder", "./llm") and (bundled / "llm").is_dir()
    monkeypatch.setattr("slicevlm.checkpoint_sources.BUNDLE_LIMIT_BYTES", 10**9)
    save_checkpoint_folder(model, bundled, stage=1, input_size=INPUT_SIZE, bundle_models=False)
    assert _model_names(bundled)[:2] == (encoder, llm) and not (bundled / "llm").exists()  # the earlier copy is removed
    monkeypatch.chdir(tmp_path)
    load_checkpoint_folder(folder)  # from another working directory


def test_old_folders_with_relative_names_load_from_the_repo_root_and_say_where_they_looked(relative_models, tmp_path, monkeypatch):
    model = _model("local-dir:tiny/encoder", "tiny/llm")
    folder = save_checkpoint_folder(model, tmp_path / "old", stage=1, input_size=INPUT_SIZE, bundle_models=False)
    config = yaml.safe_load((folder / "model.yaml").read_text(encoding="utf-8"))
    config["vision"]["init_args"]["encoder"]["init_args"]["model_name"] = "local-dir:tiny/encoder"  # as folders were written
    config["language"]["init_args"]["model_name"] = "tiny/llm"
    config["language"]["init_args"]["tokenizer_name"] = None
    (folder / "model.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    load_checkpoint_folder(folder)  # from the folder training ran in
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with pytest.raises(ModelNotAvailableError) as caught:
        load_checkpoint_folder(folder)
    message = str(caught.value)
    assert str(folder / "tiny" / "encoder") in message and str(elsewhere / "tiny" / "encoder") in message
    assert "local-dir:tiny/encoder" in message


def _hub_cache(root: Path, repo_id: str, checkpoint: Path) -> Path:
    """The Hugging Face cache layout (`models--user--repo/snapshots/<rev>/`, `refs/main`) holding `checkpoint`."""
    from huggingface_hub.file_download import repo_folder_name

    storage = root / repo_folder_name(repo_id=repo_id, repo_type="model")
    shutil.copytree(checkpoint, storage / "snapshots" / REVISION)
    (storage / "refs").mkdir()
    (storage / "refs" / "main").write_text(REVISION, encoding="utf-8")
    return storage / "snapshots" / REVISION


@pytest.fixture
def hub_cache(tmp_path, monkeypatch) -> Path:
    """An empty Hugging Face cache that huggingface_hub reads (HF_HUB_CACHE), offline."""
    from huggingface_hub import constants

    cache = tmp_path / "hf" / "hub"
    cache.mkdir(parents=True)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))  # read once at import
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def test_a_hub_repo_id_loads_from_the_offline_cache(bundled_checkpoint, hub_cache, tmp_path, monkeypatch):
    from slicevlm.inference.predictor import VolumeQA

    snapshot = _hub_cache(hub_cache, "someone/slicevlm-tiny", bundled_checkpoint)
    monkeypatch.chdir(tmp_path)
    expected = _logits(load_checkpoint_folder(bundled_checkpoint)[0])
    model, metadata = load_checkpoint_folder("hf://someone/slicevlm-tiny")
    assert metadata["stage"] == 1 and torch.allclose(_logits(model), expected, atol=1e-5)
    qa = VolumeQA.from_checkpoint("hf://someone/slicevlm-tiny", device="cpu", generation=GenerationConfig(max_new_tokens=2))
    assert Path(qa.metadata["checkpoint"]) == snapshot
    assert qa.ask(torch.rand(*INPUT_SIZE).numpy(), "Which plane?").text is not None


def test_the_ask_command_takes_a_repo_id_through_HF_HUB_CACHE(bundled_checkpoint, tmp_path):
    import json
    import subprocess
    import sys

    import numpy as np

    cache = tmp_path / "cache"
    _hub_cache(cache, "someone/slicevlm-tiny", bundled_checkpoint)
    np.save(tmp_path / "scan.npy", np.random.default_rng(0).random(INPUT_SIZE, dtype=np.float32))
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    argv = [sys.executable, "-m", "slicevlm", "ask", "scan.npy", "Which plane?", "--checkpoint", "hf://someone/slicevlm-tiny",
            "--device", "cpu", "--max-new-tokens", "2", "--json"]
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["checkpoint"] == "hf://someone/slicevlm-tiny"
    missing = subprocess.run([*argv[:7], "hf://someone/absent", *argv[8:]], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    assert "hf download someone/absent" in missing.stderr and "HF_HUB_OFFLINE is set" in missing.stderr


def test_a_repo_id_missing_from_the_cache_fails_at_once_and_says_what_to_fetch(hub_cache, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelNotAvailableError) as caught:
        load_checkpoint_folder("hf://someone/absent")
    message = str(caught.value)
    assert "hf download someone/absent" in message and str(hub_cache) in message
    assert "'hf://someone/absent'" in message
    for name in ("runs/nothing/here", "someone/absent"):  # without hf:// a name is a local folder
        with pytest.raises(MissingFileError, match=f"checkpoint folder {name} \\(relative to .*\\) does not exist.*hf://org/name"):
            load_checkpoint_folder(name)


# ----- slicevlm upload ---------------------------------------------------------------------------


@pytest.fixture
def recorded_hub(monkeypatch) -> list[tuple[str, dict]]:
    """HfApi with its two network calls replaced by recorders; the hub switched on."""
    from huggingface_hub import HfApi, constants

    calls: list[tuple[str, dict]] = []
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kw: calls.append(("create_repo", {"repo_id": repo_id, **kw})))

    def upload_folder(self, **kwargs):
        calls.append(("upload_folder", kwargs))
        return "https://huggingface.co/someone/slicevlm-tiny/commit/abc"

    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    return calls


def test_upload_sends_the_folder_with_upload_folder(bundled_checkpoint, recorded_hub, capsys):
    from slicevlm.__main__ import main

    assert main(["upload", str(bundled_checkpoint), "someone/slicevlm-tiny", "--private"]) == 0
    (create, create_args), (upload, upload_args) = recorded_hub
    assert create == "create_repo" and create_args["repo_id"] == "someone/slicevlm-tiny" and create_args["private"] is True
    assert upload == "upload_folder" and upload_args["folder_path"] == str(bundled_checkpoint)
    assert upload_args["repo_id"] == "someone/slicevlm-tiny" and upload_args["repo_type"] == "model"
    assert "stage-1 checkpoint" in upload_args["commit_message"]
    assert "Load it with --checkpoint hf://someone/slicevlm-tiny" in capsys.readouterr().out


def test_upload_refuses_what_would_not_load_elsewhere(bundled_checkpoint, tiny_models, recorded_hub, tmp_path, monkeypatch, capsys):
    from slicevlm.__main__ import main

    model = _model(f"local-dir:{tiny_models['encoder']}", str(tiny_models["llm"]))
    pinned = save_checkpoint_folder(model, tmp_path / "pinned", stage=1, input_size=INPUT_SIZE, bundle_models=False)
    assert main(["upload", str(pinned), "someone/x"]) == 1
    err = capsys.readouterr().err
    assert "names models by local paths" in err and str(tiny_models["llm"]) in err and "Traceback" not in err
    assert main(["upload", str(pinned), "someone/x", "--allow-local-models"]) == 0
    assert main(["upload", str(tmp_path), "someone/x"]) == 1  # not a checkpoint folder
    assert "is not a SliceVLM checkpoint folder" in capsys.readouterr().err
    assert main(["upload", str(bundled_checkpoint), "not-a-repo-id"]) == 1
    assert "is not of the form `user/name`" in capsys.readouterr().err
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["upload", str(bundled_checkpoint), "someone/x"]) == 1
    assert "HF_HUB_OFFLINE is set" in capsys.readouterr().err
    assert [name for name, _ in recorded_hub] == ["create_repo", "upload_folder"]  # only the --allow-local-models run


def test_a_folder_of_another_format_is_refused_with_what_to_do(tmp_path):
    import json

    from slicevlm.checkpoint import FORMAT_VERSION, REQUIRED_FILES, read_metadata

    folder = tmp_path / "old"
    folder.mkdir()
    for name in REQUIRED_FILES:
        (folder / name).touch()
    (folder / "slicevlm.json").write_text(json.dumps({"format": FORMAT_VERSION - 1, "input_size": [8, 64, 64]}), encoding="utf-8")
    with pytest.raises(ValueError, match=rf"format {FORMAT_VERSION - 1}; this version of SliceVLM reads format {FORMAT_VERSION} only.*make demo"):
        read_metadata(folder)
    (folder / "slicevlm.json").write_text(json.dumps({"format": FORMAT_VERSION, "input_size": [8, 64, 64]}), encoding="utf-8")
    assert read_metadata(folder)["format"] == FORMAT_VERSION
