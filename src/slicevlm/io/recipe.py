"""The preprocessing recipe: how a volume as read becomes the model's input, as one recorded object.

A :class:`PreprocessingRecipe` names every choice between the file and the ``(D, H, W)`` tensor:

- ``window``: an optional CT window ``(center, width)`` in HU applied before min-max, by preset
  (:data:`WINDOW_PRESETS`: abdomen 40/400, lung -600/1500, bone 400/1800, brain 40/80) or explicit;
- ``reorient``: ``LPS`` (default: files with an orientation are turned to LPS by the readers) or
  ``none`` (keep the file's stored voxel order: the axes below are then the file's own index axes);
- ``axis``: the slicing axis (axial, coronal, sagittal) of the LPS-oriented (or stored) volume;
- ``crop``: ``center`` (in-plane: scale to cover the target, crop the centre) or ``foreground``
  (first cut the volume to the bounding box of voxels above its minimum, as the M3D preparation
  does, then ``center``);
- ``depth``: ``fixed`` (resample the depth linearly to D whatever the slice spacing, as training on
  M3D does) or ``spacing`` (take the centre slab that D slices ``slice_spacing_mm`` apart cover, from
  the header's slice spacing, and resample it to D; a volume thinner than that slab is stretched to D
  and the record says so).

Files without an orientation (``.npy``, slice images) and in-memory arrays are taken as stored
whatever ``reorient`` says; the record says which happened. Training stores its recipe in the
checkpoint folder (``slicevlm.json``, key ``preprocessing``), inference uses it as the default, and
:func:`apply_recipe` returns, beside the tensor, the record of what it applied (window, axis,
spacing, crop, depth, sizes) and the warnings it has (raw HU without a window).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal, get_args

from typing import TYPE_CHECKING

import numpy as np

from slicevlm.io.errors import check_choice, did_you_mean
from slicevlm.io.geometry import AXES, READER_ORIENTATION, REORIENTATIONS, Axis
from slicevlm.errors import ConfigError

if TYPE_CHECKING:
    import torch

#: Named CT windows ``(center, width)`` in HU.
WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "abdomen": (40.0, 400.0),
    "lung": (-600.0, 1500.0),
    "bone": (400.0, 1800.0),
    "brain": (40.0, 80.0),
}
#: Words that ask for no window.
NO_WINDOW: tuple[str, ...] = ("none", "off")
#: Fitting the slice plane to the model: scale and crop the centre, or cut to the body first.
Crop = Literal["center", "foreground"]
CROPS: tuple[str, ...] = get_args(Crop)
#: Depth: resample all slices to the model depth, or a centre slab at a given slice spacing.
DepthMode = Literal["fixed", "spacing"]
DEPTH_MODES: tuple[str, ...] = get_args(DepthMode)
#: A volume whose minimum lies below this, read without a window, looks like raw HU (air is -1000).
RAW_HU_BELOW: float = -500.0


def parse_window(text: str) -> tuple[tuple[float, float] | None, str | None]:
    """``"abdomen"`` / ``"40,400"`` / ``"40/400"`` / ``"none"`` → ``(window or None, preset name or None)``.

    Raises:
        ConfigError: Neither a preset, nor ``CENTER,WIDTH`` with a finite center and a width > 0.
    """
    word = str(text).strip().lower()
    if word in NO_WINDOW:
        return None, None
    if word in WINDOW_PRESETS:
        return WINDOW_PRESETS[word], word
    parts = word.replace("/", ",").split(",")
    try:
        center, width = (float(part) for part in parts)
    except ValueError:
        hint = did_you_mean(word, WINDOW_PRESETS) if word[:1].isalpha() else ""
        raise ConfigError(
            f"window {text!r} is not a preset {list(WINDOW_PRESETS)}, 'none', or CENTER,WIDTH in HU (e.g. 40,400).{hint}"
        ) from None
    return check_window((center, width)), None


def parse_reorient(text: str) -> str:
    """``"LPS"``/``"lps"`` → ``"LPS"``, ``"none"`` → ``"none"``; ConfigError naming the choices otherwise."""
    word = str(text).strip()
    return check_choice("reorient", word.upper() if word.lower() == READER_ORIENTATION.lower() else word.lower(), REORIENTATIONS)


def check_window(window: Any) -> tuple[float, float]:
    """``(center, width)`` as floats; ConfigError unless the center is finite and the width > 0."""
    try:
        center, width = (float(v) for v in window)
    except (TypeError, ValueError):
        raise ConfigError(f"window {window!r} must be (center, width) in HU, e.g. (40, 400).") from None
    if not (math.isfinite(center) and math.isfinite(width) and width > 0):
        raise ConfigError(f"window {window!r}: expected a finite CENTER and a WIDTH > 0 in HU, e.g. 40,400.")
    return center, width


def _window_text(text: str) -> str:
    parse_window(text)  # checked here; the recipe reads the text again (a preset keeps its name)
    return text


def _choice_of(name: str, choices: tuple[str, ...]) -> Callable[[str], str]:
    return lambda text: check_choice(name, text.lower(), choices)


def _millimetres(text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise ConfigError(f"slice_spacing is {text!r}; expected a positive number of millimetres, e.g. 5.")
    return number


@dataclass(frozen=True)
class RecipeChoice:
    """One preprocessing choice as a user makes it: the option ``--{name}`` of ``slicevlm ask``, ``report``,
    ``ask-batch`` and ``slicevlm serve``, and the request (form or JSON) field ``name`` of the server and
    its page. Every one of those is built from :data:`RECIPE_CHOICES`, which is made from the fields of
    :class:`PreprocessingRecipe` that carry one (their metadata); nothing else declares them.

    Attributes:
        name: the option and request field (``slice_spacing`` -> ``--slice-spacing``).
        recipe_field: the :class:`PreprocessingRecipe` argument of :meth:`~PreprocessingRecipe.override` it sets.
        metavar: how help texts show the value.
        help: one line for help texts.
        parse: text -> the value ``override`` takes; ConfigError (naming the choice) for a bad one.
    """

    name: str
    recipe_field: str
    metavar: str
    help: str
    parse: Callable[[str], Any]

    @property
    def flag(self) -> str:
        """The command-line option, ``--slice-spacing``."""
        return "--" + self.name.replace("_", "-")


_PRESET_LIST = ", ".join(f"{name} {center:g}/{width:g}" for name, (center, width) in WINDOW_PRESETS.items())


def _user_choice(name: str, metavar: str, help: str, parse: Callable[[str], Any]) -> dict[str, Any]:
    """A :class:`PreprocessingRecipe` field's metadata that makes it a choice users make (see :class:`RecipeChoice`)."""
    return {"choice": {"name": name, "metavar": metavar, "help": help, "parse": parse}}


