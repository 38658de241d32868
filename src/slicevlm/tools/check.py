"""``slicevlm check-data``: what is wrong with an M3D data root, counted and listed.

Errors (exit status 1): index files that cannot be read, bad json entries and CSV rows (paths
that are absolute or climb out of the data root with ``..`` included: nothing outside the root is
ever opened), missing files, volumes whose header (``--deep``: whole content) cannot be used, empty
reports.
Leakage (reported; exit status 3 only with ``--strict``): the same case folder in a training split
and in a validation/test split — a known issue of the M3D release — and the same content under
*different* case folders: identical volumes (bytes) or reports (text) in two folders, which the
public M3D-Cap also holds. Duplicate groups are listed with their splits.
``--write-case-disjoint-split OUT_DIR`` writes the json and CSVs without leakage: test cases (and
every case holding a copy of one) stay as they are, training (and validation) rows of held-out cases
are dropped.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections import defaultdict
from pathlib import Path
from typing import Annotated

from tqdm import tqdm

from slicevlm.command_line import Arg, run_command
from slicevlm.tools.duplicates import duplicate_groups
from slicevlm.io.errors import DataError
from slicevlm.io.limits import entry_path_problem
from slicevlm.io.readers import find_reader, load_volume
from slicevlm.data.records import case_of, iter_vqa_rows, read_caption_json, read_utf8
from slicevlm.errors import report as report_user_error

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
        self.groups: dict[str, set[str]] = defaultdict(set)  # path -> split groups referencing it
        self.counts: dict[str, int] = {}

    def caption(self, root: Path, cap_json: str) -> None:
        """Collect the entries of every list in the caption index."""
        path = root / cap_json
        try:
            data = read_caption_json(path)
        except DataError as e:  # the message names the file already
            self.errors["bad_index"].append(_issue(cap_json, "", str(e)))
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
                unsafe = [(f, v, entry_path_problem(v)) for f, v in (("image", image), ("text", text))]
                unsafe = [(f, v, problem) for f, v, problem in unsafe if problem is not None]
                if unsafe:  # never stat or open it: the entry is wrong whatever lives there
                    for field, value, problem in unsafe:
                        self.errors["bad_rows"].append(
                            _issue(f"{where} field {field!r}", value, f"{problem}; expected a path inside the data root")
                        )
                    continue
                self.images.setdefault(image, where)
                self.texts.setdefault(text, where)
                group = "caption test" if split in CAPTION_TEST_KEYS else f"caption {split}"
                self.cases[group].add(case_of(image))
                self.groups[image].add(group)
                self.groups[text].add(group)

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
                group = "vqa test" if split == "test5k" else f"vqa {split}"
                self.cases[group].add(case_of(record.image_path))
                self.groups[record.image_path].add(group)
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

    def duplicates(self, root: Path) -> dict[str, list[dict]]:
        """Identical volumes and reports under different case folders, with the splits of each."""
        found: dict[str, list[dict]] = {}
        for kind, paths in (("volumes", self.images), ("reports", self.texts)):
            found[kind] = [
                {
                    "paths": group,
                    "cases": sorted({case_of(p) for p in group}),
                    "splits": sorted(set().union(*(self.groups[p] for p in group))),
                }
                for group in duplicate_groups(root, sorted(paths), case_of, kind)
            ]
        return found


LEAKAGE_PAIRS: tuple[tuple[str, str], ...] = (
    ("caption train", "caption test"),
    ("caption train", "caption validation"),
    ("vqa train", "vqa test"),
    ("vqa train", "vqa val"),
    ("vqa train", "caption test"),
    ("caption train", "vqa test"),
)


def _duplicate_leakage(duplicates: dict[str, list[dict]]) -> list[dict]:
    """Duplicate groups whose copies sit on both sides of a leakage pair (train vs held out)."""
    leaks = []
    for kind, groups in duplicates.items():
        for group in groups:
            pairs = [f"{left} & {right}" for left, right in LEAKAGE_PAIRS if left in group["splits"] and right in group["splits"]]
            if pairs:
                leaks.append({"kind": kind, "cases": group["cases"], "pairs": pairs})
    return leaks


def check_data_root(
    data_root: str | os.PathLike,
    cap_json: str = "M3D_Cap.json",
    vqa_files: dict[str, str] | None = None,
    deep: bool = False,
    duplicates: bool = True,
) -> dict:
    """Check a data root and return the report (see :func:`main` for the printed form).

    Args:
        data_root: Folder the json/CSV paths are relative to.
        cap_json: Caption index name.
        vqa_files: split -> CSV name; default :data:`VQA_FILES`.
        deep: Load every volume fully (NaN, constant, ...) instead of checking headers.
        duplicates: Hash volumes and reports to find identical content under different case folders.

    Returns:
        ``{"data_root", "counts", "errors": {kind: [issue]}, "leakage": {pair: {"cases", "examples"}},
        "duplicates": {"volumes"|"reports": [{"paths", "cases", "splits"}]}, "duplicate_leakage":
        [{"kind", "cases", "pairs"}], "n_errors", "n_leaked_cases"}``; an issue is
        ``{"where", "path", "problem"}``. ``n_leaked_cases`` counts cases leaked by folder or by content.

    Raises:
        DataError: ``data_root`` is not a folder.
    """
    root = Path(data_root)
    if not root.is_dir():
        raise DataError(
            f"{root}: no such folder; expected an M3D data root holding {cap_json}, the VQA CSVs and "
            "M3D_Cap_npy/ (see data/README.md)."
        )
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
    found = scan.duplicates(root) if duplicates else {"volumes": [], "reports": []}
    content_leaks = _duplicate_leakage(found)
    leaked = set().union(*(set(v["examples"]) for v in leakage.values())) if leakage else set()
    leaked |= {case for leak in content_leaks for case in leak["cases"]}
    return {
        "data_root": str(root),
        "counts": scan.counts,
        "errors": scan.errors,
        "leakage": leakage,
        "duplicates": found,
        "duplicate_leakage": content_leaks,
        "n_errors": sum(len(v) for v in scan.errors.values()),
        "n_leaked_cases": len(leaked),
    }


def write_case_disjoint_split(
    data_root: str | os.PathLike,
    out_dir: str | os.PathLike,
    cap_json: str = "M3D_Cap.json",
    vqa_files: dict[str, str] | None = None,
    linked_cases: list[list[str]] | None = None,
) -> dict[str, int]:
    """Write the json and CSVs of ``data_root`` to ``out_dir`` without case leakage.

    Held-out cases are those of any test list (caption test/test100/test500/test1k, VQA test and
    test5k); validation cases are those of caption validation and VQA val that are not test
    cases. Training rows of held-out or validation cases, and validation rows of test cases, are
    dropped; test lists are unchanged. Paths inside stay relative to ``data_root``, so point the
    DataModule at the new files with absolute paths (``cap_json=OUT_DIR/M3D_Cap.json``).

    Args:
        linked_cases: Groups of case folders holding identical content (``check_data_root``'s
            duplicate groups): a case linked to a held-out case is held out too.

    Returns:
        Rows dropped per file/split.
    """
    root, out = Path(data_root), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vqa_files = VQA_FILES if vqa_files is None else vqa_files
    cap = read_caption_json(root / cap_json)
    vqa = {split: _read_csv(root / name) for split, name in vqa_files.items() if (root / name).exists()}
    image_key = "Image Path"
    for split, entries in cap.items():
        for position, entry in enumerate(entries):
            if not isinstance(entry, dict) or not isinstance(entry.get("image"), str):
                raise DataError(
                    f"{root / cap_json}: split {split!r}, entry {position}: expected an object with an 'image' path, "
                    f"got {entry!r}. Fix the entries check-data lists before writing a split."
                )
    for split, (fieldnames, _) in vqa.items():
        if image_key not in fieldnames:
            raise DataError(f"{root / vqa_files[split]}: header {fieldnames} lacks {image_key!r}; fix the CSV first.")
    test_cases = {case_of(e["image"]) for key in CAPTION_TEST_KEYS for e in cap.get(key, [])}
    test_cases |= {case_of(row[image_key]) for split in ("test", "test5k") for row in vqa.get(split, (None, []))[1]}
    val_cases = {case_of(e["image"]) for e in cap.get("validation", [])}
    val_cases |= {case_of(row[image_key]) for row in vqa.get("val", (None, []))[1]}
    val_cases -= test_cases
    for group in linked_cases or []:
        for held_out in (test_cases, val_cases):
            if held_out & set(group):
                held_out |= set(group)
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
    with io.StringIO(read_utf8(path), newline="") as handle:
        reader = csv.DictReader(handle)
        try:
            rows = list(reader)
        except csv.Error as e:
            raise DataError(f"{path}: line {reader.line_num} cannot be read as CSV ({e}); re-save it as a plain CSV.") from e
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
    folder_leaks = len(set().union(*(set(v["examples"]) for v in report["leakage"].values()))) if report["leakage"] else 0
    lines.append(f"leakage (same case folder in both): {folder_leaks} cases")
    for pair, found in report["leakage"].items():
        shown = ", ".join(found["examples"][:5])
        lines.append(f"  {pair}: {found['cases']} cases (e.g. {shown})")
    for kind, groups in report.get("duplicates", {}).items():
        lines.append(f"duplicate {kind} under different case folders: {len(groups)} groups")
        for group in groups[:limit]:
            lines.append(f"    - {' = '.join(group['paths'])} (splits: {', '.join(group['splits'])})")
        if len(groups) > limit:
            lines.append(f"    ... and {len(groups) - limit} more (--json lists all)")
    content = report.get("duplicate_leakage", [])
    if content:
        lines.append(f"leakage by content (copies in train and held-out splits): {len(content)} groups")
    if report["leakage"] or content:
        lines.append("  fix: slicevlm check-data DATA_ROOT --write-case-disjoint-split OUT_DIR")
    return "\n".join(lines)


def check_data(
    data_root: str,
    cap_json: str = "M3D_Cap.json",
    as_json: Annotated[bool, Arg(flag="--json")] = False,
    deep: bool = False,
    captions_only: bool = False,
    strict: bool = False,
    no_duplicates: bool = False,
    split_dir: Annotated[str | None, Arg(flag="--write-case-disjoint-split", metavar="OUT_DIR")] = None,
) -> int:
    """What is wrong with an M3D data root, counted and listed.

    Exit status: 0 clean, 1 errors found (or the split could not be written), 3 train/test
    leakage under --strict.

    Args:
        data_root: folder holding M3D_Cap.json, the VQA CSVs and M3D_Cap_npy/
        cap_json: caption index name
        as_json: print the full report as JSON
        deep: load every volume fully (slow) instead of reading headers
        captions_only: check M3D-Cap only (no VQA CSVs expected)
        strict: exit 3 when train and test share cases (by folder or content)
        no_duplicates: skip hashing volumes and reports for duplicates
        split_dir: write json/CSVs without case leakage
    """
    vqa_files = {} if captions_only else None
    try:
        report = check_data_root(data_root, cap_json, vqa_files, deep=deep, duplicates=not no_duplicates)
    except DataError as e:
        report_user_error("slicevlm check-data", e)
        return 1
    if split_dir:
        linked = [group["cases"] for groups in report["duplicates"].values() for group in groups]
        try:
            dropped = write_case_disjoint_split(data_root, split_dir, cap_json, vqa_files, linked)
        except DataError as e:
            report_user_error("slicevlm check-data", e)
            return 1
        report["case_disjoint_split"] = {"out_dir": split_dir, "dropped": dropped}
    if as_json:
        print(json.dumps(report, indent=1))
    else:
        print(format_report(report))
        if "case_disjoint_split" in report:
            split = report["case_disjoint_split"]
            print(f"wrote a case-disjoint split to {split['out_dir']} (dropped {split['dropped']})")
    if report["n_errors"]:
        print(f"check-data: {report['n_errors']} errors in {data_root}", file=sys.stderr)
        return 1
    return 3 if strict and report["n_leaked_cases"] else 0


def main(argv: list[str] | None = None) -> int:
    """``slicevlm check-data DATA_ROOT [--json] [--deep] [--strict] [--write-case-disjoint-split OUT_DIR]``."""
    return run_command(check_data, argv, prog="slicevlm check-data")
