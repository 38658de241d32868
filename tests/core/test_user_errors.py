"""User errors print as one message (traceback only with --debug / SLICEVLM_DEBUG); hub names fail at once offline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from slicevlm import errors
from slicevlm.io.errors import DataError
from slicevlm.errors import ConfigError, MissingDependencyError, SliceVLMError

REPO = Path(__file__).resolve().parents[2]
DEMO = str(REPO / "configs" / "demo.yaml")
BIOMEDCLIP = "hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224"
ENCODER_KEY = "--model.vision.init_args.encoder.init_args.model_name"


@pytest.fixture(autouse=True)
def _no_debug_env(monkeypatch):
    monkeypatch.setenv(errors.DEBUG_ENV, "0")  # recorded, so the test's value never outlives it


def _lightning_cli(monkeypatch, *args: str) -> int:
    from slicevlm.cli import lightning_cli_main

    # No seed log line: Lightning's log handler may hold another test's closed capture stream.
    monkeypatch.setattr(sys, "argv", ["lightning-cli", *args, "--seed_everything", "false"])
    return lightning_cli_main()


def test_lightning_cli_user_error_is_one_message_and_debug_adds_the_traceback(monkeypatch, capsys):
    assert _lightning_cli(monkeypatch, "fit", "--config", DEMO, ENCODER_KEY, "local-dir:/nonexistent/encoder") == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "lightning-cli fit: error: 'local-dir:/nonexistent/encoder' names a folder that does not exist" in err

    assert _lightning_cli(monkeypatch, "fit", "--debug", "--config", DEMO, ENCODER_KEY, "local-dir:/nonexistent/encoder") == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "ModelNotAvailableError" in err
    assert err.rstrip().endswith("/nonexistent/encoder")  # the message still comes last


def test_debug_env_variable_shows_the_traceback(monkeypatch, capsys):
    monkeypatch.setenv(errors.DEBUG_ENV, "1")
    assert _lightning_cli(monkeypatch, "fit", "--config", DEMO, ENCODER_KEY, "local-dir:/nonexistent/encoder") == 1
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_bad_config_value_is_a_config_error(monkeypatch, capsys, tiny_models):
    code = _lightning_cli(
        monkeypatch, "fit", "--config", DEMO, ENCODER_KEY, f"local-dir:{tiny_models['encoder']}",
        "--model.language.init_args.model_name", str(tiny_models["llm"]), "--model.vision.init_args.keep_ratio", "2.0",
    )
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "lightning-cli fit: error: keep_ratio must be in (0, 1], got 2.0" in err


def test_programming_errors_keep_their_traceback(monkeypatch):
    import slicevlm.cli as cli

    def broken(argv):
        raise KeyError("a bug")

    monkeypatch.setattr(cli, "run_lightning_cli", broken)
    with pytest.raises(KeyError):
        cli.run_reporting_errors(["fit"])


def test_slicevlm_tool_user_error_is_one_message(monkeypatch, capsys):
    import slicevlm.__main__ as entry

    monkeypatch.setitem(entry.COMMANDS, "broken-input", (f"{__name__}:_raise_data_error", "test"))
    assert entry.main(["broken-input"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "slicevlm broken-input: error: /data/x.npy: not a volume; expected a .npy array."
    assert entry.main(["broken-input", "--debug"]) == 1
    assert "Traceback (most recent call last)" in capsys.readouterr().err
    assert os.environ[errors.DEBUG_ENV] == "0"  # the switch held for that call only


def _raise_data_error(argv: list[str]) -> int:
    raise DataError("/data/x.npy: not a volume; expected a .npy array.")


def test_subprocess_lightning_cli_prints_no_traceback():
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "DS_ACCELERATOR": "cpu"}
    env.pop(errors.DEBUG_ENV, None)
    done = subprocess.run(
        [sys.executable, "-m", "slicevlm", "fit", "--config", DEMO, ENCODER_KEY, BIOMEDCLIP],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    assert "slicevlm fit: error: Cannot load the slice encoder" in done.stderr
    assert "hf download microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224" in done.stderr


# -- hub names --------------------------------------------------------------------------------------
@pytest.fixture
def no_network(monkeypatch):
    """Any download attempt fails the test (cache lookups with `local_files_only=True` are allowed)."""
    import huggingface_hub

    calls: list[tuple] = []
    real = huggingface_hub.hf_hub_download

    def refuse(*args, **kwargs):
        if kwargs.get("local_files_only"):
            return real(*args, **kwargs)
        calls.append(args)
        raise AssertionError(f"the hub was asked: {args} {kwargs}")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", refuse)
    yield calls
    assert calls == [], "the hub client was called"


def test_uncached_hub_name_fails_at_once_with_hf_hub_offline(no_network):
    from slicevlm.hub import ModelNotAvailableError
    from slicevlm.vision import SliceEncoder

    with pytest.raises(ModelNotAvailableError) as error:
        SliceEncoder(BIOMEDCLIP)
    message = str(error.value)
    assert "HF_HUB_OFFLINE is set, so the hub was not asked" in message
    assert "hf download microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224" in message
    assert "local-dir:/path/to/folder" in message


def test_unreachable_hub_is_not_retried(monkeypatch, no_network):
    from slicevlm import hub

    monkeypatch.setattr(hub, "offline_by_setting", lambda: False)
    monkeypatch.setattr(hub, "hub_answers", lambda: False)
    with pytest.raises(hub.ModelNotAvailableError, match=r"the hub \(huggingface.co\) cannot be reached"):
        hub.hub_file("org/model", ("open_clip_config.json",), "hf-hub:org/model", "slice encoder", "model.x")
    assert hub.local_files_only("meta-llama/Llama-2-7b-hf") is True


def test_gated_llm_message_says_how_to_log_in(no_network):
    from slicevlm.hub import ModelNotAvailableError
    from slicevlm.llm.language_model import LanguageModel

    with pytest.raises(ModelNotAvailableError) as error:
        LanguageModel("meta-llama/Llama-2-7b-hf")
    assert "hf download meta-llama/Llama-2-7b-hf" in str(error.value) and "hf auth login" in str(error.value)


def test_cached_hub_file_is_read_offline(monkeypatch, tmp_path, no_network):
    from huggingface_hub import constants

    from slicevlm import hub

    snapshot = tmp_path / "models--org--model" / "snapshots" / "0123abc"
    snapshot.mkdir(parents=True)
    (snapshot / "open_clip_config.json").write_text("{}", encoding="utf-8")
    (tmp_path / "models--org--model" / "refs").mkdir()
    (tmp_path / "models--org--model" / "refs" / "main").write_text("0123abc", encoding="utf-8")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    path = hub.hub_file("org/model", ("open_clip_config.json",), "hf-hub:org/model", "slice encoder", "model.x")
    assert Path(path) == snapshot / "open_clip_config.json"
    with pytest.raises(hub.ModelNotAvailableError):  # a file the cache lacks is still refused at once
        hub.hub_file("org/model", ("open_clip_model.safetensors",), "hf-hub:org/model", "slice encoder", "model.x")


# -- trainer settings vs the machine ------------------------------------------------------------------
DEEPSPEED = {"class_path": "lightning.pytorch.strategies.DeepSpeedStrategy", "init_args": {"stage": 2}}


def test_deepspeed_strategy_without_deepspeed_names_the_gpu_extra(monkeypatch):
    import importlib.util

    from slicevlm.cli import check_trainer_fits_machine

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "deepspeed" else real(name, *a))
    with pytest.raises(MissingDependencyError, match=r"pip install 'slicevlm\[gpu\]'.*configs/single_gpu"):
        check_trainer_fits_machine({"strategy": DEEPSPEED, "accelerator": "cpu", "devices": 1})
    check_trainer_fits_machine({"strategy": "auto", "accelerator": "cpu", "devices": 1})


def test_stage_config_on_a_smaller_machine_stops_before_any_model_is_built(monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert _lightning_cli(monkeypatch, "fit", "--config", str(REPO / "configs" / "stage1.yaml")) == 1
    err = capsys.readouterr().err
    # The stage config names hub models that are not cached here: reaching them would give another message.
    assert "lightning-cli fit: error: trainer.accelerator='gpu' with trainer.devices=4, but this machine has 1" in err


def test_more_gpus_than_the_machine_has_is_refused(monkeypatch):
    import torch

    from slicevlm.cli import check_trainer_fits_machine

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ConfigError, match=r"trainer.devices=4, but this machine has 1 CUDA GPU.*configs/single_gpu/stage1.yaml"):
        check_trainer_fits_machine({"strategy": "auto", "accelerator": "gpu", "devices": 4})
    check_trainer_fits_machine({"strategy": "auto", "accelerator": "gpu", "devices": 1})


def test_missing_optional_module_names_its_extra():
    with pytest.raises(MissingDependencyError, match=r"LitData shards needs the `litdata_absent` package"):
        errors.require("litdata_absent", "LitData shards")
    assert errors.install_hint("bitsandbytes") == "pip install 'slicevlm[gpu]'"
    assert errors.install_hint("litserve") == "pip install 'slicevlm[serve]'"


def test_module_not_found_from_lightning_is_translated():
    from slicevlm.cli import _as_user_error

    translated = _as_user_error(ModuleNotFoundError("No module named 'deepspeed'", name="deepspeed"))
    assert isinstance(translated, MissingDependencyError) and "slicevlm[gpu]" in str(translated)
    assert _as_user_error(ModuleNotFoundError("No module named 'numpy_x'", name="numpy_x")) is None


# -- helpers ------------------------------------------------------------------------------------------
def test_debug_flag_is_taken_out_before_the_command_parses():
    assert errors.take_debug_flag(["fit", "--debug", "--config", "a.yaml"]) == (["fit", "--config", "a.yaml"], True)
    assert errors.take_debug_flag(["fit", "--", "--debug"]) == (["fit", "--", "--debug"], False)


def test_error_from_a_dataloader_worker_shows_the_original_message():
    import torch
    from torch.utils.data import DataLoader, Dataset

    class Broken(Dataset):
        def __len__(self) -> int:
            return 2

        def __getitem__(self, index: int):
            raise DataError("row 3 of train.csv: image_path 'a.npy' does not exist.")

    with pytest.raises(DataError) as error:
        next(iter(DataLoader(Broken(), num_workers=1, multiprocessing_context="fork")))
    assert "Original Traceback" in str(error.value)  # torch puts the worker's traceback in the message
    assert errors.user_message(error.value) == "row 3 of train.csv: image_path 'a.npy' does not exist."
    del torch


def test_every_project_error_is_a_slicevlm_error():
    from slicevlm.store.jsonl import JsonlCorruptError
    from slicevlm.hub import ModelNotAvailableError
    from slicevlm.inference.errors import InputError
    from slicevlm.metrics.records import RecordError
    from slicevlm.metrics.resources import MissingResourceError
    from slicevlm.training.errors import RunError

    for kind in (DataError, InputError, RunError, ModelNotAvailableError, RecordError, MissingResourceError, JsonlCorruptError):
        assert issubclass(kind, SliceVLMError), kind