@dataclass(frozen=True)
class PreprocessingRecipe:
    """The preprocessing choices (see the module docstring).

    Attributes:
        window: CT window ``(center, width)`` in HU before min-max, or None (min-max only).
        window_preset: The preset ``window`` came from, or None for an explicit one.
        reorient: ``LPS`` (turn oriented files to LPS) or ``none`` (keep the stored voxel order).
        axis: Slicing axis: ``axial``, ``coronal`` or ``sagittal``.
        crop: ``center`` or ``foreground``.
        depth: ``fixed`` or ``spacing``.
        slice_spacing_mm: Slice distance of the ``spacing`` depth mode, in mm.
    """

    # One field per choice; its metadata (`_user_choice`) makes it an option of `ask`, `report`,
    # `ask-batch` and `serve` and a request field of the server (RECIPE_CHOICES, below the class).
    window: tuple[float, float] | None = field(default=None, metadata=_user_choice(
        "window", "PRESET|CENTER,WIDTH|none", f"CT window in HU before min-max: a preset ({_PRESET_LIST}), "
        "CENTER,WIDTH (e.g. -600,1500), or none (min-max only)", _window_text))
    window_preset: str | None = None  # set with `window` (a preset's name), not a choice of its own
    reorient: str = field(default=READER_ORIENTATION, metadata=_user_choice(
        "reorient", "{LPS,none}", "LPS: turn files that record an orientation (NIfTI, NRRD, MHA, DICOM) to LPS first; "
        "none: keep the file's stored voxel order", parse_reorient))
    axis: Axis = field(default="axial", metadata=_user_choice(
        "axis", "{" + ",".join(AXES) + "}", "slicing axis of the volume", _choice_of("axis", AXES)))
    crop: Crop = field(default="center", metadata=_user_choice(
        "crop", "{" + ",".join(CROPS) + "}", "center: scale and crop the centre; foreground: cut to the body's box first",
        _choice_of("crop", CROPS)))
    depth: DepthMode = field(default="fixed", metadata=_user_choice(
        "depth", "{" + ",".join(DEPTH_MODES) + "}", "fixed: resample all slices to the model's depth; spacing: the "
        "centre slab at --slice-spacing mm per model slice", _choice_of("depth", DEPTH_MODES)))
    slice_spacing_mm: float | None = field(default=None, metadata=_user_choice(
        "slice_spacing", "MM", "slice distance of --depth spacing, in mm", _millimetres))

    def __post_init__(self) -> None:
        check_choice("reorient", self.reorient, REORIENTATIONS)
        check_choice("axis", self.axis, AXES)
        check_choice("crop", self.crop, CROPS)
        check_choice("depth", self.depth, DEPTH_MODES)
        if self.window is None and self.window_preset is not None:  # a preset named alone (e.g. in a config)
            if self.window_preset not in WINDOW_PRESETS:
                raise ConfigError(f"window preset {self.window_preset!r} is not one of {list(WINDOW_PRESETS)}.")
            object.__setattr__(self, "window", WINDOW_PRESETS[self.window_preset])
        if self.window is not None:
            object.__setattr__(self, "window", check_window(self.window))
        if self.window_preset is not None and WINDOW_PRESETS.get(self.window_preset) != self.window:
            raise ConfigError(f"window preset {self.window_preset!r} does not match window {self.window}; name a preset from {list(WINDOW_PRESETS)}.")
        if self.slice_spacing_mm is not None and not (math.isfinite(self.slice_spacing_mm) and self.slice_spacing_mm > 0):
            raise ConfigError(f"slice_spacing_mm={self.slice_spacing_mm!r}; expected a positive number of millimetres.")
        if self.depth == "spacing" and self.slice_spacing_mm is None:
            raise ConfigError("depth 'spacing' needs slice_spacing_mm (the distance between the model's slices, in mm), e.g. 5.")

    def with_window(self, text: str) -> PreprocessingRecipe:
        """This recipe with the window ``text`` names (see :func:`parse_window`)."""
        window, preset = parse_window(text)
        return replace(self, window=window, window_preset=preset)

    def override(self, window: str | None = None, **choices: Any) -> PreprocessingRecipe:
        """This recipe with the given choices replaced; ``None`` keeps a choice as it is.

        Args:
            window: A window as :func:`parse_window` reads it.
            choices: ``reorient``, ``axis``, ``crop``, ``depth``, ``slice_spacing_mm``.
        """
        known = _recorded_fields()[1:]  # every recorded field but the window, which comes as text
        unknown = sorted(set(choices) - set(known))
        if unknown:
            raise ConfigError(f"unknown preprocessing choice(s) {unknown}; expected window, {', '.join(known)}.")
        recipe = self.with_window(window) if window is not None else self
        given = {key: value for key, value in choices.items() if value is not None}
        if "slice_spacing_mm" in given:
            given["slice_spacing_mm"] = float(given["slice_spacing_mm"])
        if "reorient" in given:
            given["reorient"] = parse_reorient(given["reorient"])
        return replace(recipe, **given)

    def window_dict(self) -> dict[str, Any] | None:
        """``{"center", "width", "preset"}``, or None without a window."""
        if self.window is None:
            return None
        return {"center": self.window[0], "width": self.window[1], "preset": self.window_preset}

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored in ``slicevlm.json`` (read back by :meth:`from_dict`)."""
        return {"window": self.window_dict(), **{name: getattr(self, name) for name in _recorded_fields()[1:]}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "preprocessing") -> PreprocessingRecipe:
        """Read :meth:`to_dict`'s form; ConfigError naming ``source`` and the field otherwise."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: expected an object with window, axis, crop, depth, got {type(data).__name__}.")
        unknown = sorted(set(data) - set(_recorded_fields()))
        if unknown:
            raise ConfigError(f"{source}: unknown field(s) {unknown}; expected {', '.join(_recorded_fields())}.")
        window = data.get("window")
        try:
            if isinstance(window, Mapping):
                values, preset = (window.get("center"), window.get("width")), window.get("preset")
            else:
                values, preset = window, None
            others = {name: data[name] for name in _recorded_fields()[1:] if name in data}  # absent: the default
            return cls(window=None if values is None else check_window(values), window_preset=preset, **others)
        except ConfigError as error:
            raise ConfigError(f"{source}: {error}") from error

    def describe(self) -> str:
        """One line: ``window abdomen (40/400), axial, center crop, depth fixed`` (``, stored voxel order``
        added when reorientation is off)."""
        if self.window is None:
            window = "no window (min-max)"
        else:
            values = f"{self.window[0]:g}/{self.window[1]:g}"
            window = f"window {self.window_preset} ({values})" if self.window_preset else f"window {values}"
        depth = f"depth at {self.slice_spacing_mm:g} mm" if self.depth == "spacing" else "depth fixed"
        stored = ", stored voxel order" if self.reorient == "none" else ""
        return f"{window}, {self.axis}, {self.crop} crop, {depth}{stored}"


