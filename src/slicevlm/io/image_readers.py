"""Readers for 2D images: a folder of numbered slices (raw M3D-Cap) and a single image."""

from __future__ import annotations

import itertools
import logging
import re
from collections import Counter
from pathlib import Path

import numpy as np

from slicevlm.io.errors import DataError
from slicevlm.io.limits import DEFAULT_LIMITS, ReadLimits
from slicevlm.io.reader_base import IMAGE_SUFFIXES, VolumeReader, check_shape, suffix

log = logging.getLogger(__name__)

#: The only decoders Pillow may use: it never picks another format from a file's content.
PIL_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "BMP", "TIFF")


class SliceFolderReader(VolumeReader):
    """A folder of numbered 2D images, one per slice (the raw M3D-Cap layout).

    Slices are sorted by the integer in their file name (``2.png`` before ``10.png``), read as
    greyscale, and only slices of the most common shape are kept (the peers' recipe); the
    dropped ones are logged as a warning. The folder may hold at most ``limits.max_files`` files,
    and no slice may be a link pointing outside the allowed folder.
    """

    name = "SliceFolderReader"
    accepts = "a folder of numbered 2D images (" + ", ".join(IMAGE_SUFFIXES) + ")"

    def can_read(self, path: Path) -> bool:
        return path.is_dir() and any(suffix(child) in IMAGE_SUFFIXES for child in path.iterdir())

    def _sorted_slices(self, path: Path, limits: ReadLimits) -> list[Path]:
        limits.check_volume_path(path)
        children = list(itertools.islice(path.iterdir(), limits.max_files + 1))
        limits.check_files(path, len(children))
        numbered: dict[int, Path] = {}
        for child in children:
            if suffix(child) not in IMAGE_SUFFIXES:
                continue
            limits.check_member(path, child)
            digits = re.findall(r"\d+", child.stem)
            if not digits:
                raise DataError(
                    f"{child}: slice file name has no number; expected numbered slices such as 1.png, "
                    "2.png ... so that their order is known. Rename the slices."
                )
            number = int(digits[-1])
            if number in numbered:
                raise DataError(
                    f"{path}: two slices carry number {number} ({numbered[number].name}, {child.name}); "
                    "expected one file per slice number. Remove the duplicate."
                )
            numbered[number] = child
        return [numbered[n] for n in sorted(numbered)]

    def _shapes(self, path: Path, limits: ReadLimits) -> tuple[list[Path], tuple[int, int]]:
        files = self._sorted_slices(path, limits)
        shapes = [image_size(file) for file in files]
        common = Counter(shapes).most_common(1)[0][0]
        kept = [file for file, shape in zip(files, shapes) if shape == common]
        if len(kept) < len(files):
            log.warning("%s: kept %d of %d slices with the most common shape %s", path, len(kept), len(files), common)
        return kept, common

    def header_shape(self, path: Path, limits: ReadLimits = DEFAULT_LIMITS) -> tuple[int, int, int]:
        kept, (height, width) = self._shapes(path, limits)
        return check_shape((len(kept), height, width), path, limits.max_voxels)

    def read(self, path: Path, limits: ReadLimits = DEFAULT_LIMITS) -> np.ndarray:
        kept, (height, width) = self._shapes(path, limits)
        check_shape((len(kept), height, width), path, limits.max_voxels)
        return np.stack([read_grey_image(file) for file in kept])  # (D, H, W)


class ImageReader(VolumeReader):
    """One 2D image, read as a volume of a single slice ``(1, H, W)``."""

    name = "ImageReader"
    accepts = "one 2D image (" + ", ".join(IMAGE_SUFFIXES) + "), a single slice"

    def can_read(self, path: Path) -> bool:
        return path.is_file() and suffix(path) in IMAGE_SUFFIXES

    def header_shape(self, path: Path, limits: ReadLimits = DEFAULT_LIMITS) -> tuple[int, int, int]:
        limits.check_volume_path(path)
        return check_shape(image_size(path), path, limits.max_voxels)

    def read(self, path: Path, limits: ReadLimits = DEFAULT_LIMITS) -> np.ndarray:
        self.header_shape(path, limits)
        return read_grey_image(path)[None]  # (1, H, W)


def image_size(path: Path) -> tuple[int, int]:
    """``(H, W)`` of a 2D image from its header (no pixel is decoded).

    Raises:
        DataError: Not a PNG, JPEG, BMP or TIFF image Pillow can open.
    """
    from PIL import Image

    try:
        with Image.open(path, formats=PIL_FORMATS) as image:
            return image.height, image.width
    except (OSError, Image.DecompressionBombError, ValueError) as e:
        raise DataError(f"{path}: not a readable image ({e}); expected {', '.join(PIL_FORMATS)}. Re-export it.") from e


def read_grey_image(path: Path) -> np.ndarray:
    """A 2D image as float32 ``(H, W)`` grey values (16-bit and float images keep their range)."""
    from PIL import Image

    try:
        with Image.open(path, formats=PIL_FORMATS) as image:
            image.load()
            if image.mode in ("I", "F") or image.mode.startswith("I;16"):
                return np.asarray(image, dtype=np.float32)
            return np.asarray(image.convert("L"), dtype=np.float32)
    except (OSError, Image.DecompressionBombError, ValueError) as e:
        raise DataError(
            f"{path}: could not decode the image ({e}); the file is truncated or corrupt. Re-export it."
        ) from e
