"""NaN/Inf loss or gradients during training: the policy (stop / skip) with the batch's sample ids in the message."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from train_probes import NaNLossAtStep

from slicevlm.data.datamodule import M3DDataModule
from slicevlm.llm.language_model import LanguageModel
from slicevlm.training.errors import NonFiniteError
from slicevlm.training.module import SliceVLMModule
from slicevlm.vision import SliceEncoder
from slicevlm.vision.pipeline import VisionPipeline


@pytest.fixture(scope="module")
def nan_data(tmp_path_factory) -> Path:
    from slicevlm.testbed.synth import write_synthetic_dataset

    return write_synthetic_dataset(tmp_path_factory.mktemp("nan_data"), n=8, seed=0, shape=(8, 32, 32))


class Watch(pl.Callback):
    """Trainable weights at the start of every step, and the sample ids of every step."""

    def __init__(self) -> None:
        self.weights: dict[int, dict[str, torch.Tensor]] = {}
        self.ids: dict[int, list[str]] = {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.ids[trainer.global_step] = list(batch["id"])
        self.weights[trainer.global_step] = {
            name: p.detach().clone() for name, p in pl_module.named_parameters() if p.requires_grad
        }


class InfGradientAtStep(pl.Callback):
    """Make one parameter's gradient infinite at one step (the loss stays finite)."""

    def __init__(self, step: int, name: str) -> None:
        self.step, self.name = step, name

    def on_after_backward(self, trainer, pl_module) -> None:
        if trainer.global_step == self.step:
            dict(pl_module.named_parameters())[self.name].grad[0].fill_(float("inf"))


def build(tiny_models, **module_kwargs) -> SliceVLMModule:
    encoder = SliceEncoder(f"local-dir:{tiny_models['encoder']}", dtype="float32")
    return SliceVLMModule(VisionPipeline(encoder), LanguageModel(str(tiny_models["llm"]), dtype="float32"),
                          stage=1, learning_rate=1e-2, warmup_ratio=0.0, **module_kwargs)


def fit(module: SliceVLMModule, data: Path, callbacks: list) -> Watch:
    """Four steps of batch 2; returns what the Watch callback saw (also when fit raises: see its attributes)."""
    datamodule = M3DDataModule(str(data), volume_size=(8, 32, 32), batch_size=2, num_workers=0, pin_memory=False,
                               val_tasks=[], train_samples_per_epoch=8)
    watch = callbacks[-1] if callbacks and isinstance(callbacks[-1], Watch) else Watch()
    trainer = pl.Trainer(accelerator="cpu", max_steps=4, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[c for c in callbacks if c is not watch] + [watch])
    trainer.fit(module, datamodule=datamodule)
    return watch


def unchanged(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(before[name], after[name]) for name in before)


def test_stop_names_the_samples_and_leaves_the_weights_clean(tiny_models, nan_data) -> None:
    module, watch = build(tiny_models), Watch()
    with pytest.raises(NonFiniteError) as error:
        fit(module, nan_data, [NaNLossAtStep(2), watch])
    message = str(error.value)
    assert "NaN/Inf at global step 2 (stopping, nonfinite_policy = stop)" in message
    assert f"non-finite loss for the batch of samples [{', '.join(watch.ids[2])}]" in message
    after = {name: p.detach() for name, p in module.named_parameters() if p.requires_grad}
    assert unchanged(watch.weights[2], after)  # the poisoned step did not touch the weights
    assert all(torch.isfinite(p).all() for p in after.values())


def test_skip_drops_the_step_warns_and_training_goes_on(tiny_models, nan_data) -> None:
    module = build(tiny_models, nonfinite_policy="skip")
    with pytest.warns(UserWarning, match=r"NaN/Inf at global step 1 \(skipping the step") as warned:
        watch = fit(module, nan_data, [NaNLossAtStep(1)])
    assert any(", ".join(watch.ids[1]) in str(w.message) for w in warned)
    assert unchanged(watch.weights[1], watch.weights[2])  # step 1 skipped: no update, not even Adam's momentum
    assert not unchanged(watch.weights[2], watch.weights[3])  # the next step trains again
    assert module.nonfinite.skipped_steps == 1


def test_an_infinite_gradient_is_caught_and_named(tiny_models, nan_data) -> None:
    name = "model.projector.layers.0.weight"
    with pytest.raises(NonFiniteError, match=rf"global step 1 .*non-finite gradients in \[{name}\]; this step's samples"):
        fit(build(tiny_models), nan_data, [InfGradientAtStep(1, name)])


def test_too_many_skips_in_a_row_stop(tiny_models, nan_data) -> None:
    module = build(tiny_models, nonfinite_policy="skip", max_consecutive_skips=2)
    with pytest.raises(NonFiniteError, match="2 skipped steps in a row"):
        fit(module, nan_data, [NaNLossAtStep(step) for step in range(4)])
