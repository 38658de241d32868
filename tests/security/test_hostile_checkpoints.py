"""Hostile checkpoints: a model.yaml may only name SliceVLM's model classes; a checkpoint name is a
local folder unless it says hf://.

Each payload would create a marker file if it ran; the tests assert that the file never appears.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from slicevlm.checkpoint import load_checkpoint_folder, read_model_config
from slicevlm.trusted_classes import MODEL_CLASSES, UntrustedCheckpointError, allow_model_class, check_model_classes, class_paths
from slicevlm.vision.encoders import OpenClipSliceEncoder

SHIPPED_CONFIGS = Path(__file__).resolve().parents[2] / "src" / "slicevlm" / "configs"


class RenamedEncoder(OpenClipSliceEncoder):
    """A harmless encoder class that is not on the allow-list (a user's own plugin)."""


RENAMED = f"{__name__}.RenamedEncoder"


def hostile_copy(tiny_checkpoint: Path, tmp_path: Path, edit) -> Path:
    """A copy of the tiny checkpoint whose model.yaml `edit(config)` changed."""
    folder = tmp_path / "evil-ckpt"
    shutil.copytree(tiny_checkpoint, folder)
    config = yaml.safe_load((folder / "model.yaml").read_text(encoding="utf-8"))
    edit(config)
    (folder / "model.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return folder


def payloads(marker: Path) -> dict[str, dict]:
    """`class_path` descriptions that would create `marker` if they were called."""
    script = marker.parent / "payload.py"
    script.write_text(f"open({str(marker)!r}, 'w').close()\n", encoding="utf-8")
    touch = f"touch {marker}"
    return {
        "os.system": {"class_path": "os.system", "init_args": {"command": touch}},
        "subprocess.Popen": {"class_path": "subprocess.Popen", "init_args": {"args": ["touch", str(marker)]}},
        "runpy.run_path": {"class_path": "runpy.run_path", "init_args": {"path_name": str(script)}},
        "builtins.exec": {"class_path": "builtins.exec", "init_args": {"source": f"open({str(marker)!r}, 'w').close()"}},
        # a project function that writes files: not a model class, so not allowed either
        "slicevlm.hub_upload.main": {"class_path": "slicevlm.hub_upload.main", "init_args": {"argv": [str(marker), "x/y"]}},
    }


PAYLOADS = ["os.system", "subprocess.Popen", "runpy.run_path", "builtins.exec", "slicevlm.hub_upload.main"]


@pytest.mark.parametrize("name", PAYLOADS)
@pytest.mark.parametrize("where", ["vision", "encoder"])
def test_model_yaml_naming_a_callable_is_refused_before_import(tiny_checkpoint, tmp_path, name, where):
    marker = tmp_path / "pwned"
    payload = payloads(marker)[name]

    def edit(config: dict) -> None:
        if where == "vision":
            config["vision"] = payload
        else:  # nested: VisionPipeline is allowed, its encoder is the payload (built first)
            config["vision"]["init_args"]["encoder"] = payload

    folder = hostile_copy(tiny_checkpoint, tmp_path, edit)
    with pytest.raises(UntrustedCheckpointError) as caught:
        load_checkpoint_folder(folder)
    message = str(caught.value)
    assert name in message and str(folder / "model.yaml") in message and "--trust-checkpoint" in message
    key = "vision.class_path" if where == "vision" else "vision.init_args.encoder.class_path"
    assert key in message
    assert not marker.exists()


def test_ask_refuses_a_hostile_checkpoint_and_runs_nothing(tiny_checkpoint, tmp_path, capsys):
    from slicevlm.inference.cli import ask_main

    marker = tmp_path / "pwned"
    folder = hostile_copy(tiny_checkpoint, tmp_path, lambda c: c.update(vision=payloads(marker)["subprocess.Popen"]))
    volume = tmp_path / "ct.npy"
    np.save(volume, np.zeros((4, 16, 16), dtype=np.float32))
    with pytest.raises(SystemExit) as exit_:
        ask_main([str(volume), "What?", "--checkpoint", str(folder), "--device", "cpu"])
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert "'subprocess.Popen'" in err and "--trust-checkpoint" in err and "Traceback" not in err
    assert not marker.exists()


def test_trust_checkpoint_lets_a_folder_name_another_class(tiny_checkpoint, tmp_path):
    def edit(config: dict) -> None:
        config["vision"]["init_args"]["encoder"]["class_path"] = RENAMED

    folder = hostile_copy(tiny_checkpoint, tmp_path, edit)
    with pytest.raises(UntrustedCheckpointError, match="RenamedEncoder"):
        load_checkpoint_folder(folder)
    model, _ = load_checkpoint_folder(folder, trust_checkpoint=True)
    assert type(model.vision.encoder) is RenamedEncoder


def test_a_registered_class_loads_without_the_flag(tiny_checkpoint, tmp_path, monkeypatch):
    import slicevlm.trusted_classes as trusted

    monkeypatch.setattr(trusted, "_registered", set())
    folder = hostile_copy(tiny_checkpoint, tmp_path, lambda c: c["vision"]["init_args"]["encoder"].update(class_path=RENAMED))
    allow_model_class(RenamedEncoder)
    model, _ = load_checkpoint_folder(folder)
    assert type(model.vision.encoder) is RenamedEncoder


def test_a_freshly_saved_checkpoint_loads_without_the_flag(tiny_checkpoint):
    model, metadata = load_checkpoint_folder(tiny_checkpoint)
    assert metadata["stage"] == 2 and model.vision is not None


def test_every_allowed_name_is_a_model_class():
    import importlib

    from torch import nn

    for class_path in sorted(MODEL_CLASSES):
        module, _, name = class_path.rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        assert isinstance(cls, type) and issubclass(cls, nn.Module), class_path


def model_sections() -> list[tuple[str, dict]]:
    found = []
    for path in sorted(SHIPPED_CONFIGS.rglob("*.yaml")):
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        model = config.get("model") if isinstance(config, dict) else None
        if isinstance(model, dict) and ("vision" in model or "language" in model):
            found.append((str(path.relative_to(SHIPPED_CONFIGS)), {k: model[k] for k in ("vision", "language") if k in model}))
    return found


def test_every_shipped_config_names_only_allowed_classes():
    sections = model_sections()
    assert len(sections) >= 10
    named = set()
    for name, section in sections:
        check_model_classes(section, name)  # raises on a class the allow-list lacks
        named |= {value for _, value in class_paths(section)}
    assert "slicevlm.vision.VisionPipeline" in named and "slicevlm.llm.LanguageModel" in named


def test_read_model_config_checks_before_returning(tiny_checkpoint, tmp_path):
    folder = hostile_copy(tiny_checkpoint, tmp_path, lambda c: c["language"].update(class_path="os.system"))
    with pytest.raises(UntrustedCheckpointError, match=r"language\.class_path.*'os\.system'"):
        read_model_config(folder)
    assert read_model_config(folder, trust_checkpoint=True)["language"]["class_path"] == "os.system"


# -- checkpoint names: a local folder unless hf:// ---------------------------------------------------
@pytest.fixture
def no_hub(monkeypatch):
    """Fail the test if anything asks the Hugging Face Hub for a snapshot."""
    import huggingface_hub

    def refuse(*args, **kwargs):
        raise AssertionError(f"the hub was asked for {args} {kwargs}")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", refuse)
    monkeypatch.setattr("slicevlm.hub.hub_answers", lambda: pytest.fail("the hub's host was contacted"))


def test_a_missing_folder_is_an_error_not_a_hub_repo(tmp_path, monkeypatch, no_hub):
    from slicevlm.checkpoint import resolve_checkpoint
    from slicevlm.errors import MissingFileError

    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    for name in ("runs/typo", "org/name", "hf-hub:org/name"):
        with pytest.raises(MissingFileError) as caught:
            resolve_checkpoint(name)
        assert name in str(caught.value) and "hf://org/name" in str(caught.value)


def test_ask_with_a_typo_names_the_folder(tmp_path, monkeypatch, no_hub, capsys):
    from slicevlm.inference.cli import ask_main

    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "ct.npy", np.zeros((4, 16, 16), dtype=np.float32))
    with pytest.raises(SystemExit):
        ask_main(["ct.npy", "What?", "--checkpoint", "runs/typo", "--device", "cpu"])
    err = capsys.readouterr().err
    assert "runs/typo" in err and "hf://org/name" in err


def test_hf_scheme_goes_to_the_hub(tmp_path, monkeypatch):
    import huggingface_hub

    from slicevlm.checkpoint import resolve_checkpoint

    calls = []

    def snapshot(repo, **kwargs):
        calls.append((repo, kwargs.get("revision")))
        return str(tmp_path)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot)
    assert resolve_checkpoint("hf://org/name") == tmp_path
    assert resolve_checkpoint("hf://org/name@v1.0") == tmp_path
    assert calls == [("org/name", None), ("org/name", "v1.0")]


