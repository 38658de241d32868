"""No spelling of a text header can make any process open a file outside the allowed folder.

Hundreds of NRRD and MetaImage headers name the secret in the host folder in every way a parser
could disagree on: line ends (``\\r``, ``\\r\\n``, ``\\n\\r``, vertical tab, form feed, NEL, U+2028),
case, spaces and tabs inside and around the field name, aliases, separators, encodings, duplicate
fields, comments and free-text pairs. Each is read as data root and as an upload; whatever the
outcome (refused, or read as attached data), the kernel must report no open of anything in the host
folder, by this process or any child (inotify), and no byte of the secret may come back.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from conftest import Host  # type: ignore[import-not-found]
from hostile import SECRET  # type: ignore[import-not-found]

from slicevlm.io.errors import DataError
from slicevlm.io.limits import ReadLimits
from slicevlm.io.readers import load_volume
from slicevlm.io.geometry import read_geometry

LINE_BREAKS = [b"\n", b"\r\n", b"\r", b"\n\r", b"\x0b", b"\x0c", b"\x85", b"\xe2\x80\xa8", b"\r\r\n"]
NRRD_KEYS = [b"data file", b"datafile", b"Data File", b"DATA FILE", b"data  file", b" data file", b"data\tfile", b"DaTaFiLe", b"data_file", b"data-file"]
NRRD_SEPARATORS = [b": ", b":", b" : ", b":\t", b"="]
MHA_KEYS = [b"ElementDataFile", b"elementdatafile", b"ELEMENTDATAFILE", b" ElementDataFile", b"Element Data File", b"ElementDataFile\t"]
MHA_SEPARATORS = [b" = ", b"=", b":", b" : ", b"=\t", b" := "]


def _targets(host: Host) -> list[bytes]:
    return [str(host.secret).encode(), b"../host/secret.bin", b"./../host/inner/../secret.bin", str(host.secret).encode() + b"  "]


def _nrrd_variants(host: Host) -> list[bytes]:
    pixels = bytes(16 * 16 * 16)
    out = []
    for (brk, key, sep), target in itertools.product(itertools.product(LINE_BREAKS, NRRD_KEYS, NRRD_SEPARATORS), _targets(host)[:2]):
        fields = [b"NRRD0004", b"type: uint8", b"dimension: 3", b"sizes: 16 16 16", b"encoding: raw", key + sep + target]
        out.append(brk.join(fields) + brk + brk + pixels)
    # the line of the first attack, and a data line hidden in every other field
    for target in _targets(host):
        out.append(b"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 16 16 16\nencoding: raw\rdata file: " + target + b"\n\n" + pixels)
        out.append(b"NRRD0004\ntype: uint8\rdata file: " + target + b"\ndimension: 3\nsizes: 16 16 16\nencoding: raw\n\n" + pixels)
        for encoding in (b"raw", b"gzip", b"bzip2", b"ascii", b"hex", b"txt"):
            out.append(b"NRRD0005\ntype: uint8\ndimension: 3\nsizes: 16 16 16\nencoding: " + encoding + b"\ndata file: " + target + b"\n\n")
        out.append(b"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 16 16 16\nencoding: raw\ndata file: a.raw\ndata file: " + target + b"\n\n")
        out.append(b"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 16 16 16\nencoding: raw\n# data file: x\ndata file: " + target + b"\n\n")
        out.append(b"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 16 16 16\nencoding: raw\ndata file:=" + target + b"\ndatafile: " + target + b"\n\n")
        out.append(b"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 16 16 16\nencoding: raw\nbyte skip: -1\ndata file: " + target + b"\n\n")
        out.append(b"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 16 16 16\nencoding: raw\ndata file: LIST\n" + target + b"\n")
        out.append(b"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 16 16 16\nencoding: raw\ndata file: " + target + b" 1 2 1\n\n")
        out.append(b"\xef\xbb\xbfNRRD0004\ntype: uint8\ndimension: 3\nsizes: 16 16 16\nencoding: raw\ndata file: " + target + b"\n\n")
    return out


def _mha_variants(host: Host) -> list[bytes]:
    pixels = bytes(16 * 16 * 16)
    out = []
    for (brk, key, sep), target in itertools.product(itertools.product(LINE_BREAKS, MHA_KEYS, MHA_SEPARATORS), _targets(host)[:2]):
        fields = [b"ObjectType = Image", b"NDims = 3", b"DimSize = 16 16 16", b"ElementType = MET_UCHAR", key + sep + target]
        out.append(brk.join(fields) + brk + pixels)
    for target in _targets(host):
        out.append(b"NDims = 3\nDimSize = 16 16 16\nElementType = MET_UCHAR\rElementDataFile = " + target + b"\nElementDataFile = LOCAL\n" + pixels)
        out.append(b"NDims = 3\nDimSize = 16 16 16\nElementType = MET_UCHAR\nCompressedData = True\nElementDataFile = " + target + b"\n")
        out.append(b"NDims = 3\nDimSize = 16 16 16\nElementType = MET_UCHAR\nHeaderSize = -1\nElementDataFile = " + target + b"\n")
        out.append(b"NDims = 3\nDimSize = 16 16 16\nElementType = MET_UCHAR\nElementDataFile = LIST\n" + target + b"\n")
        out.append(b"NDims = 3\nDimSize = 16 16 16\nElementType = MET_UCHAR\nElementDataFile = " + target + b" 1 16 1\n")
        out.append(b"NDims = 3\nElementDataFile = " + target + b"\nDimSize = 16 16 16\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n" + pixels)
    return out


def _read_every(paths: list[Path], limits: ReadLimits) -> tuple[int, int]:
    refused = read = 0
    for path in paths:
        try:
            volume = load_volume(path, limits=limits, normalize=False, min_slices=1)
        except DataError:
            refused += 1
            continue
        read += 1
        assert SECRET[:32] not in np.asarray(volume, dtype=np.uint8).tobytes(), path
        read_geometry(path)
    return refused, read


@pytest.mark.parametrize("where", ["data-root", "upload"])
def test_no_header_variant_opens_anything_outside(host: Host, where: str) -> None:
    folder = host.data if where == "data-root" else host.uploads
    limits = ReadLimits(root=folder, detached=where == "data-root")
    paths = []
    for index, content in enumerate(_nrrd_variants(host)):
        path = folder / f"v{index}.{'nhdr' if index % 2 else 'nrrd'}"
        path.write_bytes(content)
        paths.append(path)
    for index, content in enumerate(_mha_variants(host)):
        path = folder / f"m{index}.{'mhd' if index % 2 else 'mha'}"
        path.write_bytes(content)
        paths.append(path)
    host.watch.events()
    host.watch.seen.clear()
    refused, read = _read_every(paths, limits)
    host.assert_untouched()
    assert refused + read == len(paths) > 900
    assert refused > 0


def test_the_first_attack_is_refused_naming_the_carriage_return(host: Host) -> None:
    path = host.uploads / "attack.nrrd"
    path.write_bytes(b"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 16 16 16\nencoding: raw\rdata file: " + str(host.secret).encode() + b"\n\n")
    host.watch.events()
    host.watch.seen.clear()
    with pytest.raises(DataError, match="carriage return"):
        load_volume(path, limits=ReadLimits(root=host.uploads, detached=False))
    host.assert_untouched()


def test_no_library_reader_ever_opens_a_text_header(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """NRRD and MetaImage files are decoded by the project: SimpleITK's file readers are never called."""
    import SimpleITK as sitk

    def forbidden(*args, **kwargs):
        raise AssertionError("a SimpleITK file reader was asked to read a NRRD/MetaImage file")

    volume = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    paths = []
    for name in ("a.nrrd", "b.nhdr", "c.mha", "d.mhd"):
        sitk.WriteImage(sitk.GetImageFromArray(volume), str(tmp_path / name))
        paths.append(tmp_path / name)
    monkeypatch.setattr(sitk, "ReadImage", forbidden)
    monkeypatch.setattr(sitk.ImageFileReader, "Execute", forbidden)
    monkeypatch.setattr(sitk.ImageFileReader, "ReadImageInformation", forbidden)
    for path in paths:
        assert load_volume(path, normalize=False).shape == (4, 5, 6)
        assert read_geometry(path).spacing_zyx == (1.0, 1.0, 1.0)
