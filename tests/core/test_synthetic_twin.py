"""The synthetic twin's rows: the baseline towers' overlays keep the demo's budget and train their towers."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from slicevlm.cli import run_lightning_cli
from slicevlm.synthetic_twin import overlay_vision_class

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
TWINS = CONFIGS / "baselines" / "twin"
#: twin overlay -> (tiny config whose tower it is, tower class)
OVERLAYS = {
    "m3d_lamed.yaml": ("m3d_lamed_tiny.yaml", "slicevlm.vision.baselines.M3DLaMedTower"),
    "med3dvlm.yaml": ("med3dvlm_tiny.yaml", "slicevlm.vision.baselines.Med3DVLMTower"),
}
#: What an overlay may change; everything else is the demo twin's (data, LLM, steps, learning rates).
TOWER_KEYS = (("model", "vision"), ("model", "lora"), ("data", "volume_size"), ("data", "augment"))
#: The text budget: every overlay gives its tower the SliceVLM twin's 512 − 64 = 448 text tokens.
BUDGET = {"count_visual_tokens": False, "context_length": 448}


def _resolved(capsys, *configs: Path) -> dict:
    with pytest.raises(SystemExit) as exit_info:
        run_lightning_cli(["fit", *(arg for c in configs for arg in ("--config", str(c))), "--print_config"])
    assert exit_info.value.code in (0, None)
    return yaml.safe_load(capsys.readouterr().out)


def _without(config: dict, keys) -> dict:
    config = {section: dict(values) if isinstance(values, dict) else values for section, values in config.items()}
    for section, key in keys:
        config[section].pop(key, None)
    language = config["model"]["language"] = dict(config["model"]["language"])
    language["init_args"] = {k: v for k, v in language["init_args"].items() if k not in BUDGET}
    return config


@pytest.mark.parametrize("stages", [("demo.yaml",), ("demo.yaml", "demo_stage2.yaml")], ids=["stage1", "stage2"])
@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_a_tower_overlay_changes_the_tower_and_nothing_else(overlay, stages, capsys):
    """demo (+ demo_stage2) + overlay = the demo twin with the tiny config's tower: no VisionPipeline argument
    survives the class change, and data, LLM, steps and learning rates stay the twin's."""
    tiny, class_path = OVERLAYS[overlay]
    demo = _resolved(capsys, *(CONFIGS / s for s in stages))
    twin = _resolved(capsys, *(CONFIGS / s for s in stages), TWINS / overlay)
    tower = _resolved(capsys, CONFIGS / "baselines" / tiny)
    assert twin["model"]["vision"]["class_path"] == class_path
    assert twin["model"]["vision"] == tower["model"]["vision"]  # the same tiny architecture, key for key
    assert twin["data"]["volume_size"] == tower["data"]["volume_size"]
    assert twin["model"]["lora"] == tower["model"].get("lora", demo["model"]["lora"])
    assert twin["data"]["augment"] == tower["data"].get("augment", False)  # M3D-LaMed's augmentation, as its tiny config
    assert {k: twin["model"]["language"]["init_args"][k] for k in BUDGET} == BUDGET
    assert _without(twin, TOWER_KEYS) == _without(demo, TOWER_KEYS)


def test_each_baseline_trains_its_own_lora(capsys):
    """Med3DVLM (Xin et al.) and M3D-LaMed (M3D's train.py): LoRA r 16, α 32, dropout 0.05; the twin's own is 0.1."""
    stage2 = (CONFIGS / "demo.yaml", CONFIGS / "demo_stage2.yaml")
    for overlay in ("med3dvlm.yaml", "m3d_lamed.yaml"):
        assert _resolved(capsys, *stage2, TWINS / overlay)["model"]["lora"] == {
            "rank": 16, "alpha": 32, "dropout": 0.05, "target_modules": "all-linear"}
    assert _resolved(capsys, *stage2)["model"]["lora"]["dropout"] == 0.1


def test_every_twin_overlay_is_tested():
    assert {path.name for path in TWINS.glob("*.yaml")} == set(OVERLAYS)


def test_overlay_vision_class_is_the_tower_the_merged_configs_name():
    assert overlay_vision_class(None) == "slicevlm.vision.VisionPipeline"
    assert overlay_vision_class(CONFIGS / "ablations" / "uniform_sampling.yaml") == "slicevlm.vision.VisionPipeline"
    assert overlay_vision_class(TWINS / "med3dvlm.yaml") == "slicevlm.vision.baselines.Med3DVLMTower"


@pytest.mark.parametrize("stage", [1, 2])
@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_both_stages_train_the_whole_tower(overlay, stage, tiny_models):
    """Under the Lightning module's stage rules (LLM frozen; + LoRA in stage 2) every parameter of the
    tower's 3D encoder and projector is handed to the optimiser and receives a gradient."""
    from slicevlm.config_record import build
    from slicevlm.llm.language_model import LanguageModel
    from slicevlm.training.module import SliceVLMModule
    from slicevlm.training.optim import parameter_groups

    vision = build(yaml.safe_load((TWINS / overlay).read_text(encoding="utf-8"))["model"]["vision"])
    module = SliceVLMModule(vision, LanguageModel(str(tiny_models["llm"]), dtype="float32"), stage=stage)
    model = module.model
    torch.manual_seed(0)
    volume = torch.rand(2, *vision.input_size)
    batch = model.tokenize_for_training(["Describe the findings."] * 2, ["A lesion in the liver.", "No finding."], vision.input_size[0])
    model(volume, batch["input_ids"], batch["attention_mask"], batch["labels"]).loss.backward()
    optimised = {id(p) for p in parameter_groups(model)["vision"]}
    for part, module_ in {"encoder": vision.encoder, "projector": model.projector}.items():
        for name, parameter in module_.named_parameters():
            assert id(parameter) in optimised, f"stage {stage}: {part}.{name} is not optimised"
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0, f"stage {stage}: {part}.{name} has no gradient"
    assert ("lora" in parameter_groups(model)) == (stage == 2)