def test_a_malformed_hf_name_is_refused(no_hub):
    from slicevlm.checkpoint import resolve_checkpoint
    from slicevlm.errors import MissingFileError

    for name in ("hf://", "hf://name-only", "hf://org/name/extra", "hf://../x"):
        with pytest.raises(MissingFileError, match="hf://org/name"):
            resolve_checkpoint(name)


def test_serve_checks_the_classes_before_starting_and_trusts_only_on_request(tiny_checkpoint, tmp_path, capsys, monkeypatch):
    pytest.importorskip("litserve")
    from slicevlm.serve import server
    from slicevlm.trusted_classes import TRUST_ENV

    monkeypatch.setenv(TRUST_ENV, "")  # restored after the test
    folder = hostile_copy(tiny_checkpoint, tmp_path, lambda c: c["vision"]["init_args"]["encoder"].update(class_path=RENAMED))
    parser = server.build_parser()
    with pytest.raises(SystemExit):
        server.check_args(parser, parser.parse_args(["--checkpoint", str(folder)]))
    err = capsys.readouterr().err
    assert "RenamedEncoder" in err and "--trust-checkpoint" in err
    with pytest.raises(SystemExit):
        server.check_args(parser, parser.parse_args(["--checkpoint", "runs/typo"]))
    assert "runs/typo" in capsys.readouterr().err
    args = parser.parse_args(["--checkpoint", str(folder), "--trust-checkpoint"])
    server.check_args(parser, args)
    assert args.checkpoint == folder
    # the server's worker processes load the model with the default trust_checkpoint=False: the folder is trusted there
    model, _ = load_checkpoint_folder(folder)
    assert type(model.vision.encoder) is RenamedEncoder
    with pytest.raises(UntrustedCheckpointError):  # and only that folder
        load_checkpoint_folder(hostile_copy(tiny_checkpoint, tmp_path / "other", lambda c: c["vision"]["init_args"]["encoder"].update(class_path=RENAMED)))


def test_reproduce_refuses_a_hostile_checkpoint_unless_trusted(tiny_checkpoint, tmp_path):
    from slicevlm.reproduction.evaluation import evaluate_checkpoint

    marker = tmp_path / "pwned"
    folder = hostile_copy(tiny_checkpoint, tmp_path, lambda c: c.update(vision=payloads(marker)["subprocess.Popen"]))
    with pytest.raises(UntrustedCheckpointError, match="subprocess.Popen"):
        evaluate_checkpoint(folder, tmp_path / "data", ["vqa"], tmp_path / "out", "m3d", None, 1, device="cpu")
    assert not marker.exists()
