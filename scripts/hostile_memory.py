"""Worst bytes-in → peak-memory ratio per volume format, each read in a fresh process.

    python scripts/hostile_memory.py [--work runs/hostile_memory] [--src PATH_TO_ANOTHER_CHECKOUT/src]

For each format it writes the most memory a small file can legally ask for under the server's
default caps (512³ voxels, 1 GiB of decoded pixels): zeros of the widest voxel type (one slice holds
a ramp, so the volume is read to the end), compressed where the format can be. A child process then does what the server does with an upload
(``prepare_volume`` to a 32×256×256 model input) and reports its peak resident memory above what
it held before reading. ``--src`` runs the same files through another checkout (e.g. an older
commit) for a before/after table. Prints one Markdown table.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np

SIDE = 512  # 512³ = 2**27 voxels: the server's default voxel cap
CHILD = r"""
import json, resource, sys
from pathlib import Path
from slicevlm.io.limits import ReadLimits
from slicevlm.inference.volumes import prepare_volume
import torch  # imported before the baseline: its memory is not the file's
limits = ReadLimits(max_voxels=2**27)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    prepare_volume(Path(sys.argv[1]), (32, 256, 256), limits=limits)
    outcome = "read"
except Exception as error:  # noqa: BLE001 - reported, not raised
    outcome = type(error).__name__ + ": " + str(error).split(". ")[0][-90:]
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"peak_mb": (after - before) / 1024, "outcome": outcome}))
"""


def plane(index: int, dtype) -> bytes:
    """One slice: zeros, with a ramp in the first slice so the volume is not constant (it compresses as well)."""
    data = np.zeros((SIDE, SIDE), dtype)
    if index == 0:
        data[0, :] = np.arange(SIDE) % 100
    return data.tobytes()


def nifti_gz(path: Path, dtype: np.dtype) -> Path:
    """A gzipped NIfTI-1 of SIDE³ zeros of ``dtype``, streamed (never the whole array in memory)."""
    codes = {np.dtype(np.uint8): (2, 8), np.dtype(np.int16): (4, 16), np.dtype(np.float32): (16, 32), np.dtype(np.float64): (64, 64)}
    code, bitpix = codes[np.dtype(dtype)]
    header = bytearray(352)
    header[0:4] = (348).to_bytes(4, "little")
    header[40:56] = np.array([3, SIDE, SIDE, SIDE, 1, 1, 1, 1], "<i2").tobytes()
    header[70:74] = np.array([code, bitpix], "<i2").tobytes()
    header[76:108] = np.array([1.0] * 8, "<f4").tobytes()
    header[108:112] = np.array([352.0], "<f4").tobytes()
    header[112:116] = np.array([1.0], "<f4").tobytes()  # scl_slope
    header[344:348] = b"n+1\0"
    with gzip.open(path, "wb", compresslevel=9) as out:
        out.write(bytes(header))
        for index in range(SIDE):
            out.write(plane(index, dtype))
    return path


def nrrd_gz(path: Path) -> Path:
    header = f"NRRD0004\ntype: double\ndimension: 3\nsizes: {SIDE} {SIDE} {SIDE}\nendian: little\nencoding: gzip\n\n".encode()
    with open(path, "wb") as raw:
        raw.write(header)
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9) as out:
            for index in range(SIDE):
                out.write(plane(index, np.float64))
    return path


def mha_zlib(path: Path) -> Path:
    deflate = zlib.compressobj(9)
    body = b"".join(deflate.compress(plane(index, np.float64)) for index in range(SIDE)) + deflate.flush()
    header = f"ObjectType = Image\nNDims = 3\nDimSize = {SIDE} {SIDE} {SIDE}\nElementType = MET_DOUBLE\nCompressedData = True\nCompressedDataSize = {len(body)}\nElementDataFile = LOCAL\n"
    path.write_bytes(header.encode() + body)
    return path


def npy(path: Path) -> Path:
    array = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(SIDE, SIDE, SIDE))
    array[0] = np.frombuffer(plane(0, np.float32), np.float32).reshape(SIDE, SIDE)
    del array  # zeros elsewhere, written sparsely
    return path


def dicom_series(folder: Path, count: int = 256) -> Path:
    import SimpleITK as sitk

    folder.mkdir(parents=True, exist_ok=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for i in range(count):
        image = sitk.GetImageFromArray(np.frombuffer(plane(i, np.int16), np.int16).reshape(SIDE, SIDE))
        for tag, value in {"0020|0032": f"0\\0\\{i}", "0020|0037": "1\\0\\0\\0\\1\\0", "0020|000e": "1.2.3.4", "0020|0013": str(i + 1)}.items():
            image.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"{i:04d}.dcm"))
        writer.Execute(image)
    return folder


def size_of(path: Path) -> int:
    return sum(p.stat().st_size for p in path.iterdir()) if path.is_dir() else path.stat().st_size


def measure(path: Path, src: str | None) -> dict:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src
    done = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, env=env, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"peak_mb": float("nan"), "outcome": "crashed: " + done.stderr.strip().splitlines()[-1][:90]}
    return json.loads(lines[-1])


def main(argv: list[str] | None = None) -> int:
    from jsonargparse import ArgumentParser

    from slicevlm.command_line import help_formatter

    # built by hand: --src repeats (a typed function's list option takes its values after one flag)
    parser = ArgumentParser(prog=Path(__file__).name, description=__doc__, formatter_class=help_formatter())
    parser.add_argument("--work", type=Path, default=Path("runs/hostile_memory"), help="folder the files are written to")
    parser.add_argument("--src", action="append", default=[], help="another checkout's src folder to compare (repeatable)")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    cases = {
        "NIfTI .nii.gz, uint8 512³ zeros": lambda: nifti_gz(args.work / "u8.nii.gz", np.uint8),
        "NIfTI .nii.gz, float64 512³ zeros": lambda: nifti_gz(args.work / "f64.nii.gz", np.float64),
        "NRRD gzip, float64 512³ zeros": lambda: nrrd_gz(args.work / "f64.nrrd"),
        "MetaImage zlib, float64 512³ zeros": lambda: mha_zlib(args.work / "f64.mha"),
        ".npy float32 512³ (uncompressed)": lambda: npy(args.work / "f32.npy"),
        "DICOM series, 256 int16 512² slices (uncompressed)": lambda: dicom_series(args.work / "dicom"),
    }
    sources = [("this checkout", None)] + [(src, src) for src in args.src]
    print("| input | file MB | " + " | ".join(f"peak MB / ratio ({name})" for name, _ in sources) + " |")
    print("|---|---:|" + "---|" * len(sources))
    for label, build in cases.items():
        path = build()
        megabytes = size_of(path) / 2**20
        cells = []
        for _, src in sources:
            result = measure(path, src)
            cells.append(f"{result['peak_mb']:,.0f} MB = {result['peak_mb'] / megabytes:,.0f}× ({result['outcome']})")
        print(f"| {label} | {megabytes:,.2f} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
