"""The baselines' vision towers behind the same interface: full-size architecture facts on the meta
device, their shipped configs, and a tiny CPU fit → checkpoint folder → one answer for each."""

from __future__ import annotations

import importlib
import json
import math
from pathlib import Path

import pytest
import torch

from slicevlm.cli import run_lightning_cli
from slicevlm.training.contrastive import IMAGE_ENCODER_WEIGHTS
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


def _vit_block_parameters(width: int, mlp_ratio: int = 4, qkv_bias: bool = False) -> int:
    """One pre-norm ViT block: qkv (C·3C, + 3C with a bias), out (C·C + C), two LayerNorms (4C), MLP (2·C·rC + rC + C)."""
    hidden = mlp_ratio * width
    qkv = 3 * width * width + (3 * width if qkv_bias else 0)
    return qkv + (width * width + width) + 4 * width + (2 * width * hidden + hidden + width)


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
    # ViT-B (Dosovitskiy et al. 2021, Table 1: 12 layers, width 768, MLP 3072, 12 heads). M3D's ViT is MONAI's
    # with qkv_bias=False (its default, kept by M3D's ViT3DTower): 7,085,568 per block, 85,026,816 for 12.
    for block in tower.encoder.blocks:
        assert block.attention.qkv.bias is None and tuple(block.attention.qkv.weight.shape) == (3 * 768, 768)
        assert block.attention.out.bias is not None
    assert _vit_block_parameters(768) == _vit_block_parameters(768, qkv_bias=True) - 3 * 768 == 7_085_568
    assert _count(tower.encoder.blocks) == 12 * 7_085_568 == 85_026_816
    # What the 3D patches add: the patch embedding 1·4·16·16 -> 768 (786,432 + 768; MONAI's "perceptron"
    # embedding is this linear map), a position embedding per patch (2048 × 768), the class token
    # (`classification=True`: 768) and the final LayerNorm (1,536): 87,389,184 in all.
    assert _count(tower.encoder.patch_embed) == 1024 * 768 + 768
    assert tower.encoder.position.numel() == 2048 * 768 and tower.encoder.class_token.numel() == 768
    assert _count(tower) == 85_026_816 + 786_432 + 768 + 2048 * 768 + 768 + 2 * 768 == 87_389_184


def test_m3d_lamed_class_token_attends_and_is_dropped():
    """M3D reads `vision_select_feature: patch`: the class token goes through every block, then is cut off."""
    torch.manual_seed(0)
    vit = M3DLaMedTower(image_size=(8, 32, 32), patch_size=(4, 16, 16), width=16, depth=1, heads=2, pooled_grid=(2, 2, 2)).encoder
    volume = torch.rand(1, 8, 32, 32)
    tokens = vit(volume)
    assert tuple(tokens.shape) == (1, 8, 16)  # the 2·2·2 patches only
    # By hand: patches + positions, the class token in front (no position), the blocks, the norm, row 0 dropped.
    x = vit.patch_embed(volume[:, None]).flatten(2).transpose(1, 2) + vit.position
    x = torch.cat([vit.class_token, x], dim=1)
    for block in vit.blocks:
        x = block(x)
    assert torch.allclose(tokens, vit.norm(x)[:, 1:], atol=1e-6)
    with torch.no_grad():
        vit.class_token.add_(torch.randn(16))  # another class token changes every patch token: it took part in attention
    assert not torch.allclose(vit(volume), tokens)

def _decomposed_conv_parameters(in_channels: int, out_channels: int, kernel: int, depthwise: bool) -> int:
    """Three 1D convs of length k with bias, each followed by BatchNorm (weight and bias)."""
    per_filter = kernel * (1 if depthwise else in_channels)
    return 3 * (per_filter * out_channels + out_channels + 2 * out_channels)


def _dcformer_block_parameters(channels: int, kernel: int) -> int:
    """Depthwise decomposed conv, MLP Linear C → 4C → C (8C² + 5C), layer scale γ (C)."""
    return _decomposed_conv_parameters(channels, channels, kernel, depthwise=True) + 8 * channels * channels + 5 * channels + channels


