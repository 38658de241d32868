"""Shared fixtures: tiny models written in the real formats, offline hub."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# Tests never touch the network: a hub name must fail fast with our message, not hang.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# DeepSpeed, when installed, prints a stdout warning each time it is imported on a machine without a GPU.
if not torch.cuda.is_available():
    os.environ.setdefault("DS_ACCELERATOR", "cpu")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny open_clip encoder folder and tiny LLaMA folder (with a tokenizer trained on the fly)."""
    from slicevlm.tiny import write_tiny_models

    # A short warm-up: the tests check code paths, not how well the tiny LLM reads (the demo does).
    return write_tiny_models(tmp_path_factory.mktemp("tiny"), pretrain_steps=150)


@pytest.fixture(scope="session")
def tiny_model_factory(tiny_models):
    """Build a fresh tiny `SliceVLM` (float32, CPU)."""
    from slicevlm.llm.language_model import LanguageModel
    from slicevlm.model import SliceVLM
    from slicevlm.vision import SliceEncoder
    from slicevlm.vision.pipeline import VisionPipeline

    def make(**vision_kwargs) -> SliceVLM:
        encoder = SliceEncoder(f"local-dir:{tiny_models['encoder']}", dtype="float32")
        language = LanguageModel(str(tiny_models["llm"]), dtype="float32")
        return SliceVLM(VisionPipeline(encoder, **vision_kwargs), language)

    return make


@pytest.fixture(scope="session")
def load_script():
    """Import a file of scripts/ by name (``load_script("probe_image_use")``): the scripts are not a package."""
    import importlib.util

    scripts = Path(__file__).resolve().parents[1] / "scripts"

    def load(name: str):
        spec = importlib.util.spec_from_file_location(f"scripts_{name}", scripts / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
