"""What a volume file says about its geometry: the orientation it was stored in and its voxel spacing.

Read from the header only (SimpleITK ``ReadImageInformation``), for the formats the SimpleITK reader
opens (NIfTI, NRRD, MetaImage, single DICOM files). The spacing is given in the readers' array order
``(z, y, x)``: after the same ``DICOMOrient(image, "LPS")`` the readers apply by default, or in the
file's stored voxel order when reorientation is off (``reorient="none"``). Arrays (``.npy``), slice
images and DICOM folders carry no geometry here: both parts are None.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from slicevlm.io.reader_base import IMAGE_IO, SIMPLEITK_SUFFIXES, suffix

#: The orientation the readers turn volumes into unless told to keep the stored voxel order.
READER_ORIENTATION: str = "LPS"
#: The reorientation choices: turn to LPS, or keep the file's stored voxel order.
REORIENTATIONS: tuple[str, ...] = (READER_ORIENTATION, "none")
#: The axes a volume can be sliced along (no torch here: a recipe is checked without it).
Axis = Literal["axial", "coronal", "sagittal"]
AXES: tuple[str, ...] = get_args(Axis)


@dataclass(frozen=True)
class Geometry:
    """A file's orientation code (e.g. ``"RAS"``, ``"LPS"``) and ``(z, y, x)`` spacing in mm of the array
    the readers return (LPS, or as stored with ``reorient="none"``); None when unknown."""

    orientation: str | None = None
    spacing_zyx: tuple[float, float, float] | None = None

    def reorientation(self, reorient: str = READER_ORIENTATION) -> str:
        """How the readers turned this file into an array under ``reorient`` (LPS or none), as one phrase."""
        if self.orientation is None:
            return "none: the file records no orientation; its array is taken as stored, (z, y, x) in LPS"
        if reorient == "none":
            return f"none (asked): kept in the stored voxel order ({self.orientation})"
        if self.orientation == READER_ORIENTATION:
            return "none needed: stored in LPS"
        return f"{self.orientation} -> {READER_ORIENTATION}"


def read_geometry(path: str | Path, reorient: str = READER_ORIENTATION) -> Geometry:
    """The orientation and spacing a volume file records (see the module docstring).

    ``reorient`` (LPS or none) says which array order the spacing follows, as in the readers.

    A header SimpleITK cannot read gives an empty :class:`Geometry`: the reader itself reports the
    problem when it reads the pixels.
    """
    path = Path(path)
    if not (path.is_file() and suffix(path) in SIMPLEITK_SUFFIXES):
        return Geometry()
    import SimpleITK as sitk

    from slicevlm.io.errors import DataError
    from slicevlm.io.text_volumes import TEXT_HEADER_SUFFIXES, read_text_header

    if suffix(path) in TEXT_HEADER_SUFFIXES:  # parsed here, never by SimpleITK (they can name other files)
        try:
            header = read_text_header(path)
        except DataError:
            return Geometry()
        if len(header.spacing) != 3:
            return Geometry()
        spacing, direction = header.spacing, header.direction or (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    else:
        reader = sitk.ImageFileReader()
        reader.SetImageIO(IMAGE_IO[suffix(path)])
        reader.SetFileName(str(path))
        try:
            reader.ReadImageInformation()
        except RuntimeError:
            return Geometry()
        if reader.GetDimension() != 3:
            return Geometry()
        spacing, direction = reader.GetSpacing(), reader.GetDirection()
    probe = sitk.Image([2, 2, 2], sitk.sitkUInt8)  # a 2x2x2 image with the file's geometry, reoriented as the readers do
    try:
        orientation = sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(direction)
        probe.SetSpacing(spacing)
        probe.SetDirection(direction)
    except RuntimeError:  # a degenerate direction: the reader reports it
        return Geometry()
    x, y, z = (probe if reorient == "none" else sitk.DICOMOrient(probe, reorient)).GetSpacing()
    return Geometry(orientation, (float(z), float(y), float(x)))
