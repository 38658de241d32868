"""M3D_Cap.json and M3D-VQA CSV parsing: every quirk, every bad row named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slicevlm.io.errors import DataError
from slicevlm.data.prompts import CAPTION_INSTRUCTIONS, caption_instruction, closed_answer, closed_instruction
from slicevlm.data.records import VQA_COLUMNS, caption_records, case_of, read_report, vqa_records

HEADER = ",".join(VQA_COLUMNS)
GOOD_ROWS = [
    'M3D_Cap_npy/ct_case/000001/Axial.npy,"Liver, spleen normal.",1,"In this image, which plane is shown?",Axial,Coronal,Sagittal,NA,Axial,A',
    'M3D_Cap_npy/ct_case/000001/Axial.npy,Report,4,What is seen?,"Mass, solid",Cyst,NA,NA,"Mass, solid",A',
]


def _csv(tmp_path: Path, *rows: str, header: str = HEADER) -> Path:
    path = tmp_path / "M3D_VQA_test.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_quoted_commas_and_na_choices(tmp_path: Path) -> None:
    records = vqa_records(_csv(tmp_path, *GOOD_ROWS))
    first, second = records
    assert first.question == "In this image, which plane is shown?" and first.text == "Liver, spleen normal."
    assert first.choices == ("Axial", "Coronal", "Sagittal", "NA") and first.type_name == "Plane"
    assert second.choices[0] == "Mass, solid" and second.answer == "Mass, solid" and second.row == 1
    assert closed_instruction(first.question, first.choices) == (
        "In this image, which plane is shown? Choices: A. Axial B. Coronal C. Sagittal D. NA"
    )
    assert closed_answer(second.answer_choice, second.answer) == "A. Mass, solid"


@pytest.mark.parametrize(
    ("row", "fragments"),
    [
        ("a.npy,t,7,q,A1,B1,C1,D1,A1,A", ["row 2", "'Question Type'", "got 7", "1..5"]),
        ("a.npy,t,x,q,A1,B1,C1,D1,A1,A", ["row 2", "'Question Type'", "'x'"]),
        ("a.npy,t,1,q,A1,B1,C1,D1,A1,E", ["row 2", "'Answer Choice'", "'E'", "A, B, C or D"]),
        ("a.npy,t,1,q,A1,B1,C1,NA,A1,D", ["row 2", "'Choice D'", "'NA'"]),
        ("a.npy,t,1,,A1,B1,C1,D1,A1,A", ["row 2", "'Question'", "empty"]),
        ("a.npy,t,1,q, with comma,A1,B1,C1,D1,A1,A", ["row 2", "11 fields", "expected 10", "quoted"]),
        ("a.npy,t,1,q,A1,B1,C1,D1,A", ["row 2", "9 fields"]),
    ],
)
def test_bad_rows_named(tmp_path: Path, row: str, fragments: list[str]) -> None:
    path = _csv(tmp_path, GOOD_ROWS[0], row)
    with pytest.raises(DataError) as info:
        vqa_records(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message


def test_bad_header_named(tmp_path: Path) -> None:
    path = _csv(tmp_path, header=HEADER.replace("Answer Choice", "Answer_Choice"))
    with pytest.raises(DataError, match=r"lacks \['Answer Choice'\].*Did you mean 'Answer_Choice'"):
        vqa_records(path)


def test_missing_csv_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="M3D_VQA_val.csv: VQA CSV not found"):
        vqa_records(tmp_path / "M3D_VQA_val.csv")


def _json(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "M3D_Cap.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_caption_json(tmp_path: Path) -> None:
    entry = {
        "image": "M3D_Cap_npy/ct_quizze/005461/Axial_non_contrast.npy",
        "text": "M3D_Cap_npy/ct_quizze/005461/text.txt",
    }
    path = _json(tmp_path, {"train": [entry], "validation": [], "test": [entry, entry]})
    records = caption_records(path, "test")
    assert [r.position for r in records] == [0, 1] and records[0].image == entry["image"]
    with pytest.raises(DataError, match="no split 'tset'.*Did you mean 'test'"):
        caption_records(path, "tset")


def test_caption_json_bad_entry_named(tmp_path: Path) -> None:
    path = _json(tmp_path, {"train": [{"image": "a.npy", "text": "a.txt"}, {"image": "b.npy"}]})
    with pytest.raises(DataError, match=r"M3D_Cap.json: split 'train', entry 1, field 'text': got None"):
        caption_records(path, "train")


def test_caption_json_missing_and_malformed(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="caption index not found"):
        caption_records(tmp_path / "M3D_Cap.json", "train")
    (tmp_path / "M3D_Cap.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(DataError, match="not valid JSON"):
        caption_records(tmp_path / "M3D_Cap.json", "train")
    _json(tmp_path, ["a"])
    with pytest.raises(DataError, match="expected one JSON object"):
        caption_records(tmp_path / "M3D_Cap.json", "train")


def test_report_text(tmp_path: Path) -> None:
    (tmp_path / "text.txt").write_text("  Liver normal.\nSpleen normal.\n", encoding="utf-8")
    assert read_report(tmp_path / "text.txt") == "Liver normal. Spleen normal."
    (tmp_path / "empty.txt").write_text(" \n", encoding="utf-8")
    with pytest.raises(DataError, match=r"empty.txt: empty report \(referenced by M3D_Cap.json entry 3\)"):
        read_report(tmp_path / "empty.txt", "M3D_Cap.json entry 3")


def test_case_of() -> None:
    assert case_of("M3D_Cap_npy/ct_quizze/005461/Axial_non_contrast.npy") == "M3D_Cap_npy/ct_quizze/005461"


def test_caption_instruction_is_reproducible() -> None:
    picks = [caption_instruction(0, i) for i in range(40)]
    assert picks == [caption_instruction(0, i) for i in range(40)]
    assert len(set(picks)) > 5 and set(picks) <= set(CAPTION_INSTRUCTIONS)
    assert picks != [caption_instruction(1, i) for i in range(40)]
