"""Two-process DDP (gloo, CPU) against one process at the same global batch: same samples per step, same weights.

`slicevlm fit` with the demo stage-2 config (three-task mixture, LoRA), once as one process with
batch 8 and once with `strategy: ddp` as two CPU processes with batch 4 each, 4 optimiser steps at
lr 1e-3. LoRA dropout is off (two ranks cannot draw one process's masks).

Tolerance 3e-5. Measured: 6.6e-6 with the warmed tiny LLM, while returning each rank's plain mean
loss instead of the token-weighted one drifts by 4.5e-3 (four steps at lr 1e-3 move a weight by up
to ~4e-3). The drift is not zero because each rank pads its rows to its own longest row and every
matrix product has other shapes than the single process's, so float32 sums round differently, and Adam
divides by sqrt(v). Two parameters are left out: by symmetry their gradient is zero and what they
get is rounding noise, which Adam turns into steps of about lr in either direction. They are the
key bias of the injection attention (a constant added to every key shifts all of a query's logits
equally, and softmax ignores it) and the bias of the frequency path's imaginary-part conv (a
constant imaginary offset lands in the imaginary part of one voxel after the inverse FFT, which the
real part drops).
"""

from __future__ import annotations

import pytest
import torch
from train_probes import fit_command, read_batches, record, start, trained_weights

TIMEOUT = 900
SYMMETRIC = {"injection.key.bias", "fusion.frequency.imag_conv.bias"}  # zero gradient by symmetry (see above)


@pytest.fixture(scope="module")
def ddp_data(tmp_path_factory):
    from slicevlm.testbed.synth import write_synthetic_dataset

    return write_synthetic_dataset(tmp_path_factory.mktemp("ddp_data"), n=24, seed=0, shape=(16, 32, 32))


@pytest.mark.slow
def test_two_process_ddp_matches_one_process_at_the_same_global_batch(tiny_models, ddp_data, tmp_path):
    # The mixture is pinned (the demo's own may change): natural sizes of the three tasks.
    common = ["--model.lora.dropout", "0.0", "--trainer.limit_val_batches", "0", "--data.num_workers", "0",
              "--data.train_tasks", "[caption, vqa_closed, vqa_open]"]
    one, two = tmp_path / "one", tmp_path / "two"
    single = start(
        fit_command(tiny_models, ddp_data, one, *common, "--data.batch_size", "8", callbacks=[record(one / "batches")]),
        tmp_path / "one.log",
    )
    ddp = start(
        fit_command(tiny_models, ddp_data, two, *common, "--data.batch_size", "4", "--trainer.strategy", "ddp",
                    "--trainer.accelerator", "cpu", "--trainer.devices", "2", callbacks=[record(two / "batches")]),
        tmp_path / "two.log",
    )
    assert single.wait(TIMEOUT) == 0, (tmp_path / "one.log").read_text()
    assert ddp.wait(TIMEOUT) == 0, (tmp_path / "two.log").read_text()

    reference = read_batches(one / "batches")
    rank0, rank1 = read_batches(two / "batches", 0), read_batches(two / "batches", 1)
    assert len(reference) == len(rank0) == len(rank1) == 4
    for whole, part0, part1 in zip(reference, rank0, rank1, strict=True):
        assert whole["step"] == part0["step"] == part1["step"]
        assert len(part0["ids"]) == len(part1["ids"]) == 4
        assert sorted(part0["ids"] + part1["ids"]) == sorted(whole["ids"])  # the ranks split each global batch

    expected, actual = trained_weights(one / "export"), trained_weights(two / "export")
    assert expected.keys() == actual.keys() and SYMMETRIC <= expected.keys()
    drift = {k: (expected[k] - actual[k]).abs().max().item() for k in expected if k not in SYMMETRIC}
    worst = max(drift, key=drift.get)
    assert drift[worst] < 3e-5, f"DDP drifted from one process by {drift[worst]:.2e} in {worst}"
