"""scripts/probe_image_use.py: the teacher-forced own-against-swapped probe of a checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    from slicevlm.testbed.synth import write_synthetic_dataset

    return write_synthetic_dataset(tmp_path_factory.mktemp("probe_data"), n=30, seed=0, shape=(16, 32, 32))


def _table(script, model, folder: Path, data_root: Path, capsys) -> dict[tuple[str, str], list[float]]:
    from slicevlm.checkpoint import save_checkpoint_folder

    save_checkpoint_folder(model, folder, stage=1, input_size=(16, 32, 32))
    script.main([str(folder), "--data-root", str(data_root), "--max-samples", "4", "--batch-size", "4"])
    rows = [line.split("|")[1:-1] for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "---" not in line][1:]
    table = {}
    for task, kind, _, first, nll in rows:
        own, swapped = (float(value) for value in nll.split("/"))
        table[(task.strip(), kind.strip())] = [own, swapped]
    return table


def test_a_model_that_reads_the_volume_scores_own_and_swapped_apart(tiny_model_factory, data_root, tmp_path, capsys, load_script):
    torch.manual_seed(0)
    table = _table(load_script("probe_image_use"), tiny_model_factory(), tmp_path / "reads", data_root, capsys)
    assert {task for task, _ in table} == {"caption", "vqa_closed", "vqa_open"}
    assert any(abs(own - swapped) > 1e-4 for own, swapped in table.values())


def test_a_model_blind_to_the_volume_scores_both_alike(tiny_model_factory, data_root, tmp_path, capsys, load_script):
    torch.manual_seed(0)
    model = tiny_model_factory()
    with torch.no_grad():  # the projector's output no longer depends on the volume
        for layer in model.projector.modules():
            if isinstance(layer, torch.nn.Linear):
                layer.weight.zero_()
    table = _table(load_script("probe_image_use"), model, tmp_path / "blind", data_root, capsys)
    assert table and all(abs(own - swapped) < 1e-4 for own, swapped in table.values())
