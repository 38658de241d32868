"""Stage logic (what trains), the checkpoint folder round trip."""

import json

import pytest
import torch

from slicevlm.checkpoint import load_checkpoint_folder, save_checkpoint_folder
from slicevlm.llm.language_model import LanguageModel
from slicevlm.training.module import SliceVLMModule
from slicevlm.training.parameters import parameter_table
from slicevlm.vision import SliceEncoder
from slicevlm.vision.pipeline import VisionPipeline


def _module(tiny_models, stage, **kwargs):
    encoder = SliceEncoder(f"local-dir:{tiny_models['encoder']}", dtype="float32")
    language = LanguageModel(str(tiny_models["llm"]), dtype="float32")
    return SliceVLMModule(VisionPipeline(encoder), language, stage=stage, **kwargs)


def _expected_vision_counts(c: int, d: int) -> dict[str, int]:
    return {
        "fusion": (c * c * 27 + c) + 2 * (c * c + c) + (2 * c * c + c),  # 3³ conv, real/imag 1³ convs, gate
        "injection": 3 * (c * c + c),  # W_Q, W_K, W_V
        "projector": (c * d + d) + (d * d + d),
    }


def test_stage_one_trains_fusion_injection_projector_only(tiny_models):
    module = _module(tiny_models, stage=1)
    rows = {name: (trainable, frozen) for name, trainable, frozen in parameter_table(module.model)}
    expected = _expected_vision_counts(64, module.model.language.hidden_size)
    for name, count in expected.items():
        assert rows[name] == (count, 0)
    assert rows["encoder"][0] == 0 and rows["encoder"][1] > 0
    assert rows["llm"][0] == 0 and rows["lora"] == (0, 0)


def test_stage_two_adds_lora_and_nothing_else(tiny_models):
    module = _module(tiny_models, stage=2)
    rows = {name: (trainable, frozen) for name, trainable, frozen in parameter_table(module.model)}
    config = module.model.language.model.config
    hidden, inter, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    kv = config.num_key_value_heads * hidden // config.num_attention_heads
    per_layer = 16 * ((hidden + hidden) * 2 + (hidden + kv) * 2 + (hidden + inter) * 3)
    assert rows["lora"] == (layers * per_layer, 0)
    assert rows["llm"][0] == 0
    assert rows["fusion"][0] == _expected_vision_counts(64, hidden)["fusion"]


def test_checkpoint_folder_round_trip_gives_the_same_logits(tiny_models, tmp_path):
    torch.manual_seed(0)
    module = _module(tiny_models, stage=2)
    model = module.model.eval()
    with torch.no_grad():  # make LoRA non-trivial (B starts at zero)
        for name, p in model.language.model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    folder = save_checkpoint_folder(model, tmp_path / "ckpt", stage=2, input_size=(32, 64, 64))
    assert {p.name for p in folder.iterdir()} == {"model.yaml", "vision.safetensors", "adapter", "tokenizer", "slicevlm.json", "encoder", "llm"}
    assert {p.name for p in (folder / "adapter").iterdir()} >= {"adapter_config.json", "adapter_model.safetensors"}
    assert json.loads((folder / "slicevlm.json").read_text(encoding="utf-8"))["visual_tokens"] == 64
    volume = torch.rand(2, 32, 64, 64)
    batch = model.tokenize_for_training(["which organ?", "describe"], ["liver", "a cyst in the kidney"], 32)
    with torch.no_grad():
        expected = model(volume, **batch).logits
    reloaded, metadata = load_checkpoint_folder(folder)
    with torch.no_grad():
        logits = reloaded(volume, **reloaded.tokenize_for_training(["which organ?", "describe"], ["liver", "a cyst in the kidney"], 32)).logits
    assert metadata["stage"] == 2
    assert torch.allclose(logits, expected, atol=1e-5)
    merged, _ = load_checkpoint_folder(folder, merge_adapter=True)
    with torch.no_grad():
        assert torch.allclose(merged(volume, **batch).logits, expected, atol=1e-4)


def test_stage_two_starts_from_stage_one_modules(tiny_models, tmp_path):
    stage1 = _module(tiny_models, stage=1)
    with torch.no_grad():
        stage1.model.projector.layers[0].weight.fill_(0.123)
    folder = save_checkpoint_folder(stage1.model, tmp_path / "stage1", stage=1, input_size=(32, 64, 64))
    stage2 = _module(tiny_models, stage=2, init_from=str(folder))
    assert torch.all(stage2.model.projector.layers[0].weight == 0.123)
    assert stage2.model.language.has_lora


def test_a_zero_vision_learning_rate_makes_stage_two_train_lora_only(tiny_models):
    module = _module(tiny_models, stage=2, vision_learning_rate=0.0)
    rows = {name: (trainable, frozen) for name, trainable, frozen in parameter_table(module.model)}
    for name in ("fusion", "injection", "projector"):
        assert rows[name][0] == 0 and rows[name][1] > 0
    assert rows["lora"][0] > 0


def test_the_vision_learning_rate_is_the_vision_groups_peak(tiny_models):
    from slicevlm.training.optim import build_optimizer, parameter_groups

    module = _module(tiny_models, stage=2, learning_rate=1e-3, vision_learning_rate=1e-5)
    groups = parameter_groups(module.model)
    optimizer = build_optimizer(groups, 1e-3, 0.1, (0.9, 0.999), False, {"vision": 1e-5})
    assert {(g["name"], g["lr"]) for g in optimizer.param_groups} == {
        ("vision", 1e-5), ("vision/no_decay", 1e-5), ("lora", 1e-3)
    }
    with pytest.raises(ValueError, match="projector"):
        build_optimizer(groups, 1e-3, 0.0, (0.9, 0.999), False, {"projector": 1e-5})


@pytest.mark.parametrize(("stage", "rate", "message"), [(1, 0.0, "stage 1 trains nothing else"), (2, -1e-4, ">= 0")])
def test_a_vision_learning_rate_that_cannot_train_is_refused(tiny_models, stage, rate, message):
    from slicevlm.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        _module(tiny_models, stage=stage, vision_learning_rate=rate)
