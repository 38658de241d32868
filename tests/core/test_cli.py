"""LightningCLI: every shipped YAML parses; a tiny fit → checkpoint folder → stage 2 → test run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slicevlm.cli import run_lightning_cli

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"


def _config_invocations() -> list[list[str]]:
    """How each file under configs/ is meant to be used (alone, as an overlay, or as a strategy)."""
    invocations = []
    for path in sorted(CONFIGS.rglob("*.yaml")):
        relative = path.relative_to(CONFIGS)
        if relative.parts[0] == "baselines":  # other vision towers: tests/core/test_baselines.py parses them
            continue
        if relative.parts[0] == "strategy":
            invocations.append(["--config", str(CONFIGS / "stage2.yaml"), "--trainer.strategy", str(path)])
        elif relative.parts[0] == "ablations":
            invocations.append(["--config", str(CONFIGS / "stage2.yaml"), "--config", str(path)])
        elif relative.parts[0] == "rehearsal":  # the CPU overlay of `slicevlm rehearse`, on both stages
            invocations += [["--config", str(CONFIGS / stage), "--config", str(path)] for stage in ("stage1.yaml", "stage2.yaml")]
        elif relative.parts[0] == "single_gpu":  # overlays on the stage config their name starts with
            stage = "stage1.yaml" if path.name.startswith("stage1") else "stage2.yaml"
            invocations.append(["--config", str(CONFIGS / stage), "--config", str(path)])
        elif path.name.startswith("demo_small_"):  # overlays on the small real model's stage-1 config
            invocations.append(["--config", str(CONFIGS / "demo_small.yaml"), "--config", str(path)])
        elif path.name.startswith("demo_") and path.name != "demo_small.yaml":
            invocations.append(["--config", str(CONFIGS / "demo.yaml"), "--config", str(path)])
        else:
            invocations.append(["--config", str(path)])
    return invocations


@pytest.mark.parametrize("args", _config_invocations(), ids=lambda a: " + ".join(Path(x).name for x in a if x.endswith(".yaml")))
def test_every_shipped_config_parses(args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_lightning_cli(["fit", *args, "--print_config"])
    assert exit_info.value.code in (0, None)
    printed = capsys.readouterr().out
    assert "class_path: slicevlm.vision.VisionPipeline" in printed
    assert "data_root:" in printed


def test_print_config_documents_the_fields(capsys):
    with pytest.raises(SystemExit):
        run_lightning_cli(["fit", "--config", str(CONFIGS / "stage2.yaml"), "--print_config=comments"])
    printed = capsys.readouterr().out
    assert "ρ, fraction of slices kept" in printed  # VisionPipeline docstring became help text
    assert "rank: 16" in printed


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory) -> Path:
    from slicevlm.testbed.synth import write_synthetic_dataset

    return write_synthetic_dataset(tmp_path_factory.mktemp("synth"), n=24, seed=0, shape=(16, 32, 32))


def _tiny_overrides(tiny_models, root: Path, out: Path) -> list[str]:
    return [
        "--model.vision.init_args.encoder.init_args.model_name", f"local-dir:{tiny_models['encoder']}",
        "--model.language.init_args.model_name", str(tiny_models["llm"]),
        "--data.data_root", str(root),
        "--data.volume_size", "[16, 64, 64]",
        "--data.num_workers", "0",
        "--data.batch_size", "4",
        "--trainer.logger.init_args.save_dir", str(out),
        "--trainer.max_steps", "2",
        "--trainer.limit_val_batches", "1",
        "--trainer.num_sanity_val_steps", "0",
    ]


def test_fit_stage1_then_stage2_writes_a_reloadable_checkpoint_folder(tiny_models, synthetic_root, tmp_path):
    from slicevlm.checkpoint import load_checkpoint_folder

    overrides = _tiny_overrides(tiny_models, synthetic_root, tmp_path / "logs")
    run_lightning_cli(
        ["fit", "--config", str(CONFIGS / "demo.yaml"), *overrides, "--data.preprocessing.window", "[0.5, 2.0]", "--model.export_dir", str(tmp_path / "ckpt1")]
    )
    metadata1 = json.loads((tmp_path / "ckpt1" / "slicevlm.json").read_text(encoding="utf-8"))
    assert metadata1["stage"] == 1 and metadata1["toy"] is True
    assert metadata1["preprocessing"]["window"] == {"center": 0.5, "width": 2.0, "preset": None}  # what the data module used
    assert metadata1["preprocessing"]["axis"] == "axial" and metadata1["preprocessing"]["depth"] == "fixed"
    assert (tmp_path / "ckpt1" / "config.yaml").is_file()  # the resolved training config travels along
    run_lightning_cli(
        ["fit", "--config", str(CONFIGS / "demo.yaml"), "--config", str(CONFIGS / "demo_stage2.yaml"), *overrides,
         "--model.init_from", str(tmp_path / "ckpt1"), "--model.export_dir", str(tmp_path / "ckpt2")]
    )
    folder = tmp_path / "ckpt2"
    assert {p.name for p in folder.iterdir()} == {"model.yaml", "vision.safetensors", "adapter", "tokenizer", "slicevlm.json", "config.yaml", "encoder", "llm"}
    assert len(list((tmp_path / "logs").rglob("events.out.tfevents.*"))) >= 2  # TensorBoard, one run per stage
    model, metadata = load_checkpoint_folder(folder)
    assert metadata["stage"] == 2 and metadata["input_size"] == [16, 64, 64]
    assert model.language.has_lora


def test_merged_config_is_what_lightning_cli_runs_with():
    from slicevlm.cli import merged_config

    demo = merged_config([CONFIGS / "demo.yaml"])
    assert demo["model"]["stage"] == 1 and demo["model"]["vision"]["init_args"]["keep_ratio"] == 0.28
    assert demo["model"]["generation"] == {"max_new_tokens": 48, "engine": "hf"}  # defaults filled in
    stage2 = merged_config([CONFIGS / "demo.yaml", CONFIGS / "demo_stage2.yaml"], ["--data.batch_size", "3"])
    assert stage2["model"]["stage"] == 2 and stage2["data"]["batch_size"] == 3  # later files and overrides win
    tower = merged_config([CONFIGS / "demo.yaml", CONFIGS / "baselines" / "twin" / "med3dvlm.yaml"])["model"]["vision"]
    assert tower["class_path"] == "slicevlm.vision.baselines.Med3DVLMTower"
    assert "keep_ratio" not in tower["init_args"]  # another class_path replaces the section whole
