"""CT-like phantoms for the synthetic testbed: ellipsoid organs, vessels, spine and lesions.

Coordinates are normalised patient coordinates in [-1, 1] on three axes: z (inferior →
superior), y (anterior → posterior), x (patient right → left), the LPS frame the readers use.
A volume is rendered "presented along" a plane: axial slices run along z, coronal along y,
sagittal along x, with the same in-plane conventions as :func:`~slicevlm.io.transforms.reorient_to_axis`
(superior at the top of coronal and sagittal slices). The contrast phase sets the intensities
of the organs and vessels; lesions are drawn on top. Each structure is evaluated only inside its
bounding box, so a 32×256×256 volume takes tens of milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PLANES: tuple[str, ...] = ("axial", "coronal", "sagittal")
PHASES: tuple[str, ...] = ("non-contrast", "arterial", "portal venous", "delayed")
INF = float("inf")


@dataclass(frozen=True)
class Blob:
    """An axis-aligned ellipsoid (an infinite radius makes it a cylinder along that axis).

    Attributes:
        center: ``(z, y, x)`` in normalised patient coordinates.
        radii: ``(z, y, x)`` half-axes.
    """

    center: tuple[float, float, float]
    radii: tuple[float, float, float]


#: organ -> its blobs; paired organs list (right, left).
ORGAN_BLOBS: dict[str, tuple[Blob, ...]] = {
    "lung": (Blob((0.62, 0.05, -0.45), (0.36, 0.5, 0.3)), Blob((0.62, 0.05, 0.45), (0.36, 0.5, 0.3))),
    "liver": (Blob((0.08, -0.02, -0.4), (0.28, 0.45, 0.36)),),
    "spleen": (Blob((0.14, 0.25, 0.52), (0.17, 0.22, 0.16)),),
    "kidney": (Blob((-0.22, 0.38, -0.36), (0.18, 0.13, 0.12)), Blob((-0.22, 0.38, 0.36), (0.18, 0.13, 0.12))),
    "bladder": (Blob((-0.78, -0.25, 0.0), (0.15, 0.2, 0.24)),),
}
BODY = Blob((0.0, 0.0, 0.0), (INF, 0.78, 0.92))
AORTA = Blob((0.0, 0.3, 0.08), (INF, 0.06, 0.06))
IVC = Blob((0.0, 0.22, -0.14), (INF, 0.065, 0.065))
SPINE = Blob((0.0, 0.6, 0.0), (INF, 0.11, 0.11))

SOFT_TISSUE, LUNG, BONE = 0.3, 0.06, 1.0  # air 0 and bone 1 pin the min-max scaling
#: phase -> structure -> intensity: arterial lights the aorta and the renal cortex, portal venous
#: the liver and veins, delayed the bladder (excreted contrast).
PHASE_INTENSITY: dict[str, dict[str, float]] = {
    "non-contrast": {
        "liver": 0.45,
        "spleen": 0.42,
        "cortex": 0.42,
        "medulla": 0.41,
        "aorta": 0.4,
        "ivc": 0.4,
        "bladder": 0.2,
    },
    "arterial": {
        "liver": 0.48,
        "spleen": 0.6,
        "cortex": 0.82,
        "medulla": 0.46,
        "aorta": 0.97,
        "ivc": 0.42,
        "bladder": 0.2,
    },
    "portal venous": {
        "liver": 0.68,
        "spleen": 0.64,
        "cortex": 0.7,
        "medulla": 0.68,
        "aorta": 0.66,
        "ivc": 0.7,
        "bladder": 0.2,
    },
    "delayed": {
        "liver": 0.56,
        "spleen": 0.52,
        "cortex": 0.58,
        "medulla": 0.62,
        "aorta": 0.52,
        "ivc": 0.52,
        "bladder": 0.88,
    },
}


@dataclass(frozen=True)
class Lesion:
    """One lesion.

    Attributes:
        kind: ``"cyst"`` (dark, round), ``"calcification"`` (small, bright) or ``"mass"`` (larger,
            with a periodic texture).
        center: ``(z, y, x)`` normalised patient coordinates.
        diameter: Voxels on a 64-voxel reference grid (2–8), i.e. a radius of ``diameter / 64``.
    """

    kind: str
    center: tuple[float, float, float]
    diameter: int


def organ_value(organ: str, phase: str) -> float:
    """Background intensity of ``organ`` in ``phase`` (the renal cortex for kidneys)."""
    if organ == "lung":
        return LUNG
    return PHASE_INTENSITY[phase]["cortex" if organ == "kidney" else organ]


def lesion_value(kind: str, organ: str, phase: str) -> float:
    """Mean intensity of a lesion of ``kind`` inside ``organ``."""
    background = organ_value(organ, phase)
    if kind == "calcification":
        return 1.0
    if kind == "cyst":
        return 0.32 if organ == "lung" else max(0.05, background - 0.3)
    return 0.52 if organ == "lung" else max(0.1, background - 0.2)  # mass


class _Grid:
    """Normalised coordinate of every index along each array axis, for one presentation plane."""

    def __init__(self, plane: str, shape: tuple[int, int, int]) -> None:
        def centres(n: int, descending: bool = False) -> np.ndarray:
            c = ((np.arange(n, dtype=np.float32) + 0.5) / n * 2 - 1).astype(np.float32)
            return c[::-1].copy() if descending else c

        depth, height, width = shape
        if plane == "axial":  # array (z, y, x)
            self.patient_axis = (0, 1, 2)
            self.coords = (centres(depth), centres(height), centres(width))
        elif plane == "coronal":  # array (y, z↓, x)
            self.patient_axis = (1, 0, 2)
            self.coords = (centres(depth), centres(height, True), centres(width))
        elif plane == "sagittal":  # array (x, z↓, y)
            self.patient_axis = (2, 0, 1)
            self.coords = (centres(depth), centres(height, True), centres(width))
        else:
            raise ValueError(f"plane must be one of {PLANES}, got {plane!r}.")
        self.spacing = tuple(2.0 / n for n in shape)

    def snap(self, point: tuple[float, float, float]) -> tuple[float, float, float]:
        """Move a patient point to the nearest voxel centre (so small lesions are never missed)."""
        out = list(point)
        for axis, coords in zip(self.patient_axis, self.coords):
            out[axis] = float(coords[np.argmin(np.abs(coords - point[axis]))])
        return tuple(out)  # type: ignore[return-value]

    def min_radius(self, patient_axis: int) -> float:
        """Radius covering at least the centre voxel along the array axis showing ``patient_axis``."""
        return 0.6 * self.spacing[self.patient_axis.index(patient_axis)]

    def region(self, blob: Blob) -> tuple[tuple[slice, ...], np.ndarray] | None:
        """(index box, boolean mask inside it) of ``blob``; None when it misses the volume."""
        box, terms = [], []
        for coords, axis in zip(self.coords, self.patient_axis):
            radius = blob.radii[axis]
            t = np.zeros_like(coords) if radius == INF else ((coords - blob.center[axis]) / radius) ** 2
            inside = np.flatnonzero(t <= 1.0)
            if inside.size == 0:
                return None
            box.append(slice(int(inside[0]), int(inside[-1]) + 1))
            terms.append(t[box[-1]])
        mask = terms[0][:, None, None] + terms[1][None, :, None] + terms[2][None, None, :] <= 1.0
        return tuple(box), mask


def _paint(volume: np.ndarray, grid: _Grid, blob: Blob, value: float | np.ndarray) -> None:
    """Set the voxels of ``blob`` to ``value`` (a scalar, or an array the size of the volume)."""
    found = grid.region(blob)
    if found is None:
        return
    box, mask = found
    target = volume[box]
    target[mask] = value[box][mask] if isinstance(value, np.ndarray) else value


#: Period (voxels) and amplitude of a mass's texture.
MASS_TEXTURE_PERIOD, MASS_TEXTURE_AMPLITUDE = 3.0, 0.12


def periodic_texture(shape: tuple[int, int, int]) -> np.ndarray:
    """A mass's texture: a plane wave of period `MASS_TEXTURE_PERIOD` voxels along the volume's
    diagonal, float32 ``(D, H, W)``. Masses differ from cysts by it (and by brightness): a finding
    that lives in the volume's spectrum, where the frequency path of the fusion module looks."""
    z, y, x = np.meshgrid(*(np.arange(n, dtype=np.float32) for n in shape), indexing="ij")
    phase = 2 * np.pi * (z + y + x) / MASS_TEXTURE_PERIOD
    return (MASS_TEXTURE_AMPLITUDE * np.cos(phase)).astype(np.float32)


