"""The pieces under the CLI and server: instructions, safe paths, slice mapping, attention maps, batching."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from slicevlm.inference.errors import InputError
from slicevlm.vision.maps import attention_grid
from slicevlm.inference.instructions import is_report_request, parse_choices, question_instruction
from slicevlm.inference.paths import resolve_under
from slicevlm.inference.predictor import VolumeQA
from slicevlm.llm.generation_config import GenerationConfig
from slicevlm.inference.volumes import original_slice_index, prepare_volume


def test_closed_questions_follow_m3d_and_pad_missing_choices():
    assert question_instruction("Which organ?", ["liver", "spleen", "kidney", "lung"]) == (
        "Which organ? Choices: A. liver B. spleen C. kidney D. lung"
    )
    assert question_instruction(" Where? ", parse_choices("left|right")) == "Where? Choices: A. left B. right C. NA D. NA"
    assert question_instruction("What phase?", None) == "What phase?"
    assert parse_choices("a, b ,c") == ["a", "b", "c"] and parse_choices("x, y|z") == ["x, y", "z"] and parse_choices("") == []
    assert is_report_request(" Report ") and not is_report_request("report the size")
    for bad in (["only"], ["a", "b", "c", "d", "e"], ["a", ""]):
        with pytest.raises(InputError, match="choices"):
            question_instruction("q?", bad)
    with pytest.raises(InputError, match="characters"):
        question_instruction("x" * 2000)


def test_paths_cannot_leave_the_data_folder(tmp_path):
    root = tmp_path / "data"
    (root / "case").mkdir(parents=True)
    (tmp_path / "secret.npy").write_bytes(b"x")
    os.symlink(tmp_path / "secret.npy", root / "link.npy")
    assert resolve_under(root, "case/../case") == (root / "case").resolve()
    for bad in ("../secret.npy", "/etc/passwd", "case/../../secret.npy", "link.npy", "", "a\x00b"):
        with pytest.raises(InputError):
            resolve_under(root, bad)


def test_kept_slices_map_back_to_the_nearest_original_slice():
    assert [original_slice_index(i, 50, 50) for i in (0, 25, 49)] == [0, 25, 49]
    assert [original_slice_index(i, 100, 50) for i in (0, 49)] == [0, 98]  # centres 0.5 and 98.5: ties round to even
    assert original_slice_index(10, 20, 40) == 5
    assert all(0 <= original_slice_index(i, 7, 50) < 7 for i in range(50))


def test_arrays_are_checked_normalised_and_resampled():
    prepared = prepare_volume(np.arange(2 * 8 * 8, dtype=np.float32).reshape(1, 2, 8, 8), (4, 16, 16))
    assert prepared.tensor.shape == (4, 16, 16) and prepared.original_shape == (2, 8, 8)
    assert float(prepared.tensor.min()) >= 0 and float(prepared.tensor.max()) <= 1
    with pytest.raises(InputError, match="expected"):
        prepare_volume(np.zeros((2, 3, 4, 5)), (4, 16, 16))
    with pytest.raises(InputError, match="NaN"):
        prepare_volume(np.full((2, 4, 4), np.nan), (4, 16, 16))


def test_local_attention_scatters_children_back_to_their_positions():
    # one query per 2×2×2 block; child k of query m gets weight unique to (m, k)
    depth, height, width, s = 4, 4, 4, 2
    queries = (depth // s) * (height // s) * (width // s)
    weights = torch.arange(queries * s**3, dtype=torch.float32).view(1, 1, queries, s**3)
    grid = attention_grid(weights, "local", (depth, height, width), s)[0] * (queries * s**3 - 1)  # undo min-max
    # position (z, y, x) belongs to query (z//2, y//2, x//2) as child (z%2, y%2, x%2)
    for z, y, x in [(0, 0, 0), (1, 0, 1), (3, 2, 1), (2, 3, 3)]:
        m = (z // s) * 4 + (y // s) * 2 + (x // s)
        k = (z % s) * 4 + (y % s) * 2 + (x % s)
        assert grid[z, y, x].item() == pytest.approx(m * s**3 + k)
    assert attention_grid(None, "none", (depth, height, width), s) is None


@pytest.mark.parametrize("injection", ["global", "local", "none"])
def test_answer_many_keeps_order_and_batches(tiny_model_factory, injection):
    qa = VolumeQA(tiny_model_factory(injection=injection), (32, 64, 64), generation=GenerationConfig(max_new_tokens=3))
    rng = np.random.default_rng(1)
    volumes = [rng.random((10, 40, 40), dtype=np.float32) for _ in range(3)]
    answers = qa.answer_many(volumes, ["Which organ?", "What phase?", "What plane?"], batch_size=2)
    assert [a.batch_size for a in answers] == [2, 2, 1]
    assert [a.instruction for a in answers] == ["Which organ?", "What phase?", "What plane?"]
    assert all(len(a.kept_slices) == 8 and a.source == "<array>" for a in answers)
    explanation = qa.explain(volumes[0])
    assert (explanation.attention is None) == (injection == "none")
    with pytest.raises(InputError, match="one instruction per volume"):
        qa.answer_many(volumes, ["only one"])


def test_resolve_device_takes_the_command_line_device_syntax():
    from slicevlm.inference.errors import InputError
    from slicevlm.inference.predictor import resolve_device

    assert resolve_device("CPU") == "cpu"
    assert resolve_device("auto") in ("cpu", "cuda")
    for bad in ("gpu", "cuda:x", "cpu:0"):
        with pytest.raises(InputError, match="cuda:N"):
            resolve_device(bad)