def _recorded_fields() -> tuple[str, ...]:
    """The fields ``slicevlm.json`` records, in order: ``window`` (with its preset) and every other field."""
    return tuple(f.name for f in fields(PreprocessingRecipe) if f.name != "window_preset")


#: Every preprocessing choice a user can make, in the order help texts list them: made from the fields
#: of :class:`PreprocessingRecipe` that carry a choice (nothing else declares them).
RECIPE_CHOICES: tuple[RecipeChoice, ...] = tuple(
    RecipeChoice(recipe_field=f.name, **f.metadata["choice"]) for f in fields(PreprocessingRecipe) if "choice" in f.metadata
)

#: Request fields (server, page) that choose a part of the recipe, and the recipe argument each sets.
REQUEST_FIELDS: dict[str, str] = {choice.name: choice.recipe_field for choice in RECIPE_CHOICES}


def overrides_from_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Choices by :data:`RECIPE_CHOICES` name (strings; None or empty = keep) → checked
    :meth:`PreprocessingRecipe.override` arguments. The server's options and request fields and the
    command line's options all go through here.

    Raises:
        ConfigError: A value that is not a string or a number, an unknown window/axis/crop/depth, or a
            slice spacing that is not a positive number; the message names the field.
    """
    overrides: dict[str, Any] = {}
    for choice in RECIPE_CHOICES:
        value = fields.get(choice.name)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"field {choice.name!r} must be a string, got {type(value).__name__}.")
        try:
            overrides[choice.recipe_field] = choice.parse(str(value).strip())
        except ConfigError as error:
            message = str(error)
            raise ConfigError(message if choice.name in message else f"field {choice.name!r}: {message}") from error
    PreprocessingRecipe(depth="fixed").override(**{**overrides, "depth": None})  # checks every value but the depth/spacing pair
    return overrides


def recipe_from_data_config(config: Mapping[str, Any]) -> PreprocessingRecipe:
    """The recipe a training data module used, from its hyperparameters or its section of a run's config
    (``preprocessing``: a :class:`PreprocessingRecipe`, or its fields as a mapping; absent: the defaults).

    A window given by its values gets the name of the preset it equals (``[40, 400]`` -> ``abdomen``).
    """
    older = sorted({"slicing_axis", "ct_window"} & set(config))
    if older:
        raise ConfigError(
            f"the data config names {older}, which this version reads as data.preprocessing.axis and "
            "data.preprocessing.window; write them there (the run's config.yaml too)."
        )
    recorded = config.get("preprocessing")
    if recorded is None:
        recipe = PreprocessingRecipe()
    elif isinstance(recorded, PreprocessingRecipe):
        recipe = recorded
    elif isinstance(recorded, Mapping):
        unknown = sorted(set(recorded) - {field.name for field in fields(PreprocessingRecipe)})
        if unknown:
            raise ConfigError(f"data.preprocessing: unknown field(s) {unknown}; expected {[f.name for f in fields(PreprocessingRecipe)]}.")
        values = dict(recorded)
        if values.get("window") is not None:
            values["window"] = tuple(values["window"])
        recipe = PreprocessingRecipe(**values)
    else:
        raise ConfigError(f"data.preprocessing: expected the recipe's fields (window, reorient, axis, ...), got {recorded!r}.")
    if recipe.window is not None and recipe.window_preset is None:
        preset = next((name for name, values in WINDOW_PRESETS.items() if recipe.window == values), None)
        recipe = replace(recipe, window_preset=preset)
    return recipe


def checkpoint_recipe(metadata: Mapping[str, Any], source: str = "slicevlm.json") -> PreprocessingRecipe:
    """The training recipe a checkpoint's ``slicevlm.json`` records; the defaults when it records none."""
    recorded = metadata.get("preprocessing")
    return PreprocessingRecipe() if recorded is None else PreprocessingRecipe.from_dict(recorded, f"{source} 'preprocessing'")


