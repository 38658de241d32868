"""What reading one volume may cost and touch, decided before any pixel is read.

:class:`ReadLimits` is the one object every reader, the command line and the server pass around:

- **caps**, checked on headers before decompression or allocation: voxels per volume, files per
  volume folder, bytes of a text header;
- **confinement**: the folder every file a read opens must resolve into (symlinks followed), and
  whether a header may name a separate pixel-data file at all.

Confinement is decided on the *names* a header or an index file holds, before anything is opened
or looked up, and the refusal reads the same whether the named file exists or not, so an error
never tells a client what lives on the host.

:func:`entry_path_problem` is the lexical rule for paths written in index files (``M3D_Cap.json``,
the VQA CSVs): relative, no ``..``, no drive letters, no NUL.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from slicevlm.io.errors import DataError, VolumeTooLarge
from slicevlm.errors import ConfigError

#: Default voxel cap: 512 × 512 × 1024 (1 GiB as float32), above any CT series we expect.
MAX_VOXELS: int = 2**28
#: Default cap on the files of one volume folder (DICOM slices, slice images).
MAX_FILES: int = 5000
#: Default cap on a text header (MetaImage, NRRD) before its pixel data.
MAX_HEADER_BYTES: int = 64 * 1024
#: Default cap on the decoded pixel bytes of one volume (voxels × bytes per voxel, as stored):
#: 1 GiB, e.g. 512 × 512 × 2048 int16 or 512³ float64.
MAX_BYTES: int = 2**30
#: The knob to name in a message about the voxel cap (command line, server, Python).
VOXEL_KNOB: str = "--max-voxels of slicevlm ask, report, ask-batch and the server; ReadLimits(max_voxels=...) in Python"

_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class ReadLimits:
    """Caps and confinement for reading volumes.

    Attributes:
        max_voxels: Largest accepted volume, in voxels (checked on the header).
        max_files: Most files one volume folder may hold.
        max_header_bytes: Largest text header (MetaImage, NRRD) read before its pixel data.
        max_bytes: Largest decoded pixel data (voxels × bytes per voxel as stored), checked on the
            header before anything is decompressed or allocated.
        root: Every file a read opens must resolve (symlinks followed) inside this folder;
            ``None`` means the volume's own folder (a file's parent, or the folder itself).
        detached: Whether a header file may name a separate pixel-data file (MetaImage
            ``ElementDataFile``, NRRD ``data file``). Even then the data file must be a plain
            relative name resolving inside the allowed folder.
    """

    max_voxels: int = MAX_VOXELS
    max_files: int = MAX_FILES
    max_header_bytes: int = MAX_HEADER_BYTES
    max_bytes: int = MAX_BYTES
    root: Path | None = None
    detached: bool = True

    def __post_init__(self) -> None:
        for name in ("max_voxels", "max_files", "max_header_bytes", "max_bytes"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"ReadLimits.{name}={getattr(self, name)!r}; expected a positive integer.")

    def confined_to(self, root: str | os.PathLike | None, detached: bool | None = None) -> ReadLimits:
        """A copy that confines reads to ``root`` (and sets ``detached`` when given)."""
        return replace(
            self,
            root=None if root is None else Path(root),
            detached=self.detached if detached is None else detached,
        )

    def allowed_folder(self, volume: Path) -> Path:
        """The folder files read for ``volume`` must resolve into (resolved)."""
        if self.root is not None:
            return Path(self.root).resolve()
        return (volume if volume.is_dir() else volume.parent).resolve()

    def check_volume_path(self, volume: Path) -> None:
        """Refuse a volume path that resolves outside :attr:`root` (no check without a root).

        Raises:
            DataError: The path (through a link or ``..``) leaves the root.
        """
        if self.root is not None and not is_inside(self.root, volume):
            raise DataError(
                f"{volume}: resolves outside the folder volumes may be read from; expected a file or folder "
                "inside it (no '..', no links pointing out)."
            )

    def check_member(self, volume: Path, member: Path) -> None:
        """Refuse a file of a volume folder that is a link resolving outside the allowed folder.

        Raises:
            DataError: Naming the member, not its target.
        """
        if not is_inside(self.allowed_folder(volume), member):
            raise DataError(
                f"{volume}: {member.name!r} is a link pointing outside the volume's folder; expected the "
                "slice files themselves. Copy the files in instead of linking them."
            )

    def detached_file(self, header: Path, name: str, field: str) -> Path:
        """The pixel-data file a header names, if this policy allows it; refuse otherwise.

        Args:
            header: The header file.
            name: The data file as written in the header.
            field: The header field, for messages (``ElementDataFile``, ``data file``).

        Raises:
            DataError: Detached data refused, or the name is absolute, holds ``..``, a drive letter,
                or resolves (through links) outside the allowed folder. The message is the same
                whether or not the named file exists.
        """
        if not self.detached:
            raise DataError(
                f"{header}: the header names a separate pixel-data file ({field} = {name!r}); this reader "
                f"accepts only files that carry their pixel data inside. Re-save the volume as one file "
                f"(MetaImage: ElementDataFile = LOCAL in a .mha; NRRD: an attached .nrrd)."
            )
        problem = entry_path_problem(name)
        candidate = header.parent / name
        if problem is None and not is_inside(self.allowed_folder(header), candidate):
            problem = "leaves the folder its header may read from"
        if problem is not None:
            raise DataError(
                f"{header}: {field} = {name!r} {problem}; expected the name of a data file beside the header "
                "(a plain relative name, no '..', no absolute path, no links pointing out)."
            )
        return candidate

    def check_bytes(self, volume: Path, shape: tuple[int, ...], itemsize: int) -> None:
        """Refuse a header announcing more than :attr:`max_bytes` of decoded pixels.

        Raises:
            VolumeTooLarge: Naming the file, the shape and the byte count.
        """
        voxels = 1
        for size in shape:
            voxels *= int(size)
        if voxels * itemsize > self.max_bytes:
            raise VolumeTooLarge(
                f"{volume}: header announces shape {tuple(shape)} of {itemsize}-byte voxels = {voxels * itemsize:,} bytes; "
                f"refusing to decode more than {self.max_bytes:,} bytes. A corrupt header usually causes this; if the "
                "volume is real, store it with a smaller voxel type (e.g. int16 for CT), or raise the limit "
                "(ReadLimits(max_bytes=...) in Python; the command line and the server keep 1 GiB)."
            )

    def check_files(self, volume: Path, count: int) -> None:
        """Refuse a volume folder with more than :attr:`max_files` files."""
        if count > self.max_files:
            raise VolumeTooLarge(
                f"{volume}: more than {self.max_files:,} files in one volume folder; expected at most that many. "
                "Split the folder per series, or raise the limit (--max-zip-files of the server; ReadLimits(max_files=...) in Python)."
            )


#: The limits used when a caller passes none.
DEFAULT_LIMITS = ReadLimits()


def is_inside(root: str | os.PathLike, path: str | os.PathLike) -> bool:
    """Whether ``path`` resolves (symlinks followed) to ``root`` itself or somewhere below it."""
    base, resolved = Path(root).resolve(), Path(path).resolve()
    return resolved == base or base in resolved.parents


def entry_path_problem(value: str) -> str | None:
    """Why a path written in an index file or header may not be used, or None when it may.

    Accepted: a relative path whose parts never climb (``a/b.npy``, ``a\\b.npy``). Refused:
    empty, NUL bytes, absolute (``/x``, ``\\\\server\\x``), drive letters (``C:x``), ``..``.
    """
    if not value or not value.strip():
        return "is empty"
    if "\x00" in value:
        return "contains a NUL byte"
    text = value.replace("\\", "/")
    if text.startswith("/") or _DRIVE.match(text):
        return "is an absolute path"
    if ".." in PurePosixPath(text).parts:
        return "climbs out with '..'"
    return None
