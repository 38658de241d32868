"""A new slice encoder plugs in by class path alone; folders written with the old one-class encoder still load."""

from __future__ import annotations

import pytest
import torch
from torch import nn
import yaml

from slicevlm.architectures import architecture_file_name, shipped_architecture, shipped_names
from slicevlm.config_record import build, describe, record_init_args
from slicevlm.vision import SliceEncoderBase, VisionPipeline


class TinyConvEncoder(SliceEncoderBase):
    """A 2D encoder the project has never seen: one strided convolution, patch `patch`, width `channels`."""

    def __init__(self, channels: int = 8, side: int = 32, patch: int = 8, chunk_size: int = 3, dtype: str = "float32") -> None:
        super().__init__(chunk_size, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
        record_init_args(self, locals())
        self.side, self.patch = side, patch
        self.conv = nn.Conv2d(3, channels, patch, stride=patch)
        self.freeze(dtype)

    @property
    def image_size(self) -> tuple[int, int]:
        return (self.side, self.side)

    @property
    def grid_size(self) -> tuple[int, int]:
        return (self.side // self.patch, self.side // self.patch)

    @property
    def width(self) -> int:
        return self.conv.out_channels

    def _patch_tokens(self, images: torch.Tensor) -> torch.Tensor:
        return self.conv(images).flatten(2).transpose(1, 2)  # (n, C, H', W') -> (n, N, C)


PLUGIN = f"{__name__}.TinyConvEncoder"


def _vision_config() -> dict:
    """`model.vision` as a LightningCLI config writes it, with the new encoder named by class path only."""
    return {
        "class_path": "slicevlm.vision.VisionPipeline",
        "init_args": {"encoder": {"class_path": PLUGIN, "init_args": {"channels": 16}}, "keep_ratio": 0.5},
    }


def test_a_new_encoder_class_runs_through_the_pipeline_from_a_cli_config():
    from jsonargparse import ArgumentParser

    parser = ArgumentParser()
    parser.add_argument("--vision", type=VisionPipeline)  # what LightningCLI does for SliceVLMModule(vision=...)
    pipeline = parser.instantiate_classes(parser.parse_object({"vision": _vision_config()})).vision
    assert isinstance(pipeline.encoder, TinyConvEncoder) and pipeline.width == 16
    volume = torch.rand(2, 8, 48, 48)  # resampled in-plane to 32×32 by the shared forward
    features = pipeline.encode_slices(volume)
    assert features.shape == (2, 8, 16, 16)  # (B, D, N = 4·4, C)
    assert not any(p.requires_grad for p in pipeline.encoder.parameters())
    output = pipeline(volume)
    assert output.tokens.shape == (2, pipeline.token_count(8), 16) == (2, 2 * 2 * 2, 16)
    pipeline.train()
    assert not pipeline.encoder.training  # frozen encoders stay in eval mode


def test_the_shared_forward_normalises_and_chunks_for_every_encoder():
    encoder = TinyConvEncoder(chunk_size=2)
    volume = torch.rand(1, 5, 32, 32)
    images = (volume[0, :, None].expand(-1, 3, -1, -1) - 0.5) / 0.25
    assert torch.allclose(encoder(volume)[0], encoder._patch_tokens(images), atol=1e-6)


def test_a_new_encoder_survives_a_checkpoint_folder(tiny_models, tmp_path):
    from slicevlm.checkpoint import load_checkpoint_folder, save_checkpoint_folder
    from slicevlm.llm.language_model import LanguageModel
    from slicevlm.model import SliceVLM

    torch.manual_seed(0)
    model = SliceVLM(build(_vision_config()), LanguageModel(str(tiny_models["llm"]), dtype="float32"))
    assert describe(model.vision)["init_args"]["encoder"]["class_path"] == PLUGIN
    folder = save_checkpoint_folder(model, tmp_path / "ckpt", stage=1, input_size=(8, 32, 32))
    loaded, _ = load_checkpoint_folder(folder, trust_checkpoint=True)  # a class outside SliceVLM's own: trusted
    assert isinstance(loaded.vision.encoder, TinyConvEncoder) and loaded.vision.encoder.width == 16
    assert torch.equal(loaded.vision.injection.query.weight, model.vision.injection.query.weight)
    assert loaded.vision(torch.rand(1, 8, 32, 32)).tokens.shape == (1, 8, 16)


def test_a_folder_naming_the_removed_one_class_encoder_is_refused_by_name(tiny_models, tmp_path):
    """Before one class per encoder kind, folders named `slicevlm.vision.encoder.SliceEncoder` with a
    `backend` argument; that class is gone, and such a model.yaml is refused, naming it."""
    from slicevlm.checkpoint import load_checkpoint_folder, save_checkpoint_folder
    from slicevlm.llm.language_model import LanguageModel
    from slicevlm.model import SliceVLM
    from slicevlm.vision import SliceEncoder

    encoder = SliceEncoder(f"local-dir:{tiny_models['encoder']}", dtype="float32")
    model = SliceVLM(VisionPipeline(encoder), LanguageModel(str(tiny_models["llm"]), dtype="float32"))
    folder = save_checkpoint_folder(model, tmp_path / "ckpt", stage=1, input_size=(8, 64, 64))
    config = yaml.safe_load((folder / "model.yaml").read_text(encoding="utf-8"))
    written = config["vision"]["init_args"]["encoder"]
    written["class_path"] = "slicevlm.vision.encoder.SliceEncoder"
    written["init_args"]["backend"] = "open_clip"
    (folder / "model.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    with pytest.raises(Exception, match=r"slicevlm\.vision\.encoder\.SliceEncoder"):
        load_checkpoint_folder(folder)


def test_shipped_architectures_are_found_by_hub_name_in_either_spelling(tmp_path, monkeypatch):
    assert architecture_file_name("hf-hub:org/repo") == architecture_file_name("org/repo") == "org--repo.json"
    assert "microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224" in shipped_names("encoders")
    assert {"meta-llama/Llama-2-7b-hf", "Qwen/Qwen2.5-7B-Instruct"} <= set(shipped_names("llms"))
    biomedclip = shipped_architecture("encoders", "hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224")
    assert biomedclip["model_cfg"]["vision_cfg"]["timm_model_name"] == "vit_base_patch16_224"
    assert shipped_architecture("llms", "meta-llama/Llama-2-7b-hf")["hidden_size"] == 4096
    assert shipped_architecture("llms", "nobody/nothing") is None
    folder = tmp_path / "meta-llama" / "Llama-2-7b-hf"
    folder.mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert shipped_architecture("llms", "meta-llama/Llama-2-7b-hf") is None  # a local folder's own config wins


def test_the_pubmedclip_ablation_names_the_transformers_encoder_class(capsys):
    from pathlib import Path

    from slicevlm.cli import run_lightning_cli

    configs = Path(__file__).resolve().parents[2] / "configs"
    with pytest.raises(SystemExit):
        run_lightning_cli(["fit", "--config", str(configs / "stage2.yaml"), "--config", str(configs / "ablations" / "pubmedclip.yaml"), "--print_config"])
    printed = capsys.readouterr().out
    assert "class_path: slicevlm.vision.HFClipSliceEncoder" in printed


def test_every_shipped_architecture_file_is_in_the_wheel():
    """pyproject's package-data must match each file under slicevlm/assets, or `pretrained: false` fails once installed."""
    import fnmatch
    from pathlib import Path
    import tomllib

    root = Path(__file__).resolve().parents[2]
    patterns = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["package-data"]["slicevlm"]
    package = root / "src" / "slicevlm"
    files = [p.relative_to(package).as_posix() for p in (package / "assets").rglob("*.json")]
    assert files and all(any(fnmatch.fnmatch(f, pattern) and f.count("/") == pattern.count("/") for pattern in patterns) for f in files)
