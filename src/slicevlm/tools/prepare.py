"""``slicevlm prepare-m3d``: raw M3D-Cap slice folders → model-ready volumes (docs/method.md#data).

Input layout (the M3D-Cap download): ``RAW_ROOT/<source>/<case>/<series>/<n>.jpeg`` slice images
and ``RAW_ROOT/<source>/<case>/text.txt``. Output (a data root): ``OUT_ROOT/M3D_Cap_npy/<source>/
<case>/<series>.npy`` float32 ``(1, 32, 256, 256)`` in [0, 1] and ``.../<case>/text.txt``, so the
official ``M3D_Cap.json`` paths resolve; plus an ``M3D_Cap.json`` with a case-disjoint split when
none is there (an existing one is replaced only if this command wrote it).

The peers' recipe: slices sorted by the integer in their name, greyscale, most common slice shape
kept, whole-volume min-max, foreground crop, resize. Report: the text after ``study_findings:``
(after ``discussion:`` when the findings are under 5 characters), newlines → spaces.
Only files inside RAW_ROOT are read: a slice or report that is a link pointing elsewhere is a
failure. Resumable (finished outputs are skipped; every file is written to a temp name then
renamed), run in a process pool with a progress bar. Failures are never skipped silently: each is listed with
its reason in ``OUT_ROOT/prepare_failures.tsv`` and the command exits 1.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
from tqdm import tqdm

from slicevlm.command_line import Arg, run_command
from slicevlm.io.errors import DataError
from slicevlm.io.limits import is_inside
from slicevlm.io.readers import IMAGE_SUFFIXES, NumpyReader, SliceFolderReader
from slicevlm.testbed.synth import parse_shape
from slicevlm.io.transforms import crop_foreground, normalize_intensity, resize_exact

FAILURES_FILE = "prepare_failures.tsv"
SUMMARY_FILE = "prepare_summary.json"
_KEY = re.compile(r"^\s*([a-z][a-z_]*):", re.MULTILINE)


@dataclass(frozen=True)
class SeriesJob:
    """One series folder to convert.

    Attributes:
        series_dir: The raw slice folder.
        output: The ``.npy`` to write.
    """

    series_dir: Path
    output: Path


def report_from_raw_text(text: str, source: str = "text.txt") -> str:
    """The report in a raw M3D-Cap ``text.txt``: findings, else discussion; newlines → spaces.

    Raises:
        DataError: Neither findings (≥ 5 characters) nor a discussion.
    """
    fields: dict[str, str] = {}
    matches = list(_KEY.finditer(text))
    for match, following in zip(matches, [*matches[1:], None]):
        end = following.start() if following else len(text)
        fields.setdefault(match.group(1), " ".join(text[match.end() : end].split()))
    findings = fields.get("study_findings", "")
    report = findings if len(findings) >= 5 else fields.get("discussion", "")
    if not report:
        raise DataError(
            f"{source}: no 'study_findings:' text of at least 5 characters and no 'discussion:' text; "
            f"found fields {sorted(fields)}. Check the file or exclude the case."
        )
    return report


def find_series(raw_root: Path, out_root: Path) -> list[SeriesJob]:
    """Every folder under ``raw_root`` holding slice images, mapped to its output ``.npy``."""
    jobs = []
    for folder, _, files in os.walk(raw_root):
        if any(name.lower().endswith(IMAGE_SUFFIXES) for name in files):
            relative = Path(folder).relative_to(raw_root)
            if len(relative.parts) < 2:
                raise DataError(
                    f"{folder}: slice images directly under a case-less folder; expected "
                    "RAW_ROOT/<source>/<case>/<series>/<n>.jpeg (see data/README.md)."
                )
            jobs.append(SeriesJob(Path(folder), out_root / "M3D_Cap_npy" / relative.parent / f"{relative.name}.npy"))
    return sorted(jobs, key=lambda job: str(job.output))


def _atomic_save(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def is_done(output: Path, shape: tuple[int, int, int]) -> bool:
    """Whether ``output`` is a complete ``(1, *shape)`` npy (header and size checked)."""
    if not output.is_file():
        return False
    try:
        return NumpyReader().header_shape(output) == tuple(shape)
    except DataError:
        return False


def convert_series(series_dir: Path, shape: tuple[int, int, int]) -> np.ndarray:
    """Raw slice folder → float32 ``(1, *shape)`` in [0, 1] (the peers' recipe)."""
    volume = SliceFolderReader().read(series_dir)  # (D, h, w) grey, most common shape
    volume = normalize_intensity(volume, source=str(series_dir))
    volume = crop_foreground(volume, 0.0)
    return resize_exact(volume, shape).clamp_(0.0, 1.0).numpy()[None]  # (1, D, H, W)


def _run_job(args: tuple[SeriesJob, tuple[int, int, int]]) -> tuple[str, str, str]:
    """Worker: ``(status, path, reason)`` with status ``done``/``skipped``/``failed``."""
    job, shape = args
    if is_done(job.output, shape):
        return "skipped", str(job.output), ""
    try:
        volume = convert_series(job.series_dir, shape)
    except DataError as e:
        return "failed", str(job.series_dir), str(e)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:  # a file object: np.save would append ".npy" to a name
            np.save(handle, volume)

    _atomic_save(job.output, write)
    return "done", str(job.output), ""


def _start_method() -> str:
    """``fork`` where available (workers start in milliseconds; this process has run no torch
    op yet and workers use one thread each, as DataLoader workers do), else ``spawn``."""
    return "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


def write_reports(raw_root: Path, out_root: Path, jobs: list[SeriesJob]) -> list[tuple[str, str]]:
    """Write each case's ``text.txt``; return failures ``(path, reason)``."""
    failures = []
    for case_dir in sorted({job.series_dir.parent for job in jobs}):
        source = case_dir / "text.txt"
        target = out_root / "M3D_Cap_npy" / case_dir.relative_to(raw_root) / "text.txt"
        try:
            if not is_inside(raw_root, source):  # checked before looking at what the link points to
                raise DataError(f"{source}: a link pointing outside RAW_ROOT; expected the report file itself.")
            if not source.is_file():
                raise DataError(f"{source}: report text not found; expected text.txt beside the series folders.")
            report = report_from_raw_text(source.read_text(encoding="utf-8", errors="replace"), str(source))
        except DataError as e:
            failures.append((str(source), str(e)))
            continue
        _atomic_save(target, lambda tmp, text=report: tmp.write_text(text, encoding="utf-8"))
    return failures


def write_index(out_root: Path, seed: int = 0, test_fraction: float = 0.1, val_fraction: float = 0.05) -> Path | None:
    """Write ``M3D_Cap.json`` (case-disjoint; a case's split depends on its name only).

    An existing ``M3D_Cap.json`` not written by this command (e.g. the official one) is kept.
    Returns the path written, or None when it was kept.
    """
    path, summary = out_root / "M3D_Cap.json", out_root / SUMMARY_FILE
    if path.exists():
        previous = json.loads(summary.read_text(encoding="utf-8")).get("index_sha256") if summary.exists() else None
        if previous != hashlib.sha256(path.read_bytes()).hexdigest():
            return None
    splits: dict[str, list[dict[str, str]]] = {"train": [], "validation": [], "test": []}
    npy_root = out_root / "M3D_Cap_npy"
    for npy in sorted(npy_root.rglob("*.npy")):
        text = npy.parent / "text.txt"
        if npy.name.startswith(".") or not text.is_file():
            continue
        case = npy.parent.relative_to(out_root).as_posix()
        draw = int(hashlib.sha256(f"{seed}:{case}".encode()).hexdigest()[:8], 16) / 16**8
        split = "test" if draw < test_fraction else "validation" if draw < test_fraction + val_fraction else "train"
        splits[split].append({"image": npy.relative_to(out_root).as_posix(), "text": f"{case}/text.txt"})
    test = splits["test"]
    index = {**splits, "test100": test[:100], "test500": test[:500], "test1k": test[:1000]}
    data = json.dumps(index, indent=1).encode("utf-8")
    _atomic_save(path, lambda tmp: tmp.write_bytes(data))
    return path


def prepare(
    raw_root: str | os.PathLike,
    out_root: str | os.PathLike,
    shape: tuple[int, int, int] = (32, 256, 256),
    workers: int = 4,
    write_json: bool = True,
) -> dict:
    """Convert every series under ``raw_root``; return the summary (also written to ``OUT_ROOT``).

    Args:
        raw_root: Raw M3D-Cap folder.
        out_root: Output data root.
        shape: Output ``(D, H, W)`` (M3D: 32, 256, 256).
        workers: Processes; 0 or 1 runs in this process.
        write_json: Write ``M3D_Cap.json`` (see :func:`write_index`).
    """
    raw, out = Path(raw_root), Path(out_root)
    if not raw.is_dir():
        raise DataError(f"{raw}: RAW_ROOT is not a folder; expected the raw M3D-Cap download (see data/README.md).")
    jobs = find_series(raw, out)
    if not jobs:
        raise DataError(f"{raw}: no folder of slice images found; expected RAW_ROOT/<source>/<case>/<series>/<n>.jpeg.")
    failures = write_reports(raw, out, jobs)
    counts = {"done": 0, "skipped": 0, "failed": 0}
    tasks = [(job, tuple(shape)) for job in jobs]
    bar = tqdm(total=len(tasks), desc="prepare-m3d", unit="series", disable=None)
    if workers > 1:
        with multiprocessing.get_context(_start_method()).Pool(workers, initializer=_init_worker) as pool:
            results = pool.imap_unordered(_run_job, tasks, chunksize=4)
            for status, path, reason in results:
                counts[status] += 1
                failures += [(path, reason)] if status == "failed" else []
                bar.update()
    else:
        for task in tasks:
            status, path, reason = _run_job(task)
            counts[status] += 1
            failures += [(path, reason)] if status == "failed" else []
            bar.update()
    bar.close()
    lines = ["path\treason"] + [f"{p}\t{' '.join(r.split())}" for p, r in sorted(failures)]
    _atomic_save(out / FAILURES_FILE, lambda tmp: tmp.write_text("\n".join(lines) + "\n", encoding="utf-8"))
    summary = {"raw_root": str(raw), "series": len(jobs), **counts, "failures": len(failures), "shape": list(shape)}
    index = write_index(out) if write_json else None
    summary["index"] = str(index) if index else None
    if index:
        summary["index_sha256"] = hashlib.sha256(index.read_bytes()).hexdigest()
    _atomic_save(out / SUMMARY_FILE, lambda tmp: tmp.write_text(json.dumps(summary, indent=1), encoding="utf-8"))
    return summary


def prepare_m3d(
    raw_root: str,
    out_root: str,
    workers: int = 4,
    shape: Annotated[tuple[int, int, int], Arg(parse=parse_shape, metavar="D,H,W")] = (32, 256, 256),
    no_json: bool = False,
    litdata: Annotated[str | None, Arg(metavar="DIR")] = None,
) -> int:
    """Raw M3D-Cap slice folders -> model-ready volumes.

    Args:
        raw_root: raw M3D-Cap folder: <source>/<case>/<series>/<n>.jpeg + <case>/text.txt
        out_root: output data root (M3D_Cap_npy/ is written inside)
        workers: worker processes (0 = in this process)
        shape: output D,H,W
        no_json: do not write M3D_Cap.json
        litdata: then pack the volumes into LitData shards at DIR (a folder or s3:// URL)
    """
    summary = prepare(raw_root, out_root, shape, workers, not no_json)
    print(
        f"prepare-m3d: {summary['series']} series: {summary['done']} written, {summary['skipped']} already done, "
        f"{summary['failed']} failed; {summary['failures']} failures listed in "
        f"{Path(out_root) / FAILURES_FILE}" + (f"; index {summary['index']}" if summary["index"] else "")
    )
    if summary["failures"]:
        print(f"prepare-m3d: {summary['failures']} failures, see {Path(out_root) / FAILURES_FILE}", file=sys.stderr)
        return 1
    if litdata:
        from slicevlm.io.shards import main as shard_main

        return shard_main([out_root, litdata, "--workers", str(max(1, workers))])
    return 0


def main(argv: list[str] | None = None) -> int:
    """``slicevlm prepare-m3d RAW_ROOT OUT_ROOT [--workers N] [--shape D,H,W] [--no-json]``."""
    return run_command(prepare_m3d, argv, prog="slicevlm prepare-m3d")
