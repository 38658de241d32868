"""`fit --ckpt_path last` after `kill -9`: same step, same data order, bit-identical weights (CPU, tiny models).

Real `slicevlm fit` subprocesses with the demo stage-2 config (three-task mixture, LoRA with dropout,
one DataLoader worker, validation with generation): one uninterrupted run, and one run killed with
SIGKILL mid-epoch and resumed from its `last.ckpt`. Bit-for-bit equality is the right bar: both runs
execute the same float operations in the same order on the same CPU, so any difference means some
state (weights, optimiser moments, schedule, RNG, data position) was not restored.
"""

from __future__ import annotations

import pytest
import torch
from train_probes import fit_command, read_batches, record, start, trained_weights

TIMEOUT = 900


@pytest.fixture(scope="module")
def resume_data(tmp_path_factory):
    from slicevlm.testbed.synth import write_synthetic_dataset

    return write_synthetic_dataset(tmp_path_factory.mktemp("resume_data"), n=24, seed=0, shape=(16, 32, 32))


@pytest.mark.slow
def test_kill_9_then_resume_matches_an_uninterrupted_run(tiny_models, resume_data, tmp_path):
    full, cut = tmp_path / "full", tmp_path / "cut"
    uninterrupted = start(fit_command(tiny_models, resume_data, full, callbacks=[record(full / "batches")]), tmp_path / "full.log")
    killed = start(
        fit_command(tiny_models, resume_data, cut, callbacks=[
            record(cut / "batches"), {"class_path": "train_probes.KillAtStep", "init_args": {"step": 7}},
        ]),
        tmp_path / "cut.log",
    )
    assert killed.wait(TIMEOUT) == -9, (tmp_path / "cut.log").read_text()
    last = cut / "logs" / "stage2" / "checkpoints" / "last.ckpt"
    saved = torch.load(last, map_location="cpu", weights_only=True)  # plain tensors and values only
    # every 2 steps; killed as step 7 began: last is step 6, batch 2 of epoch 1 (4 batches per epoch)
    assert saved["global_step"] == 6 and saved["epoch"] == 1
    assert saved["loops"]["fit_loop"]["state_dict"]["combined_loader"] == [{"epoch": 1, "batches": 2, "batches_per_epoch": 4}]
    trained = ("model.vision.fusion.", "model.vision.injection.", "model.projector.")
    assert all(n.startswith(trained) or "lora_" in n for n in saved["state_dict"])  # frozen encoder and LLM never saved
    assert len(saved["rng_states"]) == 1
    assert not (cut / "export").exists()

    resumed = start(fit_command(tiny_models, resume_data, cut, "--ckpt_path", "last", callbacks=[record(cut / "resumed")]),
                    tmp_path / "resumed.log")
    assert resumed.wait(TIMEOUT) == 0, (tmp_path / "resumed.log").read_text()
    assert uninterrupted.wait(TIMEOUT) == 0, (tmp_path / "full.log").read_text()

    reference = read_batches(full / "batches")
    continued = read_batches(cut / "resumed")
    assert len(reference) == 8 and (continued[0]["step"], continued[0]["epoch"]) == (6, 1)
    before_kill = [row for row in read_batches(cut / "batches") if row["step"] < 6]
    assert before_kill + continued == reference  # same step numbers, epochs, sample ids and order

    expected, actual = trained_weights(full / "export"), trained_weights(cut / "export")
    assert expected.keys() == actual.keys() and any("lora_B" in k for k in expected)
    different = [k for k in expected if not torch.equal(expected[k], actual[k])]
    assert not different, f"not bit-identical after resume: {different[:5]}"
