"""Image-reliance controls in the data layer: the case derangement and the controlled test set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from slicevlm.data.controls import CONTROL_KEYS, ImageControlDataset, choice_letter, derangement, plan_swaps
from slicevlm.data.datamodule import M3DDataModule
from slicevlm.io.errors import DataError
from slicevlm.data.records import case_of

SIZE = (6, 16, 16)


# ----- derangement ------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 3, 4, 7, 50])
@pytest.mark.parametrize("seed", range(6))
def test_derangement_moves_every_case_and_covers_all(n: int, seed: int) -> None:
    keys = [f"case{i:03d}" for i in range(n)]
    mapping = derangement(keys, seed)
    assert set(mapping) == set(keys)  # every case is asked about ...
    assert sorted(mapping.values()) == sorted(keys)  # ... and lends its volume exactly once
    assert all(mapping[k] != k for k in keys)  # never its own case


def test_derangement_is_deterministic_and_order_free() -> None:
    keys = [f"c{i}" for i in range(20)]
    first = derangement(keys, seed=3)
    assert derangement(list(reversed(keys)) + keys[:5], seed=3) == first  # order and repeats do not matter
    assert any(derangement(keys, seed=s) != first for s in range(4, 8))  # the seed does


def test_derangement_of_two_cases_swaps_them() -> None:
    assert derangement(["b", "a", "a"], seed=11) == {"a": "b", "b": "a"}


def test_derangement_reaches_every_derangement_of_three() -> None:
    seen = {tuple(sorted(derangement("xyz", seed=s).items())) for s in range(40)}
    assert len(seen) == 2  # both 3-cycles: the draw is not stuck on one


def test_derangement_needs_two_cases() -> None:
    with pytest.raises(ValueError, match=r"at least 2 distinct cases, got 1 \('only'\)"):
        derangement(["only", "only"], seed=0)
    with pytest.raises(ValueError, match="got 0"):
        derangement([], seed=0)


# ----- planning the swaps -----------------------------------------------------------------


def test_plan_swaps_never_uses_the_same_case_and_prefers_a_matching_question() -> None:
    images = ["r/c1/Axial.npy", "r/c1/Axial.npy", "r/c1/Coronal.npy", "r/c2/Axial.npy", "r/c2/Sagittal.npy", "r/c3/Axial.npy"]
    kinds = ["Plane", "Organ", "Plane", "Plane", "Organ", "Organ"]
    targets = plan_swaps(images, kinds, seed=0)
    mapping = derangement([case_of(i) for i in images], seed=0)
    for image, kind, target in zip(images, kinds, targets, strict=True):
        assert target.case == mapping[case_of(image)] != case_of(image)
        assert case_of(target.image_path) == target.case
        if target.truth_index is not None:  # the truth item is about the swapped-in volume, same kind
            assert images[target.truth_index] == target.image_path and kinds[target.truth_index] == kind
    into_c2 = [(t, k) for t, k in zip(targets, kinds, strict=True) if t.case == "r/c2"]
    assert into_c2  # some case maps to c2, whose Plane question is on its axial series, its Organ one on sagittal
    assert all(t.image_path == {"Plane": "r/c2/Axial.npy", "Organ": "r/c2/Sagittal.npy"}[k] for t, k in into_c2)


def test_plan_swaps_without_a_matching_question_has_no_truth() -> None:
    targets = plan_swaps(["a/1/x.npy", "a/2/y.npy"], ["Plane", "Organ"], seed=0)
    assert [t.image_path for t in targets] == ["a/2/y.npy", "a/1/x.npy"]
    assert [t.truth_index for t in targets] == [None, None]


def test_choice_letter() -> None:
    assert choice_letter(("Axial", "Coronal", "Sagittal", "NA"), " coronal ") == "B"
    assert choice_letter(("Liver", "Spleen", "Kidney", "Lung"), "Bladder") == ""
    assert choice_letter(("Liver", "NA", "NA", "NA"), "") == ""


# ----- the controlled test set ------------------------------------------------------------


def _module(root: Path, **kwargs) -> M3DDataModule:
    defaults = {"volume_size": SIZE, "eval_batch_size": 6, "num_workers": 0, "pin_memory": False}
    return M3DDataModule(str(root), **{**defaults, **kwargs})


def test_controlled_test_set_pairs_each_question_with_swapped_and_blank(synth_root: Path) -> None:
    plain = _module(synth_root, max_test_samples=4)
    plain.setup("test")
    module = _module(synth_root, max_test_samples=4, image_controls=["swapped", "blank"])
    module.setup("test")
    own_items = [plain.test_dataset[i] for i in range(len(plain.test_dataset))]
    items = [module.test_dataset[i] for i in range(len(module.test_dataset))]
    assert len(items) == 3 * len(own_items)
    for k, own in enumerate(own_items):
        triple = items[3 * k : 3 * k + 3]
        assert [i["id"] for i in triple] == [own["id"], f"{own['id']}|swapped", f"{own['id']}|blank"]
        assert [i["condition"] for i in triple] == ["own", "swapped", "blank"]
        for item in triple:  # the question, its truth and its case never change
            assert (item["instruction"], item["answer"], item["answer_choice"]) == (own["instruction"], own["answer"], own["answer_choice"])
            assert item["case"] == case_of(own["image_path"]) and set(CONTROL_KEYS) <= set(item)
        assert torch.equal(triple[0]["volume"], own["volume"])
        swapped, blank = triple[1], triple[2]
        assert swapped["control_of"] == blank["control_of"] == own["id"]
        assert swapped["control_case"] != triple[0]["case"]
        assert swapped["control_case"] == case_of(swapped["control_image_path"])
        assert torch.equal(swapped["volume"], module.loader(swapped["control_image_path"], "test"))
        assert not torch.equal(swapped["volume"], own["volume"])
        assert blank["volume"].shape == SIZE and float(blank["volume"].abs().sum()) == 0.0
        assert blank["control_image_path"] == "" and blank["control_answer"] == ""


def test_swapped_truth_is_the_swapped_in_volumes_answer_in_this_questions_choices(synth_root: Path) -> None:
    module = _module(synth_root, test_tasks=["vqa_closed"], image_controls=["swapped"])
    module.setup("test")
    dataset = module.test_dataset.datasets[0]
    records = dataset.base.records
    checked = 0
    for k in range(1, len(dataset), 2):
        item = dataset[k]
        own = records[k // 2]
        truth = [r for r in records if r.image_path == item["control_image_path"] and r.question_type == own.question_type]
        assert truth, "the swapped-in volume has a question of the same type"
        assert item["control_answer"] == truth[0].answer
        letter = item["control_answer_choice"]
        if letter:  # named among *this* question's choices
            assert own.choices["ABCD".index(letter)].lower() == truth[0].answer.lower()
        else:
            assert truth[0].answer.lower() not in [c.lower() for c in own.choices]
        checked += 1
    assert checked == len(records)


def test_caption_swaps_carry_the_swapped_in_report(synth_root: Path) -> None:
    module = _module(synth_root, test_tasks=["caption"], image_controls=["swapped"], control_seed=5)
    module.setup("test")
    swapped = module.test_dataset[1]
    report = (synth_root / Path(swapped["control_image_path"]).parent / "text.txt").read_text(encoding="utf-8")
    assert swapped["control_answer"] == " ".join(report.split()) != swapped["answer"]


def test_swaps_follow_the_control_seed_and_ignore_the_subset(synth_root: Path) -> None:
    def swaps(**kwargs) -> dict[str, str]:
        module = _module(synth_root, test_tasks=["vqa_open"], image_controls=["swapped"], **kwargs)
        module.setup("test")
        items = [module.test_dataset[i] for i in range(1, len(module.test_dataset), 2)]
        return {i["control_of"]: i["control_image_path"] for i in items}

    full = swaps()
    subset = swaps(max_test_samples=3)
    assert len(subset) == 3 and all(full[k] == v for k, v in subset.items())  # derangement over the whole split
    assert swaps() == full


def test_one_case_split_and_bad_condition_fail_clearly(synth_root: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"image_controls='shuffled' is not one of \['swapped', 'blank'\]"):
        _module(synth_root, image_controls=["shuffled"])
    one_case = tmp_path / "one.csv"
    lines = (synth_root / "M3D_VQA_test.csv").read_text(encoding="utf-8").splitlines()
    first_case = case_of(lines[1].split(",")[0])
    one_case.write_text("\n".join([lines[0], *[ln for ln in lines[1:] if case_of(ln.split(",")[0]) == first_case]]) + "\n",
                        encoding="utf-8")
    module = _module(synth_root, test_tasks=["vqa_closed"], vqa_test_csv=str(one_case), image_controls=["swapped"])
    with pytest.raises(DataError, match=r"one\.csv: image_controls 'swapped' cannot run: a derangement needs at least 2"):
        module.setup("test")
    blank_only = _module(synth_root, test_tasks=["vqa_closed"], vqa_test_csv=str(one_case), image_controls=["blank"])
    blank_only.setup("test")  # a blank volume needs no other case
    assert len(blank_only.test_dataset) % 2 == 0


def test_without_controls_the_batch_contract_is_unchanged(synth_root: Path) -> None:
    module = _module(synth_root, max_test_samples=2)
    module.setup("test")
    assert not set(CONTROL_KEYS) & set(module.test_dataset[0])
    assert not isinstance(module.test_dataset.datasets[0], ImageControlDataset)
    assert np.all([isinstance(d, torch.utils.data.Subset) for d in module.test_dataset.datasets])
