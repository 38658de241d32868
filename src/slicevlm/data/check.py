"""``slicevlm check-data``: what is wrong with an M3D data root, counted and listed.

Errors (exit status 1): index files that cannot be read, bad json entries and CSV rows, missing
files, volumes whose header (``--deep``: whole content) cannot be used, empty reports.
Leakage (reported; exit status 3 only with ``--strict``): the same case folder in a training split
and in a validation/test split — a known issue of the M3D release (SPEC §3).
``--write-case-disjoint-split OUT_DIR`` writes the json and CSVs without leakage: test cases stay
as they are, training (and validation) rows of held-out cases are dropped.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

from tqdm import tqdm

from slicevlm.data.errors import DataError
from slicevlm.data.readers import find_reader, load_volume
from slicevlm.data.records import case_of, iter_vqa_rows, read_caption_json

VQA_FILES: dict[str, str] = {
    "train": "M3D_VQA_train.csv",
    "val": "M3D_VQA_val.csv",
    "test": "M3D_VQA_test.csv",
    "test5k": "M3D_VQA_test5k.csv",
}
OPTIONAL_VQA: tuple[str, ...] = ("test5k",)
ERROR_KINDS: tuple[str, ...] = ("bad_index", "bad_rows", "missing_files", "unreadable_volumes", "empty_reports")
CAPTION_TEST_KEYS: tuple[str, ...] = ("test", "test100", "test500", "test1k")


def _issue(where: str, path: str, problem: str) -> dict[str, str]:
    return {"where": where, "path": path, "problem": problem}


class _Scan:
    """Everything the index files reference, with the first place that references it."""

    def __init__(self) -> None:
        self.errors: dict[str, list[dict[str, str]]] = {kind: [] for kind in ERROR_KINDS}
        self.images: dict[str, str] = {}
        self.texts: dict[str, str] = {}
        self.cases: dict[str, set[str]] = defaultdict(set)
        self.counts: dict[str, int] = {}

    def caption(self, root: Path, cap_json: str) -> None:
        """Collect the entries of every list in the caption index."""
        path = root / cap_json
        try:
            data = read_caption_json(path)
        except DataError as e:
            self.errors["bad_index"].append(_issue(cap_json, str(path), str(e)))
            return
        for split, entries in data.items():
            self.counts[f"caption {split}"] = len(entries)
            for position, entry in enumerate(entries):
                where = f"{cap_json} split {split!r} entry {position}"
                fields = [entry.get(f) if isinstance(entry, dict) else None for f in ("image", "text")]
                if not all(isinstance(value, str) and value.strip() for value in fields):
                    self.errors["bad_rows"].append(
                        _issue(where, "", f"expected string 'image' and 'text' paths, got {entry!r}")
                    )
                    continue
                image, text = fields
                self.images.setdefault(image, where)
                self.texts.setdefault(text, where)
                group = "caption test" if split in CAPTION_TEST_KEYS else f"caption {split}"
                self.cases[group].add(case_of(image))

    def vqa(self, root: Path, split: str, name: str) -> None:
        """Collect the rows of one VQA CSV (a missing optional CSV is fine)."""
        path = root / name
        if not path.exists():
            if split not in OPTIONAL_VQA:
                self.errors["missing_files"].append(_issue(name, str(path), "VQA CSV not found"))
            return
        rows = 0
        try:
            for row, _raw, record, error in iter_vqa_rows(path):
                rows += 1
                if error is not None:
                    self.errors["bad_rows"].append(_issue(f"{name} row {row + 1}", str(path), str(error)))
                    continue
                self.images.setdefault(record.image_path, f"{name} row {row + 1}")
                self.cases["vqa test" if split == "test5k" else f"vqa {split}"].add(case_of(record.image_path))
        except DataError as e:
            self.errors["bad_index"].append(_issue(name, str(path), str(e)))
        self.counts[f"vqa {split} rows"] = rows

    def files(self, root: Path, deep: bool) -> None:
        """Check every referenced volume (header, or whole with ``deep``) and report text."""
        for image, where in tqdm(sorted(self.images.items()), desc="volumes", unit="vol", disable=None, leave=False):
            path = root / image
            if not path.exists():
                self.errors["missing_files"].append(_issue(where, image, "volume not found"))
                continue
            try:
                if deep:
                    load_volume(path)
                else:
                    find_reader(path).header_shape(path)
            except DataError as e:
                self.errors["unreadable_volumes"].append(_issue(where, image, str(e)))
        for text, where in sorted(self.texts.items()):
            path = root / text
            if not path.is_file():
                self.errors["missing_files"].append(_issue(where, text, "report text not found"))
            elif not path.read_text(encoding="utf-8", errors="replace").strip():
                self.errors["empty_reports"].append(_issue(where, text, "report text is empty"))
        self.counts["volumes checked"] = len(self.images)
        self.counts["reports checked"] = len(self.texts)


LEAKAGE_PAIRS: tuple[tuple[str, str], ...] = (
    ("caption train", "caption test"),
    ("caption train", "caption validation"),
    ("vqa train", "vqa test"),
    ("vqa train", "vqa val"),
    ("vqa train", "caption test"),
    ("caption train", "vqa test"),
)


def check_data_root(
    data_root: str | os.PathLike,
    cap_json: str = "M3D_Cap.json",
    vqa_files: dict[str, str] | None = None,
    deep: bool = False,
) -> dict:
    """Check a data root and return the report (see :func:`main` for the printed form).

    Args:
        data_root: Folder the json/CSV paths are relative to.
        cap_json: Caption index name.
        vqa_files: split -> CSV name; default :data:`VQA_FILES`.
        deep: Load every volume fully (NaN, constant, ...) instead of checking headers.

    Returns:
        ``{"data_root", "counts", "errors": {kind: [issue]}, "leakage": {pair: {"cases", "examples"}},
        "n_errors", "n_leaked_cases"}``; an issue is ``{"where", "path", "problem"}``.
    """
    root = Path(data_root)
    scan = _Scan()
    scan.caption(root, cap_json)
    for split, name in (VQA_FILES if vqa_files is None else vqa_files).items():
        scan.vqa(root, split, name)
    scan.files(root, deep)
    leakage = {}
    for left, right in LEAKAGE_PAIRS:
        shared = sorted(scan.cases.get(left, set()) & scan.cases.get(right, set()))
        if shared:
            leakage[f"{left} & {right}"] = {"cases": len(shared), "examples": shared}
    leaked = set().union(*(set(v["examples"]) for v in leakage.values())) if leakage else set()
    return {
        "data_root": str(root),
        "counts": scan.counts,
        "errors": scan.errors,
        "leakage": leakage,
        "n_errors": sum(len(v) for v in scan.errors.values()),
        "n_leaked_cases": len(leaked),
    }


def write_case_disjoint_split(
    data_root: str | os.PathLike,
    out_dir: str | os.PathLike,
    cap_json: str = "M3D_Cap.json",
    vqa_files: dict[str, str] | None = None,
) -> dict[str, int]:
    """Write the json and CSVs of ``data_root`` to ``out_dir`` without case leakage.

    Held-out cases are those of any test list (caption test/test100/test500/test1k, VQA test and
    test5k); validation cases are those of caption validation and VQA val that are not test
    cases. Training rows of held-out or validation cases, and validation rows of test cases, are
    dropped; test lists are unchanged. Paths inside stay relative to ``data_root``, so point the
    DataModule at the new files with absolute paths (``cap_json=OUT_DIR/M3D_Cap.json``).

    Returns:
        Rows dropped per file/split.
    """
    root, out = Path(data_root), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vqa_files = VQA_FILES if vqa_files is None else vqa_files
    cap = read_caption_json(root / cap_json)
    vqa = {split: _read_csv(root / name) for split, name in vqa_files.items() if (root / name).exists()}
    image_key = "Image Path"
    test_cases = {case_of(e["image"]) for key in CAPTION_TEST_KEYS for e in cap.get(key, [])}
    test_cases |= {case_of(row[image_key]) for split in ("test", "test5k") for row in vqa.get(split, (None, []))[1]}
    val_cases = {case_of(e["image"]) for e in cap.get("validation", [])}
    val_cases |= {case_of(row[image_key]) for row in vqa.get("val", (None, []))[1]}
    val_cases -= test_cases
    drop = {"train": test_cases | val_cases, "validation": test_cases, "val": test_cases}
    dropped: dict[str, int] = {}
    for split in ("train", "validation"):
        if split in cap:
            kept = [e for e in cap[split] if case_of(e["image"]) not in drop[split]]
            dropped[f"caption {split}"] = len(cap[split]) - len(kept)
            cap[split] = kept
    (out / Path(cap_json).name).write_text(json.dumps(cap, indent=1), encoding="utf-8")
    for split, (fieldnames, rows) in vqa.items():
        if split in drop:
            kept = [row for row in rows if case_of(row[image_key]) not in drop[split]]
            dropped[f"vqa {split}"] = len(rows) - len(kept)
            rows = kept
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=fieldnames, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        (out / Path(vqa_files[split]).name).write_text(buffer.getvalue(), encoding="utf-8")
    (out / "split_report.json").write_text(
        json.dumps({"data_root": str(root), "dropped": dropped}, indent=1), encoding="utf-8"
    )
    return dropped


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        return [name.strip() for name in reader.fieldnames or []], [
            {key.strip(): value for key, value in row.items() if key is not None} for row in rows
        ]


def format_report(report: dict, limit: int = 20) -> str:
    """The report as text, listing at most ``limit`` items per kind."""
    lines = [f"check-data {report['data_root']}"]
    lines += [f"  {name}: {count:,}" for name, count in report["counts"].items()]
    lines.append(f"errors: {report['n_errors']}")
    for kind, issues in report["errors"].items():
        if issues:
            lines.append(f"  {kind.replace('_', ' ')}: {len(issues)}")
            lines += [f"    - {i['where']}: {i['path']} {i['problem']}".rstrip() for i in issues[:limit]]
            if len(issues) > limit:
                lines.append(f"    ... and {len(issues) - limit} more (--json lists all)")
    lines.append(f"leakage (same case folder in both): {report['n_leaked_cases']} cases")
    for pair, found in report["leakage"].items():
        shown = ", ".join(found["examples"][:5])
        lines.append(f"  {pair}: {found['cases']} cases (e.g. {shown})")
    if report["leakage"]:
        lines.append("  fix: slicevlm check-data DATA_ROOT --write-case-disjoint-split OUT_DIR")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """``slicevlm check-data DATA_ROOT [--json] [--deep] [--strict] [--write-case-disjoint-split OUT_DIR]``."""
    parser = argparse.ArgumentParser(prog="slicevlm check-data", description=__doc__.split("\n")[0])
    parser.add_argument("data_root", help="folder holding M3D_Cap.json, the VQA CSVs and M3D_Cap_npy/")
    parser.add_argument("--cap-json", default="M3D_Cap.json", help="caption index name (default M3D_Cap.json)")
    parser.add_argument("--json", action="store_true", help="print the full report as JSON")
    parser.add_argument("--deep", action="store_true", help="load every volume fully (slow) instead of reading headers")
    parser.add_argument("--captions-only", action="store_true", help="check M3D-Cap only (no VQA CSVs expected)")
    parser.add_argument("--strict", action="store_true", help="exit 3 when train and test share cases")
    parser.add_argument("--write-case-disjoint-split", metavar="OUT_DIR", help="write json/CSVs without case leakage")
    args = parser.parse_args(argv)
    vqa_files = {} if args.captions_only else None
    report = check_data_root(args.data_root, args.cap_json, vqa_files, deep=args.deep)
    if args.write_case_disjoint_split:
        report["case_disjoint_split"] = {
            "out_dir": args.write_case_disjoint_split,
            "dropped": write_case_disjoint_split(
                args.data_root, args.write_case_disjoint_split, args.cap_json, vqa_files
            ),
        }
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(format_report(report))
        if "case_disjoint_split" in report:
            split = report["case_disjoint_split"]
            print(f"wrote a case-disjoint split to {split['out_dir']} (dropped {split['dropped']})")
    if report["n_errors"]:
        print(f"check-data: {report['n_errors']} errors in {args.data_root}", file=sys.stderr)
        return 1
    return 3 if args.strict and report["n_leaked_cases"] else 0
