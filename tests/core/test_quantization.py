"""k-bit loading of the LLM (bitsandbytes, QLoRA-style): the config built, the errors, the round trip."""

from __future__ import annotations

import importlib.util

import pytest
import torch
import yaml

from slicevlm.errors import ConfigError, MissingDependencyError
from slicevlm.llm import language_model
from slicevlm.llm.language_model import LanguageModel
from slicevlm.llm.quantization import bits_and_bytes_config, check_kbit_loading

HAS_BNB = importlib.util.find_spec("bitsandbytes") is not None


def test_4bit_is_nf4_with_double_quantisation_computing_in_the_model_dtype():
    config = bits_and_bytes_config("4bit", torch.bfloat16)
    assert config.load_in_4bit and not config.load_in_8bit
    assert config.bnb_4bit_quant_type == "nf4" and config.bnb_4bit_use_double_quant
    assert config.bnb_4bit_compute_dtype == torch.bfloat16
    eight = bits_and_bytes_config("8bit", torch.bfloat16)
    assert eight.load_in_8bit and not eight.load_in_4bit
    with pytest.raises(ConfigError, match="is not one of null"):
        bits_and_bytes_config("2bit", torch.bfloat16)


def test_without_cuda_the_error_says_what_is_needed():
    with pytest.raises(ConfigError, match=r"needs a CUDA GPU.*quantization: null"):
        check_kbit_loading("4bit", pretrained=True, cuda_available=False)
    with pytest.raises(ConfigError, match="pretrained: false"):
        check_kbit_loading("4bit", pretrained=False, cuda_available=True)


@pytest.mark.skipif(HAS_BNB, reason="bitsandbytes is installed here")
def test_without_bitsandbytes_the_error_names_the_gpu_extra():
    with pytest.raises(MissingDependencyError, match=r"pip install 'slicevlm\[gpu\]'"):
        check_kbit_loading("4bit", pretrained=True, cuda_available=True)


def test_language_model_refuses_kbit_on_the_cpu_before_loading(tiny_models, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="needs a CUDA GPU"):
        LanguageModel(str(tiny_models["llm"]), dtype="float32", quantization="4bit")


def test_cli_accepts_the_switch_and_rejects_other_values(capsys):
    from slicevlm.cli import run_lightning_cli

    with pytest.raises(SystemExit):
        run_lightning_cli(["fit", "--config", "configs/stage2.yaml", "--model.language.init_args.quantization", "4bit", "--print_config"])
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["model"]["language"]["init_args"]["quantization"] == "4bit"
    with pytest.raises(SystemExit) as exit_info:
        run_lightning_cli(["fit", "--config", "configs/stage2.yaml", "--model.language.init_args.quantization", "3bit", "--print_config"])
    assert exit_info.value.code != 0


def test_setting_round_trips_through_the_checkpoint_folder(tiny_models, tmp_path, monkeypatch):
    """Training records `quantization: 4bit` in model.yaml; CPU inference reloads the base in its dtype."""
    from slicevlm.checkpoint import load_checkpoint_folder, save_checkpoint_folder
    from slicevlm.model import SliceVLM
    from slicevlm.vision import SliceEncoder
    from slicevlm.vision.pipeline import VisionPipeline

    # Stand in for the GPU-only steps (the k-bit load itself is covered by the gpu test below).
    seen: list[str | None] = []
    original = language_model._load_model
    monkeypatch.setattr(language_model, "check_kbit_loading", lambda quantization, pretrained: None)
    monkeypatch.setattr(language_model, "prepare_for_kbit_training", lambda model, checkpointing: model)
    monkeypatch.setattr(language_model, "_load_model", lambda *a: seen.append(a[4]) or original(*a[:4]))
    language = LanguageModel(str(tiny_models["llm"]), dtype="float32", quantization="4bit")
    model = SliceVLM(VisionPipeline(SliceEncoder(f"local-dir:{tiny_models['encoder']}", dtype="float32")), language)
    folder = save_checkpoint_folder(model, tmp_path / "ckpt", stage=1, input_size=(8, 32, 32))
    recorded = yaml.safe_load((folder / "model.yaml").read_text(encoding="utf-8"))
    assert recorded["language"]["init_args"]["quantization"] == "4bit"

    reloaded, _ = load_checkpoint_folder(folder, dtype="float32")
    assert seen == ["4bit", None] and reloaded.language.quantization is None


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_BNB, reason="needs bitsandbytes (pip install 'slicevlm[gpu]')")
def test_4bit_base_with_lora_trains_on_cuda(tiny_models):
    from slicevlm.llm.lora import LoraSettings

    language = LanguageModel(str(tiny_models["llm"]), dtype="bfloat16", quantization="4bit", gradient_checkpointing=True)
    kinds = {type(module).__name__ for module in language.model.modules()}
    assert "Linear4bit" in kinds
    language.add_lora(LoraSettings(rank=4, alpha=8))
    ids = torch.randint(0, 100, (2, 12), device="cuda")
    embeds = language.embed(ids)
    loss = language(embeds, torch.ones_like(ids), labels=ids).loss
    loss.backward()
    trained = [name for name, p in language.model.named_parameters() if p.grad is not None]
    assert trained and all("lora_" in name for name in trained)
