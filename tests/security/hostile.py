"""Builders of hostile inputs: files an attacker or an unlucky user hands over.

Each builder writes one malformed or malicious file and returns its path. The secrets they try to
reach live in the ``host`` folder of the fixtures (see ``conftest.py``).
"""

from __future__ import annotations

import gzip
import io
import struct
import zipfile
from pathlib import Path

import numpy as np

#: What the secret file holds: distinctive, and long enough for any header's claimed size.
SECRET: bytes = b"TOP-SECRET:" + bytes(range(256)) * 16


def good_volume(shape: tuple[int, int, int] = (8, 16, 16), seed: int = 0) -> np.ndarray:
    """A small readable volume with some structure."""
    volume = np.random.default_rng(seed).random(shape, dtype=np.float32)
    volume[:, 4:12, 4:12] += 1.0
    return volume


def mha_header(path: Path, data_file: str, dims: str = "16 16 16", element: str = "MET_UCHAR", line: str | None = None) -> Path:
    """A MetaImage header naming ``data_file`` (``line`` replaces the ElementDataFile line verbatim)."""
    text = f"ObjectType = Image\nNDims = 3\nDimSize = {dims}\nElementType = {element}\n"
    text += line if line is not None else f"ElementDataFile = {data_file}\n"
    path.write_text(text, encoding="latin-1")
    return path


def mha_local(path: Path, volume: np.ndarray) -> Path:
    """A valid single-file MetaImage holding ``volume`` (uint8)."""
    data = (volume / volume.max() * 255).astype(np.uint8)
    depth, height, width = data.shape
    header = f"ObjectType = Image\nNDims = 3\nDimSize = {width} {height} {depth}\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n"
    path.write_bytes(header.encode() + data.tobytes())
    return path


def nrrd_header(path: Path, data_line: str | None, sizes: str = "16 16 16", attached: bytes = b"") -> Path:
    """A NRRD header with ``data_line`` (e.g. ``data file: /x``) among its fields."""
    lines = ["NRRD0004", "type: uint8", "dimension: 3", f"sizes: {sizes}", "encoding: raw"]
    if data_line is not None:
        lines.append(data_line)
    path.write_bytes(("\n".join(lines) + "\n\n").encode("latin-1") + attached)
    return path


def nifti(path: Path, dims: tuple[int, ...], magic: bytes = b"n+1\0", data: bytes | None = None, bitpix: int = 8) -> Path:
    """A NIfTI-1 file (gzipped when the name ends with .gz) with the given dims, magic and payload."""
    header = bytearray(352)
    struct.pack_into("<i", header, 0, 348)
    dim = [len(dims), *dims] + [1] * (7 - len(dims))
    struct.pack_into("<8h", header, 40, *dim)
    struct.pack_into("<hh", header, 70, {8: 2, 16: 4, 32: 16}[bitpix], bitpix)
    struct.pack_into("<f", header, 108, 352.0)
    struct.pack_into("<f", header, 112, 1.0)  # scl_slope
    header[344:348] = magic
    payload = bytes(header) + (data if data is not None else bytes(int(np.prod(dims)) * bitpix // 8))
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(payload, compresslevel=1))
    else:
        path.write_bytes(payload)
    return path


def nifti_gz_bomb(path: Path, dims: tuple[int, int, int] = (1024, 1024, 512), stream_bytes: int = 1 << 20) -> Path:
    """A small .nii.gz whose header declares ``dims`` voxels (2**29 by default) with zeros behind it."""
    header = bytearray(352)
    struct.pack_into("<i", header, 0, 348)
    struct.pack_into("<8h", header, 40, 3, *dims, 1, 1, 1, 1)
    struct.pack_into("<hh", header, 70, 2, 8)
    struct.pack_into("<f", header, 108, 352.0)
    header[344:348] = b"n+1\0"
    path.write_bytes(gzip.compress(bytes(header) + bytes(stream_bytes), compresslevel=9))
    return path


def npy_with_header(path: Path, header: str, payload: bytes = b"") -> Path:
    """An .npy whose header dict is ``header`` verbatim (version 1.0)."""
    text = header.encode("latin-1")
    padding = 64 - (10 + len(text) + 1) % 64
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text) + padding + 1) + text + b" " * padding + b"\n" + payload)
    return path


def deflated_dicom(path: Path) -> Path:
    """A DICOM file whose meta header announces the deflated transfer syntax."""
    uid = b"1.2.840.10008.1.2.1.99\0"
    element = struct.pack("<HH2sH", 0x0002, 0x0010, b"UI", len(uid)) + uid
    length = struct.pack("<HH2sHI", 0x0002, 0x0000, b"UL", 4, len(element))
    path.write_bytes(b"\0" * 128 + b"DICM" + length + element + b"\x78\x9c" + b"\0" * 64)
    return path


def zip_bytes(members: list[tuple[str | zipfile.ZipInfo, bytes]], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip holding ``members`` (duplicates allowed, names taken verbatim)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as bundle:
        for name, data in members:
            bundle.writestr(name, data)
    return buffer.getvalue()


def symlink_member(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    """A zip member that unpacks as a symbolic link to ``target``."""
    info = zipfile.ZipInfo(name)
    info.external_attr = (0o120777 << 16)
    return info, target.encode()


def zip_declaring(total_bytes: int) -> bytes:
    """A tiny zip whose central directory declares ``total_bytes`` unpacked (< 2 GiB)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("series/1.png", b"\0" * 1024)
        bundle.infolist()[0].file_size = total_bytes  # written to the central directory at close
    return buffer.getvalue()


def png_slices(count: int, shape: tuple[int, int] = (16, 16)) -> list[tuple[str, bytes]]:
    """``count`` numbered PNG slices as zip members under ``series/``."""
    from PIL import Image

    members = []
    for i in range(count):
        image = io.BytesIO()
        Image.fromarray(((good_volume((1, *shape), seed=i)[0] * 120) % 255).astype(np.uint8)).save(image, format="PNG")
        members.append((f"series/{i + 1}.png", image.getvalue()))
    return members
