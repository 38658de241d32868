"""The baselines' vision towers behind the same interface: full-size architecture facts on the meta
device, their shipped configs, and a tiny CPU fit → checkpoint folder → one answer for each."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
import torch

from slicevlm.cli import run_lightning_cli
from slicevlm.vision.baselines import M3DLaMedTower, Med3DVLMTower
from slicevlm.vision.tower import VisionTower

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
BASELINES = CONFIGS / "baselines"
#: tower class path -> (full config, tiny twin)
TOWER_CONFIGS = {
    "slicevlm.vision.baselines.M3DLaMedTower": ("m3d_lamed.yaml", "m3d_lamed_tiny.yaml"),
    "slicevlm.vision.baselines.Med3DVLMTower": ("med3dvlm.yaml", "med3dvlm_tiny.yaml"),
}


def _resolve(class_path: str) -> type:
    module, _, name = class_path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _vit_block_parameters(width: int, mlp_ratio: int = 4) -> int:
    """One pre-norm ViT block: qkv (C·3C + 3C), out (C·C + C), two LayerNorms (4C), MLP (2·C·rC + rC + C)."""
    hidden = mlp_ratio * width
    return (3 * width * width + 3 * width) + (width * width + width) + 4 * width + (2 * width * hidden + hidden + width)


def test_m3d_lamed_tower_at_full_size():
    with torch.device("meta"):
        tower = M3DLaMedTower()
        output = tower(torch.empty(2, 32, 256, 256))
    assert isinstance(tower, VisionTower)
    # M3D (Bai et al. 2024), M3D-LaMed: 3D ViT-B, patches 4×16×16 on 32×256×256 -> 8·16·16 = 2048 patches,
    # width 768; 3D spatial pooling to 256 tokens.
    assert tower.encoder.num_patches == 2048 and tower.encoder.grid_size == (8, 16, 16)
    assert tower.input_size == (32, 256, 256) and tower.num_tokens == 256 and tower.width == 768
    assert tuple(output.tokens.shape) == (2, 256, 768) and output.kept_slices is None
    # ViT-B (Dosovitskiy et al. 2021, Table 1: 12 layers, width 768, MLP 3072, 12 heads): 7,087,872 per
    # block, 85,054,464 for the 12 blocks — the "86M" of ViT-Base without its 2D patch embedding.
    assert _vit_block_parameters(768) == 7_087_872
    assert _count(tower.encoder.blocks) == 12 * 7_087_872 == 85_054_464
    # What the 3D patches add: the patch embedding 1·4·16·16 -> 768 (786,432 + 768), a position
    # embedding per patch (2048 × 768) and the final LayerNorm (1,536): 87,416,064 in all.
    assert _count(tower.encoder.patch_embed) == 1024 * 768 + 768
    assert tower.encoder.position.numel() == 2048 * 768
    assert _count(tower) == 87_416_064


def _decomposed_conv_parameters(in_channels: int, out_channels: int, kernel: int, depthwise: bool) -> int:
    """Three 1D convs of length k with bias, each followed by BatchNorm (weight and bias)."""
    per_filter = kernel * (1 if depthwise else in_channels)
    return 3 * (per_filter * out_channels + out_channels + 2 * out_channels)


def _dcformer_block_parameters(channels: int, kernel: int) -> int:
    """Depthwise decomposed conv, MLP Linear C → 4C → C (8C² + 5C), layer scale γ (C)."""
    return _decomposed_conv_parameters(channels, channels, kernel, depthwise=True) + 8 * channels * channels + 5 * channels + channels


def _mixer_stream_parameters(in_tokens: int, out_tokens: int, in_channels: int, out_channels: int) -> int:
    """LayerNorm (2C), token MLP N_in → N_out → N_out, channel MLP C → d → d (weights and biases)."""
    token = in_tokens * out_tokens + out_tokens + out_tokens * out_tokens + out_tokens
    channel = in_channels * out_channels + out_channels + out_channels * out_channels + out_channels
    return 2 * in_channels + token + channel


def test_med3dvlm_tower_at_full_size():
    with torch.device("meta"):
        tower = Med3DVLMTower()
        output = tower(torch.empty(2, 128, 256, 256))
        projector = tower.build_projector(4096)
        embeddings = projector(output.tokens, *output.streams)
    # Med3DVLM (Xin et al., arXiv 2503.20047): DCFormer-small on 128×256×256; the projector reads the final
    # stage as 32 × 768 and the penultimate as 256 × 384 and gives 2 × 128 tokens to the LLM.
    assert tower.input_size == (128, 256, 256) and tower.width == 768
    assert tuple(output.tokens.shape) == (2, 32, 768) and tuple(output.streams[0].shape) == (2, 256, 384)
    assert tower.num_tokens == 256 and tuple(embeddings.shape) == (2, 256, 4096)
    # DCFormer-small as Med3DVLM released it (`decomp_small`): stem 1 → 64 (decomposed k=7, stride 4, then
    # three decomposed k=3), stages [2, 3, 6, 2], channels [96, 192, 384, 768], kernels 13/11/9/7; each stage
    # a max-pool + 1×1×1 conv without bias, then its blocks.
    stem = _decomposed_conv_parameters(1, 64, 7, depthwise=False) + 3 * _decomposed_conv_parameters(64, 64, 3, depthwise=False)
    assert _count(tower.encoder.stem) == stem == 114_240
    previous, expected = 64, stem
    for stage, depth, channels, kernel in zip(tower.encoder.stages, (2, 3, 6, 2), (96, 192, 384, 768), (13, 11, 9, 7)):
        count = previous * channels + depth * _dcformer_block_parameters(channels, kernel)
        assert _count(stage) == count
        previous, expected = channels, expected + count
    assert _count(tower) == expected == 18_244_800
    # Each depthwise 1D kernel holds 3k weights per channel where a k×k×k depthwise kernel holds k³.
    assert tower.encoder.stages[0][1].mixer.depth.weight.shape == (96, 1, 13, 1, 1)
    streams = _mixer_stream_parameters(32, 128, 768, 4096) + _mixer_stream_parameters(256, 128, 384, 4096)
    assert _count(projector) == streams == 38_361_856


def test_m3d_lamed_tower_records_every_vit_argument_beside_its_own():
    """The ViT's arguments pass through the tower to `VisionTransformer3D`, yet a checkpoint's model.yaml
    still names each of them, defaults included, with the same flat keys as the shipped configs."""
    from slicevlm.config_record import build, describe

    described = describe(M3DLaMedTower(image_size=(32, 64, 64), width=32, depth=1, heads=2, pooled_grid=(4, 2, 2)))
    assert described["init_args"] == {
        "image_size": [32, 64, 64], "patch_size": [4, 16, 16], "width": 32, "depth": 1, "heads": 2, "mlp_ratio": 4.0,
        "pooled_grid": [4, 2, 2], "train_encoder": True,
    }
    assert describe(build(described)) == described


def test_a_tower_refuses_volumes_of_another_size():
    tower = M3DLaMedTower(image_size=(32, 64, 64), width=32, depth=1, heads=2, pooled_grid=(4, 2, 2))
    with pytest.raises(ValueError, match=r"set data.volume_size: \[32, 64, 64\]"):
        tower(torch.rand(1, 16, 64, 64))


def test_fit_refuses_a_data_size_the_tower_does_not_read(tiny_models, synthetic_root, tmp_path):
    from slicevlm.errors import ConfigError

    with pytest.raises(ConfigError, match=r"M3DLaMedTower reads volumes of \(D, H, W\) = \(32, 64, 64\), got \(16, 64, 64\)"):
        run_lightning_cli([
            "fit", "--config", str(BASELINES / "m3d_lamed_tiny.yaml"),
            "--model.language.init_args.model_name", str(tiny_models["llm"]),
            "--data.data_root", str(synthetic_root), "--data.num_workers", "0", "--data.volume_size", "[16, 64, 64]",
            "--trainer.logger.init_args.save_dir", str(tmp_path / "logs"), "--model.export_dir", str(tmp_path / "out"),
        ])
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("class_path", sorted(TOWER_CONFIGS))
def test_baseline_configs_parse(class_path, capsys):
    for name in TOWER_CONFIGS[class_path]:
        with pytest.raises(SystemExit) as exit_info:
            run_lightning_cli(["fit", "--config", str(BASELINES / name), "--print_config"])
        assert exit_info.value.code in (0, None)
        assert f"class_path: {class_path}" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["med3dvlm_clip.yaml", "med3dvlm_clip_tiny.yaml"])
def test_pretraining_configs_parse_as_their_own_module(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_lightning_cli(["fit", "--config", str(BASELINES / name), "--print_config"])
    assert exit_info.value.code in (0, None)
    printed = capsys.readouterr().out
    assert "class_path: slicevlm.training.contrastive.ContrastivePretraining" in printed
    assert "class_path: slicevlm.vision.baselines.DCFormer3D" in printed


@pytest.mark.parametrize("name", ["med3dvlm.yaml", "med3dvlm_tiny.yaml"])
def test_med3dvlm_configs_train_med3dvlms_own_lora(name):
    """Med3DVLM (Xin et al.): LoRA r 16, α 32, dropout 0.05 on every linear layer of the LLM blocks."""
    import yaml

    config = yaml.safe_load((BASELINES / name).read_text(encoding="utf-8"))
    assert config["model"]["lora"] == {"rank": 16, "alpha": 32, "dropout": 0.05, "target_modules": "all-linear"}


def test_every_baseline_config_is_tested():
    tested = {name for names in TOWER_CONFIGS.values() for name in names} | {"med3dvlm_clip.yaml", "med3dvlm_clip_tiny.yaml"}
    assert {path.name for path in BASELINES.glob("*.yaml")} == tested


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory) -> Path:
    from slicevlm.data.synth import write_synthetic_dataset

    return write_synthetic_dataset(tmp_path_factory.mktemp("synth"), n=16, seed=0, shape=(16, 32, 32))


@pytest.mark.parametrize("class_path", sorted(TOWER_CONFIGS))
def test_tiny_fit_exports_a_folder_that_answers(class_path, tiny_models, synthetic_root, tmp_path):
    from slicevlm.checkpoint import load_checkpoint_folder
    from slicevlm.inference.predictor import VolumeQA

    tiny = BASELINES / TOWER_CONFIGS[class_path][1]
    export = tmp_path / "checkpoint"
    run_lightning_cli([
        "fit", "--config", str(tiny),
        "--model.language.init_args.model_name", str(tiny_models["llm"]),
        "--data.data_root", str(synthetic_root),
        "--data.num_workers", "0",
        "--data.batch_size", "4",
        "--trainer.logger.init_args.save_dir", str(tmp_path / "logs"),
        "--trainer.max_steps", "2",
        "--trainer.limit_val_batches", "1",
        "--trainer.num_sanity_val_steps", "0",
        "--model.export_dir", str(export),
    ])
    metadata = json.loads((export / "slicevlm.json").read_text(encoding="utf-8"))
    tower = metadata["vision_tower"]
    assert _resolve(tower["class"]) is _resolve(class_path) and tower["input_size"] == metadata["input_size"]
    assert tower["visual_tokens"] == metadata["visual_tokens"]
    model, _ = load_checkpoint_folder(export)
    assert type(model.vision) is _resolve(class_path)
    # The stored tower and projector are the trained ones, not a fresh random initialisation.
    from safetensors.torch import load_file

    stored = load_file(str(export / "vision.safetensors"))
    loaded = {f"{name}.{key}": value for name, module in model.trainable_vision_modules().items() for key, value in module.state_dict().items()}
    assert stored.keys() == loaded.keys() and all(torch.equal(stored[k], loaded[k]) for k in stored)
    # Two loads under different seeds see the same tower: every weight it needs is in the folder.
    volume = torch.rand(1, *metadata["input_size"])
    torch.manual_seed(1)
    first = load_checkpoint_folder(export)[0].visual_embeddings(volume)[0]
    torch.manual_seed(2)
    second = load_checkpoint_folder(export)[0].visual_embeddings(volume)[0]
    assert first.shape == (1, metadata["visual_tokens"], model.language.hidden_size) and torch.equal(first, second)
    answer = VolumeQA.from_checkpoint(export, device="cpu").ask(torch.rand(20, 40, 40).numpy(), "Which plane is this image?")
    assert isinstance(answer.text, str) and answer.kept_slices == []