#: Med3DVLM's released projector configuration (`mm_projector_type: mixer`, src/train/train_vlm.py and
#: src/model/encoder/builder.py of mirthAI/Med3DVLM): (tokens, channels) of the stage each stream reads, and
#: the token count after each Mixer layer; `depth` = 2 layers, `mm_mlp_depth` = 2 (Linear-GELU-Linear).
RELEASED_MIXER = {"low_input_size": (256, 384), "low_output_size": (192, 128), "high_input_size": (32, 768), "high_output_size": (64, 128)}


def _released_mixer_layers(input_size: tuple[int, int], output_size: tuple[int, ...], output_dim: int) -> list[tuple[int, int, int, int]]:
    """(N_in, N_out, C_in, C_out) of each Mixer layer of one stream, as `MixerLowHighHybridMLP` sizes them:
    layer i maps (N_{i-1}, output_dim / 2^(depth-i)) to (output_size[i], output_dim / 2^(depth-i-1))."""
    depth, layers = len(output_size), []
    for i in range(depth):
        n_in, c_in = input_size if i == 0 else (output_size[i - 1], output_dim // 2 ** (depth - i))
        layers.append((n_in, output_size[i], c_in, output_dim // 2 ** (depth - i - 1)))
    return layers


def _mixer_layer_parameters(n_in: int, n_out: int, c_in: int, c_out: int) -> int:
    """Two LayerNorms over C_in (4·C_in), token MLP N_in → N_out → N_out, channel MLP C_in → C_out → C_out."""
    return 4 * c_in + (n_in * n_out + n_out + n_out * n_out + n_out) + (c_in * c_out + c_out + c_out * c_out + c_out)


def _check_released_mixer(projector: torch.nn.Module, output_dim: int) -> int:
    """Every layer of both streams has the released shapes; returns the projector's parameter count."""
    expected = 0
    for stream, prefix in ((projector.low, "low"), (projector.high, "high")):
        layers = _released_mixer_layers(RELEASED_MIXER[f"{prefix}_input_size"], RELEASED_MIXER[f"{prefix}_output_size"], output_dim)
        assert len(stream.layers) == len(layers) == 2
        for layer, (n_in, n_out, c_in, c_out) in zip(stream.layers, layers):
            shapes = [tuple(p.shape) for p in layer.parameters()]
            assert shapes == [(c_in,), (c_in,), (n_out, n_in), (n_out,), (n_out, n_out), (n_out,),
                              (c_in,), (c_in,), (c_out, c_in), (c_out,), (c_out, c_out), (c_out,)]
            assert _count(layer) == _mixer_layer_parameters(n_in, n_out, c_in, c_out)
            expected += _mixer_layer_parameters(n_in, n_out, c_in, c_out)
    assert _count(projector) == expected
    return expected


def test_med3dvlm_tower_at_full_size():
    with torch.device("meta"):
        tower = Med3DVLMTower()
        output = tower(torch.empty(2, 128, 256, 256))
        projector = tower.build_projector(4096)
        embeddings = projector(output.tokens, *output.streams)
    # Med3DVLM (Xin et al., arXiv 2503.20047): DCFormer-small on 128×256×256; the projector reads the final
    # stage as 32 × 768 and the penultimate as 256 × 384 and gives 128 + 128 tokens to the LLM.
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
    # The released projector: 61,283,840 parameters into a 4096-wide LLM (LLaMA-2-7B), 47,221,248 into Qwen2.5-7B's 3584.
    assert _check_released_mixer(projector, 4096) == 61_283_840
    with torch.device("meta"):
        assert _check_released_mixer(tower.build_projector(3584), 3584) == 47_221_248


def test_med3dvlm_projector_puts_the_low_stream_first():
    """The released projector concatenates the low-level (penultimate-stage) stream before the high-level one;
    each layer runs LayerNorm → token MLP → LayerNorm → channel MLP, with no residual."""
    from slicevlm.vision.baselines.mixer_projector import DualStreamMixerProjector

    torch.manual_seed(0)
    projector = DualStreamMixerProjector((4, 12), (16, 8), high_tokens=(6, 5), low_tokens=(10, 3), hidden_size=20)
    last, penultimate = torch.randn(2, 4, 12), torch.randn(2, 16, 8)
    out = projector(last, penultimate)
    assert tuple(out.shape) == (2, 3 + 5, 20)
    assert torch.equal(out[:, :3], projector.low(penultimate)) and torch.equal(out[:, 3:], projector.high(last))
    layer, x = projector.low.layers[0], penultimate
    by_hand = layer.token_mlp(layer.token_norm(x).transpose(1, 2)).transpose(1, 2)
    by_hand = layer.channel_mlp(layer.channel_norm(by_hand))
    assert tuple(by_hand.shape) == (2, 10, 10) and torch.allclose(layer(x), by_hand)
    with pytest.raises(ValueError, match="same number of layers"):
        DualStreamMixerProjector((4, 12), (16, 8), high_tokens=(6,), low_tokens=(10, 3), hidden_size=20)
    with pytest.raises(ValueError, match="divisible by 2"):
        DualStreamMixerProjector((4, 12), (16, 8), high_tokens=(6, 5), low_tokens=(10, 3), hidden_size=21)


def test_m3d_lamed_tower_records_every_vit_argument_beside_its_own():
    """The ViT's arguments pass through the tower to `VisionTransformer3D`, yet a checkpoint's model.yaml
    still names each of them, defaults included, with the same flat keys as the shipped configs."""
    from slicevlm.config_record import build, describe

    described = describe(M3DLaMedTower(image_size=(32, 64, 64), width=32, depth=1, heads=2, pooled_grid=(4, 2, 2)))
    assert described["init_args"] == {
        "image_size": [32, 64, 64], "patch_size": [4, 16, 16], "width": 32, "depth": 1, "heads": 2, "mlp_ratio": 4.0,
        "qkv_bias": False, "class_token": True, "pooled_grid": [4, 2, 2], "train_encoder": True,
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


def _yaml(name: str) -> dict:
    import yaml

    return yaml.safe_load((CONFIGS / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("configs", [("med3dvlm_stage1.yaml",), ("med3dvlm_stage1.yaml", "med3dvlm_qwen.yaml"),
                                     ("med3dvlm.yaml", "med3dvlm_qwen.yaml")])
def test_med3dvlm_recipe_configs_parse(configs, capsys):
    arguments = [item for name in configs for item in ("--config", str(BASELINES / name))]
    with pytest.raises(SystemExit) as exit_info:
        run_lightning_cli(["fit", *arguments, "--print_config"])
    assert exit_info.value.code in (0, None)
    printed = capsys.readouterr().out
    assert "class_path: slicevlm.vision.baselines.Med3DVLMTower" in printed
    assert ("model_name: Qwen/Qwen2.5-7B-Instruct" in printed) == ("med3dvlm_qwen.yaml" in configs)


def test_med3dvlm_recipe_is_its_three_steps_with_its_published_settings():
    """The release's scripts: SigLIP (batch 64, lr 1e-4, wd 0.1, 100 epochs, text 512) → projector pre-training
    (batch 16, lr 1e-4, 3 epochs, only the projector) → LoRA fine-tuning (batch 8, lr 5e-5, 5 epochs)."""
    clip, stage1, stage2 = (_yaml(f"baselines/{name}.yaml") for name in ("med3dvlm_clip", "med3dvlm_stage1", "med3dvlm"))

    def global_batch(config: dict) -> int:
        return config["data"]["batch_size"] * config["trainer"]["devices"] * config["trainer"].get("accumulate_grad_batches", 1)

    siglip = clip["model"]["init_args"]
    assert global_batch(clip) == 64 and clip["trainer"]["max_epochs"] == 100 and clip["trainer"]["strategy"] == "ddp"
    assert (siglip["learning_rate"], siglip["weight_decay"], siglip["warmup_ratio"], siglip["embed_dim"]) == (1e-4, 0.1, 0.03, 768)
    assert siglip["gather"] is True and siglip["text_encoder"]["init_args"]["max_length"] == 512
    assert abs(siglip["init_log_temperature"] - math.log(1 / 0.07)) < 1e-6 and siglip["init_bias"] == 0.0
    assert any(c["class_path"] == "slicevlm.callbacks.ResumableCheckpoint" and c["init_args"].get("save_last")
               for c in clip["trainer"]["callbacks"])
    assert stage1["model"]["stage"] == 1 and global_batch(stage1) == 16 and stage1["trainer"]["max_epochs"] == 3
    assert (stage1["model"]["learning_rate"], stage1["model"]["weight_decay"]) == (1e-4, 0.0)
    vision = stage1["model"]["vision"]["init_args"]
    assert vision["train_encoder"] is False
    assert vision["encoder_weights"] == f"{siglip['export_dir']}/{IMAGE_ENCODER_WEIGHTS}"
    assert stage2["model"]["stage"] == 2 and global_batch(stage2) == 8 and stage2["trainer"]["max_epochs"] == 5
    assert (stage2["model"]["learning_rate"], stage2["model"]["weight_decay"]) == (5e-5, 0.0)
    assert stage2["model"]["init_from"] == stage1["model"]["export_dir"] and stage2["model"]["vision"]["init_args"]["train_encoder"]
    # The comparison keeps LLaMA-2-7B; Med3DVLM's own Qwen2.5-7B-Instruct is the overlay of the faithful run.
    for config in (stage1, stage2):
        assert config["model"]["language"]["init_args"]["model_name"] == "meta-llama/Llama-2-7b-hf"
    qwen = _yaml("baselines/med3dvlm_qwen.yaml")["model"]["language"]["init_args"]
    assert qwen == {"model_name": "Qwen/Qwen2.5-7B-Instruct", "count_visual_tokens": True, "context_length": 512}


def test_m3d_lamed_configs_train_m3ds_own_lora_and_augmentation():
    """M3D's train.py: LoRA dropout 0.05; its datasets: random 90° turns, flips, intensity scale and shift.
    SliceVLM's configs leave the augmentation off (the paper names none)."""
    for name in ("baselines/m3d_lamed.yaml", "baselines/m3d_lamed_tiny.yaml", "baselines/twin/m3d_lamed.yaml"):
        config = _yaml(name)
        assert config["model"]["lora"] == {"rank": 16, "alpha": 32, "dropout": 0.05, "target_modules": "all-linear"}, name
        assert config["data"]["augment"] is True, name
    for name in ("stage1.yaml", "stage2.yaml", "demo.yaml", "demo_stage2.yaml", "baselines/med3dvlm.yaml", "baselines/twin/med3dvlm.yaml"):
        assert "augment" not in _yaml(name).get("data", {}), name


def _text_budget(language: dict, visual_tokens: int) -> int:
    init = language.get("init_args", {})
    return init.get("context_length", 512) - (visual_tokens if init.get("count_visual_tokens", True) else 0)


def test_the_comparison_gives_every_model_the_same_text_budget(tiny_model_factory):
    """Full size: SliceVLM's 512 − 343 = 169 text tokens for all three; the CPU twin: 512 − the SliceVLM
    twin's visual tokens for all three."""
    from slicevlm.config_record import build

    def baseline_tokens(config: dict) -> int:
        with torch.device("meta"):
            return build(config["model"]["vision"]).num_tokens

    assert _text_budget(_yaml("stage2.yaml")["model"]["language"], 343) == 169  # 7·7·7 = 343 visual tokens
    for name in ("m3d_lamed", "med3dvlm"):
        config = _yaml(f"baselines/{name}.yaml")
        assert _text_budget(config["model"]["language"], baseline_tokens(config)) == 169, name
    demo = _yaml("demo.yaml")["model"]
    settings = {k: v for k, v in demo["vision"]["init_args"].items() if k != "encoder"}
    twin_tokens = tiny_model_factory(**settings).vision.token_count(_yaml("demo.yaml")["data"]["volume_size"][0])
    twin_budget = _text_budget(demo["language"], twin_tokens)
    assert twin_tokens == 64 and twin_budget == 448
    for name in ("m3d_lamed", "med3dvlm"):
        overlay = _yaml(f"baselines/twin/{name}.yaml")["model"]
        assert _text_budget(overlay["language"], baseline_tokens({"model": overlay})) == twin_budget, name


def test_every_baseline_config_is_tested():
    tested = {name for names in TOWER_CONFIGS.values() for name in names} | {
        "med3dvlm_clip.yaml", "med3dvlm_clip_tiny.yaml", "med3dvlm_stage1.yaml", "med3dvlm_qwen.yaml"}
    assert {path.name for path in BASELINES.glob("*.yaml")} == tested


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory) -> Path:
    from slicevlm.testbed.synth import write_synthetic_dataset

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