@dataclass
class Preprocessed:
    """A volume after :func:`apply_recipe`.

    Attributes:
        tensor: float32 ``(D, H, W)`` in [0, 1] at the model's input size.
        depth_range: ``(first, stop)``: the slices of the volume as read that the tensor covers.
        applied: What was applied (window, axis, spacing, crop, depth, sizes), JSON-ready.
        warnings: Human-readable warnings (e.g. raw HU without a window).
    """

    tensor: torch.Tensor
    depth_range: tuple[int, int]
    applied: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def raw_hu_warning(low: float, high: float, recipe: PreprocessingRecipe) -> str | None:
    """A warning when intensities look like raw HU (minimum below :data:`RAW_HU_BELOW`) and no window is set."""
    if recipe.window is not None or low >= RAW_HU_BELOW:
        return None
    return (
        f"intensities span {low:g} to {high:g}, which looks like raw HU, and no window was given: the whole range "
        f"is min-maxed, so soft tissue gets a few grey levels. Choose a window (presets: {', '.join(WINDOW_PRESETS)}; "
        "or CENTER,WIDTH)."
    )


def oriented_spacing(spacing_zyx: tuple[float, float, float] | None, axis: str) -> tuple[float, float, float] | None:
    """Spacing ``(z, y, x)`` of a reader's array (LPS, or as stored) → spacing of its ``(D, H, W)`` slices along ``axis``
    (the axis order of :func:`~slicevlm.io.transforms.reorient_to_axis`)."""
    check_choice("axis", axis, AXES)
    if spacing_zyx is None:
        return None
    z, y, x = spacing_zyx
    return {"axial": (z, y, x), "coronal": (y, z, x), "sagittal": (x, z, y)}[axis]


