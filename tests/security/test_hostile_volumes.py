"""Hostile volume files against the readers: each refused with a message naming the file, before any
decompression or allocation, and without opening anything outside the allowed folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import Host
from hostile import (
    SECRET,
    deflated_dicom,
    good_volume,
    mha_header,
    mha_local,
    nifti,
    nifti_gz_bomb,
    npy_with_header,
    nrrd_header,
)

from slicevlm.io.errors import DataError, VolumeTooLarge
from slicevlm.io.limits import ReadLimits
from slicevlm.io.readers import load_volume

Case = Callable[[Host], tuple[Path, ReadLimits]]


def _in_data(host: Host, limits: ReadLimits | None = None) -> ReadLimits:
    return limits or ReadLimits(root=host.data)


def _dicom_slices(folder: Path, count: int = 3) -> None:
    import SimpleITK as sitk

    folder.mkdir(parents=True, exist_ok=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for i in range(count):
        image = sitk.GetImageFromArray((good_volume((1, 16, 16), seed=i)[0] * 100).astype(np.int16))
        for tag, value in {"0020|0032": f"0\\0\\{i}", "0020|0037": "1\\0\\0\\0\\1\\0", "0020|000e": "1.2.3.4", "0008|0060": "CT"}.items():
            image.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"{i}.dcm"))
        writer.Execute(image)


def _dicom_series_with_a_giant_slice(folder: Path) -> Path:
    """Three 16×16 slices and one compressed slice declaring 4096×4096: refused on its header."""
    import SimpleITK as sitk

    _dicom_slices(folder)
    image = sitk.GetImageFromArray(np.zeros((4096, 4096), np.int16))
    for tag, value in {"0020|0032": "0\\0\\9", "0020|0037": "1\\0\\0\\0\\1\\0", "0020|000e": "1.2.3.4", "0008|0060": "CT"}.items():
        image.SetMetaData(tag, value)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    writer.UseCompressionOn()
    writer.SetFileName(str(folder / "9.dcm"))
    writer.Execute(image)
    return folder


def _png_folder(folder: Path, count: int) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray((good_volume((1, 16, 16), seed=i)[0] * 100).astype(np.uint8)).save(folder / f"{i + 1}.png")
    return folder


def _postscript_in(folder: Path) -> Path:
    """A 'slice' that is an EPS file: Pillow would hand it to Ghostscript if it guessed by content."""
    (folder / "3.png").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 16 16\nshowpage\n")
    return folder


def _link(path: Path, target: Path) -> Path:
    path.symlink_to(target)
    return path


# (id, builder, expected exception, fragments of the message)
CASES: list[tuple[str, Case, type[DataError], tuple[str, ...]]] = [
    ("mha-absolute-data-file", lambda h: (mha_header(h.data / "a.mha", str(h.secret)), _in_data(h)), DataError, ("ElementDataFile", "absolute path")),
    ("mha-relative-climb", lambda h: (mha_header(h.data / "a.mha", "../host/secret.bin"), _in_data(h)), DataError, ("climbs out",)),
    ("mha-colon-separator", lambda h: (mha_header(h.data / "a.mha", "", line=f"ElementDataFile:{h.secret}\n"), _in_data(h)), DataError, ("absolute path",)),
    ("mha-tabs-and-spaces", lambda h: (mha_header(h.data / "a.mha", "", line=f"  ElementDataFile\t=\t{h.secret}  \n"), _in_data(h)), DataError, ("absolute path",)),
    ("mha-link-beside-header", lambda h: (mha_header(h.data / "a.mha", _link(h.data / "b.raw", h.secret).name), _in_data(h)), DataError, ("leaves the folder",)),
    ("mha-list-of-files", lambda h: (mha_header(h.data / "a.mha", "", line=f"ElementDataFile = LIST\n{h.secret}\n"), _in_data(h)), DataError, ("list or a pattern",)),
    ("mha-file-pattern", lambda h: (mha_header(h.data / "a.mha", "slice%03d.raw 1 16 1"), _in_data(h)), DataError, ("list or a pattern",)),
    ("mha-no-data-file-line", lambda h: (mha_header(h.data / "a.mha", "", line="Offset = 0 0 0\n"), _in_data(h)), DataError, ("no 'ElementDataFile'",)),
    ("mha-header-padded-past-cap", lambda h: (mha_header(h.data / "a.mha", "", line="Comment = " + "x" * 70_000 + "\n"), _in_data(h)), VolumeTooLarge, ("within the first 65,536 bytes",)),
    ("mha-absurd-dims", lambda h: (mha_header(h.data / "a.mha", "LOCAL", dims="100000 100000 100000"), _in_data(h)), VolumeTooLarge, ("refusing to allocate",)),
    ("mha-zero-dim", lambda h: (mha_header(h.data / "a.mha", "LOCAL", dims="0 16 16"), _in_data(h)), DataError, ("at least one voxel",)),
    ("mha-dims-not-numbers", lambda h: (mha_header(h.data / "a.mha", "LOCAL", dims="a b c"), _in_data(h)), DataError, ("not a list of integers",)),
    ("mha-detached-in-upload", lambda h: (mha_header(h.uploads / "a.mha", "b.raw"), ReadLimits(root=h.uploads, detached=False)), DataError, ("carry their pixel data inside",)),
    ("nrrd-absolute-data-file", lambda h: (nrrd_header(h.data / "a.nrrd", f"data file: {h.secret}"), _in_data(h)), DataError, ("data file", "absolute path")),
    ("nrrd-mixed-case-field", lambda h: (nrrd_header(h.data / "a.nrrd", f"DaTa FiLe: {h.secret}"), _in_data(h)), DataError, ("absolute path",)),
    ("nrrd-list", lambda h: (nrrd_header(h.data / "a.nrrd", f"data file: LIST\n{h.secret}"), _in_data(h)), DataError, ("list or a pattern",)),
    ("nhdr-relative-climb", lambda h: (nrrd_header(h.data / "a.nhdr", "datafile: ../host/secret.bin"), _in_data(h)), DataError, ("climbs out",)),
    ("nrrd-no-magic", lambda h: (nrrd_header(h.data / "a.nrrd", None).write_bytes(b"NOT A NRRD\n\n") and h.data / "a.nrrd", _in_data(h)), DataError, ("NRRD000x",)),
    ("nrrd-absurd-sizes", lambda h: (nrrd_header(h.data / "a.nrrd", None, sizes="100000 100000 100000"), _in_data(h)), VolumeTooLarge, ("refusing to allocate",)),
    ("nifti-pair-magic", lambda h: (nifti(h.data / "a.nii", (16, 16, 16), magic=b"ni1\0"), _in_data(h)), DataError, ("not a single-file NIfTI",)),
    ("nifti-analyze-no-magic", lambda h: (nifti(h.data / "a.nii", (16, 16, 16), magic=b"\0\0\0\0"), _in_data(h)), DataError, ("not a single-file NIfTI",)),
    ("nifti-gz-bomb-2^29-voxels", lambda h: (nifti_gz_bomb(h.data / "bomb.nii.gz"), _in_data(h)), VolumeTooLarge, ("536,870,912 voxels", "refusing to allocate")),
    ("nifti-truncated", lambda h: (nifti(h.data / "a.nii", (16, 16, 16), data=b"\0" * 100), _in_data(h)), DataError, ("truncated",)),
    ("nifti-5d", lambda h: (nifti(h.data / "a.nii", (8, 8, 8, 2, 2)), _in_data(h)), DataError, ("5D input",)),
    ("nifti-zero-dim", lambda h: (nifti(h.data / "a.nii", (16, 0, 16)), _in_data(h)), DataError, ("at least one voxel",)),
    ("nifti-gz-not-gzip", lambda h: (nifti(h.data / "raw.nii", (8, 8, 8)).rename(h.data / "a.nii.gz") or h.data / "a.nii.gz", _in_data(h)), DataError, ("cannot be read",)),
    ("nifti-random-bytes", lambda h: ((h.data / "a.nii").write_bytes(np.random.default_rng(0).bytes(600)) and h.data / "a.nii", _in_data(h)), DataError, ("no NIfTI header",)),
    ("nifti-that-is-a-metaimage", lambda h: (mha_header(h.data / "a.nii", str(h.secret)), _in_data(h)), DataError, ("NIfTI",)),
    ("dicom-that-is-a-metaimage", lambda h: (mha_header(h.data / "a.dcm", str(h.secret)), _in_data(h)), DataError, ("no DICM preamble",)),
    ("dicom-deflated", lambda h: (deflated_dicom(h.data / "a.dcm"), _in_data(h)), DataError, ("deflated",)),
    ("npy-huge-header", lambda h: (npy_with_header(h.data / "a.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 4, 4), }" + " " * 20000), _in_data(h)), DataError, ("not a readable .npy",)),
    ("npy-complex", lambda h: (np.save(h.data / "a.npy", np.ones((4, 4, 4), np.complex64)) or h.data / "a.npy", _in_data(h)), DataError, ("complex64", "real numeric")),
    ("npy-5d", lambda h: (np.save(h.data / "a.npy", np.ones((2, 2, 4, 4, 4), np.float32)) or h.data / "a.npy", _in_data(h)), DataError, ("5D input",)),
    ("npy-zero-size", lambda h: (np.save(h.data / "a.npy", np.ones((0, 4, 4), np.float32)) or h.data / "a.npy", _in_data(h)), DataError, ("at least one voxel",)),
    ("npy-nan-and-inf", lambda h: (np.save(h.data / "a.npy", np.where(good_volume() > 1.5, np.inf, np.nan).astype(np.float32)) or h.data / "a.npy", _in_data(h)), DataError, ("NaN", "infinite")),
    ("npy-absurd-shape", lambda h: (npy_with_header(h.data / "a.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1024, 1024, 1024), }"), _in_data(h)), VolumeTooLarge, ("refusing to allocate",)),
    ("npy-wrong-magic", lambda h: ((h.data / "a.npy").write_bytes(b"PK\x03\x04 not numpy") and h.data / "a.npy", _in_data(h)), DataError, ("not a readable .npy",)),
    ("volume-link-out-of-root", lambda h: (_link(h.data / "escape.npy", h.secret), _in_data(h)), DataError, ("resolves outside",)),
    ("dicom-folder-with-link-out", lambda h: (_dicom_slices(h.data / "ct") or _link(h.data / "ct" / "9.dcm", h.secret).parent, _in_data(h)), DataError, ("'9.dcm' is a link pointing outside",)),
    ("dicom-series-slice-declaring-4096^2", lambda h: (_dicom_series_with_a_giant_slice(h.data / "ct"), _in_data(h)), DataError, ("slices differ in size", "4096×4096")),
    ("slice-folder-with-link-out", lambda h: (_link(_png_folder(h.data / "s", 3) / "4.png", h.secret).parent, _in_data(h)), DataError, ("'4.png' is a link pointing outside",)),
    ("slice-folder-over-file-cap", lambda h: (_png_folder(h.data / "s", 6), ReadLimits(root=h.data, max_files=4)), VolumeTooLarge, ("more than 4 files",)),
    ("png-that-is-postscript", lambda h: (_postscript_in(_png_folder(h.data / "s", 2)), _in_data(h)), DataError, ("3.png", "not a readable image")),
]


@pytest.mark.parametrize(("builder", "error", "fragments"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_file_refused_and_host_untouched(host: Host, builder: Case, error: type[DataError], fragments: tuple[str, ...]) -> None:
    path, limits = builder(host)
    host.watch.events()  # building may list the host folder (symlinks); only the read counts
    host.watch.seen.clear()
    with pytest.raises(error) as info:
        load_volume(path, limits=limits)
    message = str(info.value)
    assert path.name in message, message
    for fragment in fragments:
        assert fragment in message, message
    assert SECRET[:11].decode() not in message
    host.assert_untouched()


def test_refusal_reads_the_same_whether_or_not_the_named_file_exists(host: Host) -> None:
    """An error never tells a client what exists on the host."""
    messages = []
    for target in (host.secret, host.host_dir / "missing.bin"):
        mha_header(host.data / "a.mha", str(target))
        with pytest.raises(DataError) as info:
            load_volume(host.data / "a.mha", limits=ReadLimits(root=host.data))
        messages.append(str(info.value).replace(target.name, "NAME"))
        _link(host.data / "b.npy", target)
        with pytest.raises(DataError) as info:
            load_volume(host.data / "b.npy", limits=ReadLimits(root=host.data))
        messages.append(str(info.value))
        (host.data / "b.npy").unlink()
    assert messages[0] == messages[2] and messages[1] == messages[3]
    host.assert_untouched()


@pytest.mark.parametrize("kind", ["mhd", "nhdr"])
def test_detached_data_file_beside_its_header_still_reads(host: Host, kind: str) -> None:
    """Confinement refuses escapes, not the format: a header naming its data file beside it works."""
    volume = (good_volume() * 100).astype(np.uint8)
    (host.data / "ct.raw").write_bytes(volume.tobytes())
    depth, height, width = volume.shape
    if kind == "mhd":
        header = mha_header(host.data / "ct.mhd", "ct.raw", dims=f"{width} {height} {depth}")
    else:
        header = nrrd_header(host.data / "ct.nhdr", "data file: ct.raw", sizes=f"{width} {height} {depth}")
    np.testing.assert_array_equal(load_volume(header, normalize=False, limits=ReadLimits(root=host.data)), volume)
    mha_local(host.data / "local.mha", good_volume())
    assert load_volume(host.data / "local.mha", limits=ReadLimits(root=host.data, detached=False)).shape == (8, 16, 16)
    host.assert_untouched()
