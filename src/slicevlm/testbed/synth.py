"""``slicevlm synth``: a synthetic 3D VQA testbed written in exactly the M3D layout.

Output (``OUT``)::

    M3D_Cap.json                      {"train", "validation", "test", "test100", "test500", "test1k"}
    M3D_Cap_npy/synth/<case>/<Plane>_<phase>.npy   float32 (1, D, H, W) in [0, 1]
    M3D_Cap_npy/synth/<case>/text.txt              the report (shared by the case's series)
    M3D_VQA_train.csv  M3D_VQA_val.csv  M3D_VQA_test.csv  M3D_VQA_test5k.csv

With ``--raw`` it writes the raw M3D-Cap layout instead (``<source>/<case>/<series>/<n>.png``
numbered slices + ``text.txt`` with ``study_findings:``/``discussion:``), the input of
``slicevlm prepare-m3d``. Cases are split case-disjointly (10% test, 5% validation). Everything is
a function of ``seed``: the same arguments write byte-identical files.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Annotated

import numpy as np

from slicevlm.command_line import Arg, run_command
from slicevlm.testbed.findings import ChoiceOrder, CaseTruth, report_text, sample_case, vqa_rows
from slicevlm.testbed.phantom import render
from slicevlm.data.records import VQA_COLUMNS  # stdlib-only module: `synth` stays light


def parse_shape(text: str) -> tuple[int, int, int]:
    """``"32,256,256"`` -> ``(32, 256, 256)``; raises ValueError naming the expected form."""
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError as e:
        raise ValueError(f"shape must be D,H,W integers such as 32,256,256, got {text!r}.") from e
    if len(shape) != 3 or min(shape) < 2:
        raise ValueError(f"shape must be three integers >= 2 (D,H,W), got {text!r}.")
    return shape  # type: ignore[return-value]


def series_name(plane: str, phase: str) -> str:
    """``("axial", "portal venous")`` -> ``"Axial_portal_venous"`` (M3D-style series names)."""
    return f"{plane.capitalize()}_{phase.replace(' ', '_').replace('-', '_')}"


def _split_cases(n: int, seed: int) -> dict[str, list[int]]:
    if n < 3:
        raise ValueError(f"--n must be >= 3 so that train, validation and test each get a case, got {n}.")
    order = np.random.default_rng([seed, 7_919]).permutation(n)
    n_test, n_val = max(1, round(0.1 * n)), max(1, round(0.05 * n))
    return {
        "test": sorted(order[:n_test].tolist()),
        "validation": sorted(order[n_test : n_test + n_val].tolist()),
        "train": sorted(order[n_test + n_val :].tolist()),
    }


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _npy_bytes(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=VQA_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    _atomic_write(path, buffer.getvalue().encode("utf-8"))


def _case(seed: int, index: int) -> tuple[CaseTruth, str]:
    rng = np.random.default_rng([seed, index, 0])
    truth = sample_case(rng)
    return truth, report_text(truth, rng)


def _volume(
    truth: CaseTruth, plane: str, shape: tuple[int, int, int], seed: int, index: int, series: int
) -> np.ndarray:
    rng = np.random.default_rng([seed, index, 1 + series])
    return render(truth.phase, truth.lesions, truth.organ, plane, shape, rng)  # (D, H, W)


def write_synthetic_dataset(
    out: str | os.PathLike,
    n: int = 200,
    seed: int = 0,
    shape: tuple[int, int, int] = (32, 256, 256),
    raw: bool = False,
    source: str = "synth",
    choice_order: str = "shuffled",
) -> Path:
    """Write the synthetic testbed and return ``out``.

    Args:
        out: Output folder (created; existing files of the same names are replaced).
        n: Number of cases (a case has one or two series, i.e. volumes).
        seed: Seed of everything (same seed, same bytes).
        shape: Volume shape ``(D, H, W)``.
        raw: Write the raw M3D-Cap layout (numbered PNG slices) instead of npy + json + CSVs.
        source: Name of the source folder (M3D has e.g. ``ct_quizze``, ``ct_case``).
        choice_order: ``"shuffled"`` closed-question choices (as M3D) or ``"fixed"`` (one
            canonical order per question type; same volumes, reports and questions otherwise).
            The CPU demo uses ``"fixed"``: see ``slicevlm.testbed.findings``.
    """
    out = Path(out)
    if raw:
        for index in range(n):
            _write_raw_case(out, source, seed, index, shape)
        return out
    splits = _split_cases(n, seed)
    split_of = {index: split for split, indices in splits.items() for index in indices}
    entries: dict[str, list[dict[str, str]]] = {"train": [], "validation": [], "test": []}
    rows: dict[str, list[dict[str, str]]] = {"train": [], "validation": [], "test": []}
    for index in range(n):
        truth, report = _case(seed, index)
        case_dir = f"M3D_Cap_npy/{source}/{index:06d}"
        _atomic_write(out / case_dir / "text.txt", report.encode("utf-8"))
        for series, plane in enumerate(truth.planes):
            image = f"{case_dir}/{series_name(plane, truth.phase)}.npy"
            volume = _volume(truth, plane, shape, seed, index, series)
            _atomic_write(out / image, _npy_bytes(volume[None]))  # (1, D, H, W)
            entries[split_of[index]].append({"image": image, "text": f"{case_dir}/text.txt"})
            rng = np.random.default_rng([seed, index, 100 + series])
            rows[split_of[index]] += vqa_rows(truth, plane, image, report, rng, choice_order)
    test = entries["test"]
    index_json = {**entries, "test100": test[:100], "test500": test[:500], "test1k": test[:1000]}
    _atomic_write(out / "M3D_Cap.json", json.dumps(index_json, indent=1).encode("utf-8"))
    _write_csv(out / "M3D_VQA_train.csv", rows["train"])
    _write_csv(out / "M3D_VQA_val.csv", rows["validation"])
    _write_csv(out / "M3D_VQA_test.csv", rows["test"])
    _write_csv(out / "M3D_VQA_test5k.csv", rows["test"][:5000])
    return out


def _write_raw_case(out: Path, source: str, seed: int, index: int, shape: tuple[int, int, int]) -> None:
    """Raw layout: numbered PNG slices (1.png, 2.png, ... unpadded) and a structured text.txt."""
    from PIL import Image

    truth, report = _case(seed, index)
    case_dir = out / source / f"{index:06d}"
    rng = np.random.default_rng([seed, index, 200])
    if rng.random() < 0.15:  # findings too short: the report sits under discussion (fallback path)
        text = f"study_history: none\nstudy_findings: \ndiscussion: {report}\n"
    else:
        head, _, tail = report.partition(". ")
        text = f"study_findings: {head}.\n{tail}\ndiscussion: Synthetic case {index}.\n"
    _atomic_write(case_dir / "text.txt", text.encode("utf-8"))
    for series, plane in enumerate(truth.planes):
        volume = _volume(truth, plane, shape, seed, index, series)
        slices = np.round(volume * 255).astype(np.uint8)  # (D, H, W) 8-bit display slices
        folder = case_dir / series_name(plane, truth.phase)
        folder.mkdir(parents=True, exist_ok=True)
        for k, image in enumerate(slices, start=1):
            Image.fromarray(image).save(folder / f"{k}.png", optimize=False)


def synth(
    out: Path,
    n: int = 200,
    seed: int = 0,
    shape: Annotated[tuple[int, int, int], Arg(parse=parse_shape, metavar="D,H,W")] = (32, 256, 256),
    raw: bool = False,
    source: str = "synth",
    choice_order: ChoiceOrder = "shuffled",
) -> int:
    """Write the synthetic 3D VQA testbed in the M3D layout.

    Args:
        out: output folder (becomes a data root)
        n: number of cases
        seed: seed of everything
        shape: volume D,H,W
        raw: write raw numbered PNG slices for prepare-m3d
        source: source folder name
        choice_order: closed-question choices shuffled (as M3D) or in one fixed order per question type
            (the CPU demo: a tiny language model cannot yet read a shuffled list back to a letter)
    """
    written = write_synthetic_dataset(out, n, seed, shape, raw, source, choice_order)
    layout = "raw slice folders" if raw else "M3D layout"
    print(f"wrote {n} synthetic cases ({layout}, shape {','.join(map(str, shape))}) to {written}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``slicevlm synth OUT [--n N] [--seed S] [--shape D,H,W] [--raw]``."""
    return run_command(synth, argv, prog="slicevlm synth")
