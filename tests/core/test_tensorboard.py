"""What a training run shows in TensorBoard: VQA samples, vision images, named learning rates, no placeholder hp_metric."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from slicevlm.callbacks.tensorboard_images import montage, vision_images
from slicevlm.cli import run_lightning_cli
from slicevlm.training.optim import build_optimizer, parameter_groups
from slicevlm.vision.maps import vision_maps

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_vision_maps_are_the_gate_and_attention_of_the_pipeline(tiny_model_factory):
    torch.manual_seed(0)
    pipeline = tiny_model_factory().vision.eval()
    volume = torch.rand(16, 64, 64)
    maps = vision_maps(pipeline, volume)
    with torch.no_grad():  # the same pass by hand: eq. 3–13
        features = pipeline.encode_slices(volume[None])
        kept, indices = pipeline.selector(features)
        grid = kept.view(1, kept.shape[1], *pipeline.encoder.grid_size, -1).permute(0, 4, 1, 2, 3)
        spatial, frequency = pipeline.fusion.spatial(grid), pipeline.fusion.frequency(grid)
        alpha = pipeline.fusion.gate_weights(spatial, frequency)  # (1, C, D̂, H', W')
    assert torch.equal(maps.kept_slices, indices[0])
    assert maps.gate is not None and torch.allclose(maps.gate, alpha.mean(dim=1)[0], atol=1e-6)
    assert maps.attention is not None and maps.attention.shape == (indices.shape[1], *pipeline.encoder.grid_size)
    assert float(maps.attention.min()) == 0.0 and float(maps.attention.max()) == pytest.approx(1.0)


def test_images_put_each_kept_slice_in_its_own_tile(tiny_model_factory):
    volume = torch.zeros(16, 64, 64)
    for index in range(16):
        volume[index] = index / 15
    maps = vision_maps(tiny_model_factory().vision.eval(), volume)
    images = vision_images(volume, maps)
    assert set(images) == {"kept_slices", "fusion_gate", "injection_attention"}
    kept = maps.kept_slices.tolist()
    picture = images["kept_slices"][0]
    assert picture.shape == (64, len(kept) * 65 - 1)
    for tile, index in enumerate(kept):
        assert torch.allclose(picture[:, tile * 65 : tile * 65 + 64], torch.full((64, 64), index / 15))
    assert montage(torch.ones(9, 2, 2), columns=7).shape == (1, 2 * 3 - 1, 7 * 3 - 1)  # two rows


def test_optimizer_groups_are_named(tiny_model_factory):
    from slicevlm.llm.lora import LoraSettings

    model = tiny_model_factory()
    model.language.add_lora(LoraSettings())
    model.vision.encoder.requires_grad_(False)
    for name, parameter in model.language.model.named_parameters():
        parameter.requires_grad_("lora_" in name)
    groups = parameter_groups(model)
    assert list(groups) == ["vision", "lora"]
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert {id(p) for params in groups.values() for p in params} == trainable
    assert all(p.ndim == 2 for p in groups["lora"])
    names = [group["name"] for group in build_optimizer(groups, 1e-4, 0.0, (0.9, 0.999), fused=False).param_groups]
    assert names == ["vision", "lora"]
    decayed = build_optimizer(groups, 1e-4, 0.1, (0.9, 0.999), fused=False).param_groups
    assert [(g["name"], g["weight_decay"]) for g in decayed] == [("vision", 0.1), ("vision/no_decay", 0.0), ("lora", 0.1)]


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory) -> Path:
    from slicevlm.testbed.synth import write_synthetic_dataset

    return write_synthetic_dataset(tmp_path_factory.mktemp("synth"), n=24, seed=0, shape=(16, 32, 32))


def test_a_stage_two_run_logs_vqa_samples_images_and_named_learning_rates(tiny_models, synthetic_root, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_lightning_cli([
        "fit", "--config", str(CONFIGS / "demo.yaml"), "--config", str(CONFIGS / "demo_stage2.yaml"),
        "--model.vision.init_args.encoder.init_args.model_name", f"local-dir:{tiny_models['encoder']}",
        "--model.language.init_args.model_name", str(tiny_models["llm"]),
        "--model.init_from", "null", "--model.export_dir", "null", "--model.generation.max_new_tokens", "4",
        "--data.data_root", str(synthetic_root), "--data.volume_size", "[16, 64, 64]", "--data.num_workers", "0",
        "--data.batch_size", "4", "--data.eval_batch_size", "4", "--data.max_val_samples", "2",
        "--data.val_tasks", "[caption, vqa_closed]",
        "--trainer.logger.init_args.save_dir", str(tmp_path), "--trainer.max_epochs", "2",
        "--trainer.limit_train_batches", "1", "--trainer.limit_val_batches", "1", "--trainer.num_sanity_val_steps", "0",
        "--trainer.log_every_n_steps", "1",
    ])  # the demo's GenerationEvaluator evaluates every 2nd epoch: once, at the end
    (run,) = (tmp_path / "stage2").glob("version_*")
    events = EventAccumulator(str(run), size_guidance={"tensors": 0, "images": 0, "scalars": 0})
    events.Reload()
    tags = events.Tags()
    assert {"lr-AdamW/vision", "lr-AdamW/lora"} <= set(tags["scalars"])
    assert not any("/pg" in tag for tag in tags["scalars"]) and "hp_metric" not in tags["scalars"]
    vqa = events.Tensors("val/vqa_samples/text_summary")[-1].tensor_proto.string_val[0].decode()
    assert "| question |" in vqa and "Choices: A." in vqa and "| vqa_closed |" in vqa
    assert "| caption |" in events.Tensors("val/samples/text_summary")[-1].tensor_proto.string_val[0].decode()
    kept = 4  # ⌊16 · 0.28⌋ slices of 64 × 64
    for name in ("kept_slices", "fusion_gate", "injection_attention"):
        (image,) = events.Images(f"val/images/{name}")
        assert (image.height, image.width) == (64, kept * 65 - 1)
    about = events.Tensors("val/images/about/text_summary")[-1].tensor_proto.string_val[0].decode()
    assert "kept slices [" in about and "fusion gate α mean" in about


def test_every_shipped_tensorboard_logger_writes_no_placeholder_hp_metric():
    import yaml

    loggers = []
    for path in sorted(CONFIGS.rglob("*.yaml")):
        logger = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("trainer", {}).get("logger")
        if isinstance(logger, dict) and logger.get("class_path", "").endswith("TensorBoardLogger"):
            loggers.append((path.name, logger["init_args"].get("default_hp_metric")))
    assert loggers and all(value is False for _, value in loggers), loggers
