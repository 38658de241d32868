"""Training trains: every trained module is in train mode during fit (gradient checkpointing and LoRA
dropout depend on it), the frozen encoder stays in eval mode; MemoryTrace writes a row per step."""

from __future__ import annotations

import json
import time
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from transformers.modeling_layers import GradientCheckpointingLayer

from slicevlm.callbacks import MemoryTrace
from slicevlm.data.datamodule import M3DDataModule
from slicevlm.llm.language_model import LanguageModel
from slicevlm.training.module import SliceVLMModule
from slicevlm.vision import SliceEncoder
from slicevlm.vision.pipeline import VisionPipeline


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    from slicevlm.testbed.synth import write_synthetic_dataset

    return write_synthetic_dataset(tmp_path_factory.mktemp("mode_data"), n=4, seed=0, shape=(8, 32, 32))


class Modes(pl.Callback):
    """What was in eval mode, and how many decoder layers recomputed in backward, at the first step."""

    def __init__(self) -> None:
        self.eval_modules: list[str] = []
        self.checkpointed_layers = 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == 0:
            self.eval_modules = [name for name, module in pl_module.named_modules() if not module.training]
            layers = [m for m in pl_module.model.language.model.modules() if isinstance(m, GradientCheckpointingLayer)]
            # transformers recomputes a layer in backward only when the flag is set AND the layer trains.
            self.checkpointed_layers = sum(bool(m.gradient_checkpointing) and m.training for m in layers)


def _fit(tiny_models, data: Path, callbacks: list, steps: int = 1) -> SliceVLMModule:
    encoder = SliceEncoder(f"local-dir:{tiny_models['encoder']}", dtype="float32")
    language = LanguageModel(str(tiny_models["llm"]), dtype="float32", gradient_checkpointing=True)
    module = SliceVLMModule(VisionPipeline(encoder), language, stage=2, warmup_ratio=0.0)
    datamodule = M3DDataModule(str(data), volume_size=(8, 32, 32), batch_size=2, num_workers=0, pin_memory=False,
                               val_tasks=[], train_samples_per_epoch=4)
    trainer = pl.Trainer(accelerator="cpu", max_steps=steps, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=callbacks, default_root_dir=str(data.parent))
    trainer.fit(module, datamodule=datamodule)
    return module


def test_fit_trains_in_train_mode_with_checkpointing_and_lora_dropout(tiny_models, data) -> None:
    modes = Modes()
    module = _fit(tiny_models, data, [modes])
    layers = module.model.language.model.config.num_hidden_layers
    assert modes.checkpointed_layers == layers, "gradient checkpointing is off: the LLM was left in eval mode"
    # Only the frozen slice encoder is in eval mode (its own choice); the LLM, LoRA's dropout, fusion,
    # injection and projector train.
    outside_encoder = [name for name in modes.eval_modules if not name.startswith("model.vision.encoder")]
    assert outside_encoder == [], f"in eval mode during training: {outside_encoder[:5]}"
    assert any(name.startswith("model.vision.encoder") for name in modes.eval_modules)


class Spike(pl.Callback):
    """Hold 256 MiB for a moment at the end of every forward, then free it (a transient peak)."""

    def on_before_backward(self, trainer, pl_module, loss) -> None:
        spike = torch.ones(64 * 2**20, dtype=torch.float32)  # 256 MiB, touched
        time.sleep(0.3)  # 60 sampler intervals: a loaded machine still gets a sample in
        del spike


def test_memory_trace_writes_each_part_of_each_step(tiny_models, data, tmp_path) -> None:
    trace = tmp_path / "memory.jsonl"
    _fit(tiny_models, data, [Spike(), MemoryTrace(trace)], steps=2)
    rows = [json.loads(line) for line in trace.read_text(encoding="utf-8").splitlines()]
    assert rows[0]["event"] == "loaded" and rows[0]["anon"] > 0
    steps = rows[1:]
    assert [row["step"] for row in steps] == [1, 2]
    for row in steps:
        assert "sampler_error" not in row, row
        for part in ("start", "forward", "backward", "optimizer", "after"):
            assert row[part]["anon"] > 0 and row[part]["file"] >= 0, (part, row)
        # The forward's peak holds the 256 MiB that were allocated and freed inside it; the backward's does not.
        assert row["forward"]["anon"] - row["start"]["anon"] >= 250, row
        assert row["backward"]["anon"] < row["forward"]["anon"] - 200, row


def test_peak_sampler_says_when_it_stopped_sampling() -> None:
    from slicevlm.callbacks.memory_trace import PeakSampler

    sampler = PeakSampler(interval_s=0.001)
    try:
        assert sampler.error is None
        sampler._handle.close()  # what a failing read looks like to the thread
        deadline = time.monotonic() + 5.0
        while sampler.error is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sampler.error is not None and "stopped" in sampler.error
        assert sampler.mark()["anon"] > 0  # marks still read the present value
    finally:
        sampler.stop()