def _depth_slab(depth: int, spacing: float | None, recipe: PreprocessingRecipe, model_depth: int) -> tuple[int, int, str]:
    """``(first, stop, note)``: the slices the model's D slices cover under the recipe's depth mode."""
    if recipe.depth == "fixed":
        return 0, depth, f"all {depth} slices resampled linearly to {model_depth}"
    if spacing is None:
        return 0, depth, f"slice spacing unknown (the file records none): all {depth} slices resampled to {model_depth}, as 'fixed'"
    assert recipe.slice_spacing_mm is not None
    extent = model_depth * recipe.slice_spacing_mm  # mm the model's slices span
    needed = extent / spacing  # source slices in that span
    if needed >= depth:
        return 0, depth, (
            f"the volume spans {depth * spacing:g} mm, less than {model_depth} slices x {recipe.slice_spacing_mm:g} mm "
            f"= {extent:g} mm: all {depth} slices stretched to {model_depth}"
        )
    count = max(2, int(round(needed)))
    first = (depth - count) // 2
    return first, first + count, (
        f"centre slab of {count} slices ({count * spacing:g} mm at {spacing:g} mm) resampled to {model_depth} "
        f"(about {recipe.slice_spacing_mm:g} mm apart)"
    )


def apply_recipe(
    volume: np.ndarray,
    recipe: PreprocessingRecipe,
    input_size: tuple[int, int, int],
    spacing: tuple[float, float, float] | None = None,
    source: str = "volume",
) -> Preprocessed:
    """Window, min-max, crop and resample one ``(D, H, W)`` volume already sliced along ``recipe.axis``.

    Args:
        volume: Raw finite intensities ``(D, H, W)`` (a reader's array after ``reorient_to_axis``).
        recipe: The choices to apply.
        input_size: The model's ``(D, H, W)``.
        spacing: Voxel spacing of ``volume``'s axes in mm, when the file records one.
        source: The file's name, for messages.

    Raises:
        DataError: A constant volume (before or after the window).
    """
    from slicevlm.io.transforms import crop_foreground, normalize_intensity, resize_to_model

    low, high = float(volume.min()), float(volume.max())
    warnings = [w for w in [raw_hu_warning(low, high, recipe)] if w]
    scaled = normalize_intensity(volume, recipe.window, source=source)  # (D, H, W) in [0, 1]
    read_shape = tuple(int(s) for s in scaled.shape)
    crop: dict[str, Any] = {"mode": recipe.crop}
    offset = (0, 0, 0)
    if recipe.crop == "foreground":
        before = scaled.shape
        mask = scaled > 0.0
        if mask.any():
            offset = tuple(int(np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != k)))[0]) for k in range(3))  # type: ignore[assignment]
        scaled = crop_foreground(scaled, 0.0)
        crop["foreground_box"] = [[o, o + s] for o, s in zip(offset, scaled.shape)]
        if tuple(scaled.shape) == tuple(before):
            crop["note"] = "no background to cut: the foreground fills the volume"
    first, stop, note = _depth_slab(int(scaled.shape[0]), spacing[0] if spacing else None, recipe, int(input_size[0]))
    if recipe.depth == "spacing" and spacing is None:
        warnings.append(f"depth 'spacing' asked for, but {source} records no slice spacing: depth resampled as 'fixed'.")
    tensor = resize_to_model(scaled[first:stop], tuple(input_size))  # (D, H, W)
    applied = {
        "window": recipe.window_dict(),
        "reorient": recipe.reorient,
        "axis": recipe.axis,
        "spacing_mm": None if spacing is None else [round(float(s), 4) for s in spacing],
        "intensity_range": [low, high],
        "crop": crop,
        "depth": {
            "mode": recipe.depth,
            "slice_spacing_mm": recipe.slice_spacing_mm,
            "slices_used": [offset[0] + first, offset[0] + stop],
            "note": note,
        },
        "read_shape": list(read_shape),
        "resampled_size": [int(s) for s in tensor.shape],
    }
    return Preprocessed(tensor, (offset[0] + first, offset[0] + stop), applied, warnings)
