"""The recipe through the faces: stored at export, the default at inference, chosen per call, echoed
in every answer; HU warnings; the choice of a closed answer; the toy and small-model labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from slicevlm.io.recipe import PreprocessingRecipe
from slicevlm.inference.cli import ask_main, batch_main
from slicevlm.llm.generation_config import GenerationConfig

INPUT_SIZE = (16, 32, 32)


@pytest.fixture(scope="module")
def checkpoint(tiny_model_factory, tmp_path_factory) -> Path:
    """A tiny checkpoint trained (so its record says) on axial slices in the abdomen window."""
    from slicevlm.checkpoint import save_checkpoint_folder

    recipe = PreprocessingRecipe().with_window("abdomen")
    return save_checkpoint_folder(tiny_model_factory(), tmp_path_factory.mktemp("recipe") / "ckpt", 1, INPUT_SIZE, preprocessing=recipe)


@pytest.fixture(scope="module")
def hu_nifti(tmp_path_factory) -> Path:
    """A CT-like NIfTI in HU (air -1000, tissue 40, bone 1000), 2.5 mm slices, stored RAS."""
    import nibabel as nib

    d, h, w = 24, 40, 40
    volume = np.full((d, h, w), -1000.0, dtype=np.float32)
    volume[:, 8:32, 8:32] = 40.0
    volume[:, 18:22, 18:22] = 1000.0
    volume[: d // 2, 10:14, 10:14] = 90.0
    path = tmp_path_factory.mktemp("hu") / "ct.nii.gz"
    nib.save(nib.Nifti1Image(np.ascontiguousarray(volume.transpose(2, 1, 0)), np.diag([0.7, 0.7, 2.5, 1])), str(path))
    return path


@pytest.fixture
def run_ask(capsys, caplog):
    """Run ``slicevlm ask --json``; returns (exit code, the JSON, what went to stderr and the log)."""

    def run(*argv: str) -> tuple[int, dict, str]:
        caplog.clear()
        code = ask_main([*argv, "--json", "--max-new-tokens", "6", "--device", "cpu"])
        captured = capsys.readouterr()
        return code, json.loads(captured.out) if captured.out else {}, captured.err + caplog.text

    return run


def test_export_records_the_recipe_and_the_toy_flag(checkpoint):
    metadata = json.loads((checkpoint / "slicevlm.json").read_text(encoding="utf-8"))
    assert metadata["preprocessing"] == PreprocessingRecipe().with_window("abdomen").to_dict()
    # the tiny stand-ins: both parts are tiny, and the tiny LLM is far from the paper's
    assert metadata["toy"] is True and "its language model has" in metadata["toy_reason"]
    assert "its slice encoder (OpenClipSliceEncoder) has" in metadata["toy_reason"]
    assert metadata["small"] is True and "LLaMA-2-7B" in metadata["small_reason"]


def _relabelled(checkpoint: Path, folder: Path, **flags) -> Path:
    """A copy of `checkpoint` whose slicevlm.json records `flags` (a flag given None is removed)."""
    import shutil

    copy = shutil.copytree(checkpoint, folder)
    metadata = json.loads((copy / "slicevlm.json").read_text(encoding="utf-8"))
    for key, value in flags.items():
        if value is None:
            metadata.pop(key, None)
        else:
            metadata[key] = value
    (copy / "slicevlm.json").write_text(json.dumps(metadata), encoding="utf-8")
    return copy


def test_a_small_model_that_is_no_toy_says_small_only(checkpoint, hu_nifti, run_ask, tmp_path):
    """What a real 135 M-parameter LLM beside a real encoder records, answered through ``ask``."""
    small = _relabelled(checkpoint, tmp_path / "small", toy=False, toy_reason=None, small=True,
                        small_reason="its language model has 134,515,584 parameters; the paper's LLaMA-2-7B has 6.7 billion")
    code, result, err = run_ask(str(hu_nifti), "What plane?", "--checkpoint", str(small))
    assert code == 0
    assert result["toy"] is False and result["toy_notice"] is None and "toy model" not in err
    assert result["small"] is True and result["small_notice"].startswith("small model:") and "not for clinical decisions" in result["notice"]
    assert "small model:" in err and "134,515,584 parameters" in err  # on the terminal, with the reason


def test_ask_uses_the_training_recipe_and_echoes_it(checkpoint, hu_nifti, run_ask):
    code, result, err = run_ask(str(hu_nifti), "Which organ?", "--choices", "liver,spleen,kidney", "--checkpoint", str(checkpoint))
    assert code == 0
    applied = result["preprocessing"]
    assert applied["window"] == {"center": 40.0, "width": 400.0, "preset": "abdomen"}  # the checkpoint's, no flag given
    assert applied["axis"] == "axial" and applied["reorientation"] == "RAS -> LPS"
    assert applied["spacing_mm"] == pytest.approx([2.5, 0.7, 0.7], abs=1e-3)
    assert applied["crop"]["mode"] == "center" and applied["depth"]["mode"] == "fixed"
    assert applied["read_shape"] == [24, 40, 40] and applied["resampled_size"] == list(INPUT_SIZE)
    assert result["warnings"] == [] and "raw HU" not in err
    assert result["toy"] is True and "toy model" in result["toy_notice"] and "not for clinical decisions" in result["notice"]
    assert result["small"] is True and "small model" in result["small_notice"]  # the tiny LLM is small as well
    assert "toy model" in err and "small model" in err  # labelled on the terminal too
    assert "choice_note" in result  # a closed question always says what it named
    if result["choice"] is None:
        assert result["choice_note"].startswith("the model named no choice")
    else:
        assert result["choice"]["text"] == ["liver", "spleen", "kidney"]["ABC".index(result["choice"]["letter"])]


def test_window_none_on_hu_warns_and_flags_change_the_recipe(checkpoint, hu_nifti, run_ask):
    code, result, err = run_ask(
        str(hu_nifti), "What plane?", "--checkpoint", str(checkpoint), "--window", "none", "--axis", "coronal",
        "--crop", "foreground", "--depth", "spacing", "--slice-spacing", "1",
    )
    assert code == 0
    applied = result["preprocessing"]
    assert applied["window"] is None and applied["axis"] == "coronal" and applied["crop"]["mode"] == "foreground"
    assert applied["spacing_mm"] == pytest.approx([0.7, 2.5, 0.7], abs=1e-3)  # coronal slices are 0.7 mm apart
    assert applied["depth"]["mode"] == "spacing" and "centre slab" in applied["depth"]["note"]
    assert any("raw HU" in w for w in result["warnings"]) and "raw HU" in err
    assert "choice" not in result and "choice_note" not in result  # an open question names no choice
    for window in (["--window=-600,1500"], ["--window", "-600,1500"]):  # a negative centre, with or without "="
        lung = run_ask(str(hu_nifti), "What plane?", "--checkpoint", str(checkpoint), *window)[1]
        assert lung["preprocessing"]["window"] == {"center": -600.0, "width": 1500.0, "preset": None}


def test_reorient_none_keeps_the_stored_order_per_call_and_is_echoed(checkpoint, hu_nifti, run_ask):
    import torch

    from slicevlm.inference.predictor import VolumeQA

    code, result, _ = run_ask(str(hu_nifti), "What plane?", "--checkpoint", str(checkpoint), "--reorient", "none")
    applied = result["preprocessing"]
    assert code == 0 and applied["reorient"] == "none" and applied["reorientation"] == "none (asked): kept in the stored voxel order (RAS)"
    assert applied["spacing_mm"] == pytest.approx([2.5, 0.7, 0.7], abs=1e-3)
    assert run_ask(str(hu_nifti), "What plane?", "--checkpoint", str(checkpoint))[1]["preprocessing"]["reorient"] == "LPS"
    qa = VolumeQA.from_checkpoint(checkpoint, device="cpu", generation=GenerationConfig(max_new_tokens=4))
    lps = qa.load(hu_nifti).tensor
    stored = qa.load(hu_nifti, preprocessing=qa.preprocessing.override(reorient="none")).tensor
    assert not torch.allclose(lps, stored)
    torch.testing.assert_close(stored, torch.flip(lps, dims=(1, 2)))  # RAS -> LPS flips rows (A/P) and columns (R/L)


def test_bad_reorient_is_a_usage_error(checkpoint, hu_nifti, capsys):
    with pytest.raises(SystemExit) as exit_info:
        ask_main([str(hu_nifti), "q?", "--checkpoint", str(checkpoint), "--reorient", "RAS"])
    assert exit_info.value.code == 2 and "--reorient" in capsys.readouterr().err


def test_bad_window_is_one_line(checkpoint, hu_nifti, capsys):
    with pytest.raises(SystemExit) as exit_info:
        ask_main([str(hu_nifti), "q?", "--checkpoint", str(checkpoint), "--window", "lungs"])
    assert exit_info.value.code == 2 and "Did you mean 'lung'" in capsys.readouterr().err


def test_plain_text_closed_answer_shows_choice_rule_and_generation(checkpoint, hu_nifti, capsys):
    code = ask_main([str(hu_nifti), "Which organ?", "--choices", "liver,spleen", "--checkpoint", str(checkpoint),
                     "--max-new-tokens", "6", "--device", "cpu"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0 and lines[0].startswith("choice: ") and lines[1].startswith("rule: ") and lines[2].startswith("generated: ")


def test_api_answers_per_call_recipe_and_maps_choices(checkpoint, hu_nifti):
    from slicevlm.inference.predictor import VolumeQA

    qa = VolumeQA.from_checkpoint(checkpoint, device="cpu", generation=GenerationConfig(max_new_tokens=4))
    assert qa.preprocessing.window_preset == "abdomen" and qa.toy
    answer = qa.ask(hu_nifti, "Which organ?", ["liver", "spleen"], preprocessing=qa.preprocessing.with_window("bone"))
    assert answer.preprocessing["window"]["preset"] == "bone" and answer.choice is not None
    data = answer.to_dict()
    assert "choice" in data and "choice_note" in data and data["preprocessing"]["window"]["preset"] == "bone"
    assert "choice_note" not in qa.report(hu_nifti).to_dict()
    # 16 model slices x 1 mm = 16 mm = 6 slices of 2.5 mm, centred; kept slices map back into that slab
    slab = qa.load(hu_nifti, preprocessing=PreprocessingRecipe(depth="spacing", slice_spacing_mm=1.0))
    first, stop = slab.depth_range
    assert (first, stop) == (9, 15) and all(first <= slab.original_slice(i) < stop for i in range(INPUT_SIZE[0]))


def test_batch_records_choice_preprocessing_and_labels(checkpoint, hu_nifti, tmp_path, capsys):
    csv = tmp_path / "q.csv"
    csv.write_text(f"volume,question,choices\n{hu_nifti},Which organ?,liver|spleen\n{hu_nifti},report,\n", encoding="utf-8")
    code = batch_main([str(csv), "--out", str(tmp_path / "a.jsonl"), "--checkpoint", str(checkpoint), "--window", "lung",
                       "--max-new-tokens", "4", "--device", "cpu"])
    assert code == 0
    closed, report = (json.loads(line) for line in (tmp_path / "a.jsonl").read_text(encoding="utf-8").splitlines())
    assert "choice_note" in closed and "choice_note" not in report
    assert closed["preprocessing"]["window"]["preset"] == "lung" and closed["toy"] is True
    assert closed["small"] is True and closed["small_notice"].startswith("small model") and report["small"] is True