def render(
    phase: str,
    lesions: tuple[Lesion, ...],
    organ: str,
    plane: str,
    shape: tuple[int, int, int],
    rng: np.random.Generator,
) -> np.ndarray:
    """One phantom volume.

    Args:
        phase: Contrast phase (one of :data:`PHASES`).
        lesions: Lesions to draw (all inside ``organ``).
        organ: The organ holding the lesions (sets the lesion contrast).
        plane: Presentation plane (one of :data:`PLANES`).
        shape: Output ``(D, H, W)``.
        rng: Source of the noise.

    Returns:
        float32 ``(D, H, W)``, min-max scaled to [0, 1].
    """
    grid = _Grid(plane, shape)
    values = PHASE_INTENSITY[phase]
    volume = np.zeros(shape, dtype=np.float32)  # air
    _paint(volume, grid, BODY, SOFT_TISSUE)
    for name in ("lung", "liver", "spleen", "kidney", "bladder"):
        for blob in ORGAN_BLOBS[name]:
            _paint(volume, grid, blob, organ_value(name, phase))
            if name == "kidney":  # medulla inside the cortex
                _paint(volume, grid, Blob(blob.center, tuple(r * 0.55 for r in blob.radii)), values["medulla"])
    _paint(volume, grid, AORTA, values["aorta"])
    _paint(volume, grid, IVC, values["ivc"])
    _paint(volume, grid, SPINE, BONE)
    noise = rng.standard_normal(shape, dtype=np.float32)  # (D, H, W)
    texture = periodic_texture(shape) if any(lesion.kind == "mass" for lesion in lesions) else None  # (D, H, W)
    for lesion in lesions:
        center = grid.snap(lesion.center)
        radii = tuple(max(lesion.diameter / 64.0, grid.min_radius(axis)) for axis in range(3))
        value = np.float32(lesion_value(lesion.kind, organ, phase))
        _paint(volume, grid, Blob(center, radii), value + texture if lesion.kind == "mass" else value)  # type: ignore[arg-type]
    volume += 0.015 * noise
    np.clip(volume, 0.0, 1.0, out=volume)
    low, high = float(volume.min()), float(volume.max())
    return ((volume - low) / (high - low)).astype(np.float32)
