"""DeepSpeed ZeRO-3: no frozen weight in any checkpoint file, and conversion into a plain inference folder.

On the CPU a real ZeRO-3 checkpoint is written by DeepSpeed itself from two gloo processes
(`zero3_writer.py`, doing what Lightning's DeepSpeed strategy does, which needs CUDA); the GPU test
runs the whole thing through Lightning's strategy.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from slicevlm.training.zero_export import main as export_zero_main

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def tensors_and_names(value, names: list[str]) -> int:
    """Total elements of every tensor in a loaded checkpoint file; every string found goes to `names`."""
    if isinstance(value, torch.Tensor):
        return value.numel()
    if isinstance(value, dict):
        names.extend(k for k in value if isinstance(k, str))
        return sum(tensors_and_names(v, names) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(tensors_and_names(v, names) for v in value)
    if isinstance(value, str):
        names.append(value)
    return 0


def write(tiny_models, out: Path, *flags: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(HERE)])}
    command = [sys.executable, str(HERE / "zero3_writer.py"), str(tiny_models["encoder"]), str(tiny_models["llm"]), str(out), *flags]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def frozen_and_trainable(tiny_models) -> tuple[list[str], int, int]:
    sys.path.insert(0, str(HERE))
    from zero3_writer import build

    module, _ = build(str(tiny_models["encoder"]), str(tiny_models["llm"]))
    frozen = [name for name, p in module.named_parameters() if not p.requires_grad]
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return frozen, trainable, sum(p.numel() for p in module.parameters() if not p.requires_grad)


@pytest.fixture(scope="module")
def zero3_run(tiny_models, tmp_path_factory) -> Path:
    pytest.importorskip("deepspeed")
    out = tmp_path_factory.mktemp("zero3")
    write(tiny_models, out)
    return out


@pytest.mark.slow
def test_zero3_files_hold_no_frozen_weight(tiny_models, zero3_run: Path) -> None:
    checkpoint = zero3_run / "last.ckpt"
    files = sorted((checkpoint / "checkpoint").iterdir())
    assert [f.name for f in files] == [
        "zero_pp_rank_0_mp_rank_00_model_states.pt", "zero_pp_rank_0_mp_rank_00_optim_states.pt",
        "zero_pp_rank_1_mp_rank_00_model_states.pt", "zero_pp_rank_1_mp_rank_00_optim_states.pt",
    ]
    frozen, trainable, frozen_count = frozen_and_trainable(tiny_models)
    names: list[str] = []
    stored = sum(tensors_and_names(torch.load(f, map_location="cpu", weights_only=False), names) for f in files)
    leaked = sorted(set(frozen) & set(names))
    assert not leaked, f"frozen parameters named in DeepSpeed's files: {leaked[:5]}"
    # fp32 master weights + Adam's two moments of the trainable parameters; the frozen ones would add frozen_count
    assert 3 * trainable <= stored < 3 * trainable + frozen_count // 10, (stored, trainable, frozen_count)


@pytest.mark.slow
def test_zero3_checkpoint_converts_to_the_folder_training_exports(tiny_models, zero3_run: Path, tmp_path, capsys) -> None:
    from safetensors.torch import load_file

    from slicevlm.checkpoint import load_checkpoint_folder

    out = tmp_path / "converted"
    assert export_zero_main([str(zero3_run / "last.ckpt"), str(out)]) == 0
    assert {p.name for p in out.iterdir()} == {"model.yaml", "vision.safetensors", "adapter", "tokenizer", "slicevlm.json", "config.yaml", "encoder", "llm"}
    for relative in ("vision.safetensors", "adapter/adapter_model.safetensors"):
        converted, exported = load_file(out / relative), load_file(zero3_run / "export" / relative)
        assert converted.keys() == exported.keys() and converted
        assert all(torch.equal(converted[k], exported[k]) for k in converted), relative
        assert any(v.abs().sum() > 0 for v in exported.values())  # real weights, not ZeRO-3's empty placeholders
    model, metadata = load_checkpoint_folder(out)
    assert metadata["stage"] == 2 and model.language.has_lora
    assert export_zero_main([str(zero3_run / "last.ckpt"), str(out)]) == 2
    assert "exists and is not empty; choose another folder or pass --overwrite" in capsys.readouterr().err


@pytest.mark.slow
def test_keeping_frozen_parameters_would_be_caught(tiny_models, tmp_path) -> None:
    """The check above fails when DeepSpeed saves the frozen weights too (exclude_frozen_parameters off)."""
    pytest.importorskip("deepspeed")
    write(tiny_models, tmp_path, "--keep-frozen")
    frozen, trainable, frozen_count = frozen_and_trainable(tiny_models)
    files = sorted((tmp_path / "last.ckpt" / "checkpoint").iterdir())
    stored = sum(tensors_and_names(torch.load(f, map_location="cpu", weights_only=False), []) for f in files)
    assert stored >= 3 * trainable + frozen_count


def test_export_zero_refuses_what_is_not_a_deepspeed_checkpoint(tmp_path, capsys) -> None:
    assert export_zero_main([str(tmp_path / "missing"), str(tmp_path / "out")]) == 2
    assert "missing: not a folder" in capsys.readouterr().err
    (tmp_path / "plain").mkdir()
    assert export_zero_main([str(tmp_path / "plain"), str(tmp_path / "out")]) == 2
    assert "no `latest` file, so this is not a DeepSpeed checkpoint folder" in capsys.readouterr().err


@pytest.mark.gpu
def test_lightning_zero3_run_resumes_exports_and_converts(tiny_models, tmp_path) -> None:
    """Through Lightning's DeepSpeed strategy on a GPU: last.ckpt folders, resume, export == conversion."""
    pytest.importorskip("deepspeed")
    import lightning.pytorch as pl
    from lightning.pytorch.strategies import DeepSpeedStrategy
    from safetensors.torch import load_file

    from slicevlm.callbacks.checkpointing import ResumableCheckpoint, find_last_checkpoint
    from slicevlm.data.datamodule import M3DDataModule
    from slicevlm.testbed.synth import write_synthetic_dataset
    from slicevlm.training.zero_export import convert_zero_checkpoint

    sys.path.insert(0, str(HERE))
    from zero3_writer import build

    data = write_synthetic_dataset(tmp_path / "data", n=8, seed=0, shape=(8, 32, 32))
    config = tmp_path / "config.yaml"

    def run(max_steps: int, ckpt_path: str | None = None):
        import yaml

        module, described = build(str(tiny_models["encoder"]), str(tiny_models["llm"]))
        config.write_text(yaml.safe_dump(described), encoding="utf-8")
        module.hparams.export_dir = str(tmp_path / "export")
        module.hparams.overwrite_export = True
        datamodule = M3DDataModule(str(data), volume_size=(8, 32, 32), batch_size=2, num_workers=0, val_tasks=[],
                                   train_samples_per_epoch=8)
        trainer = pl.Trainer(
            accelerator="gpu", devices=1, precision="bf16-mixed", max_steps=max_steps, logger=False,
            default_root_dir=tmp_path, enable_progress_bar=False,
            strategy=DeepSpeedStrategy(stage=3, exclude_frozen_parameters=True),
            callbacks=[ResumableCheckpoint(save_top_k=0, save_last=True, every_n_train_steps=1)],
        )
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path if ckpt_path is None else find_last_checkpoint(trainer))
        return trainer

    run(2)
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert (last / "latest").is_file() and not (tmp_path / "checkpoints" / "last.ckpt.partial").exists()
    trainer = run(4, ckpt_path="last")
    assert trainer.global_step == 4
    converted = convert_zero_checkpoint(last, tmp_path / "converted", config_path=config)
    for relative in ("vision.safetensors", "adapter/adapter_model.safetensors"):
        a, b = load_file(converted / relative), load_file(tmp_path / "export" / relative)
        assert a.keys() == b.keys()
        assert all(torch.allclose(a[k].float(), b[k].float(), rtol=1e-2, atol=1e-3) for k in a), relative
