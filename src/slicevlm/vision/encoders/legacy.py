"""Read encoder descriptions written before there was one class per encoder kind.

Checkpoint folders used to describe the encoder as one class with a `backend` argument:
`{"class_path": "slicevlm.vision.encoder.SliceEncoder", "init_args": {..., "backend": "open_clip"}}`.
:func:`upgrade_encoder_description` turns that into the class for that backend, so those folders
keep loading.
"""

from __future__ import annotations

from typing import Any

#: Class paths that took a `backend` argument.
LEGACY_CLASS_PATHS = ("slicevlm.vision.encoder.SliceEncoder", "slicevlm.vision.SliceEncoder")
#: `backend` value -> the class that now reads that kind of model.
BACKEND_CLASSES: dict[str, str] = {
    "open_clip": "slicevlm.vision.encoders.OpenClipSliceEncoder",
    "transformers": "slicevlm.vision.encoders.HFClipSliceEncoder",
}


def upgrade_encoder_description(description: dict[str, Any]) -> dict[str, Any]:
    """The encoder's `{"class_path", "init_args"}` with a legacy `backend` argument replaced by its class.

    Any other description is returned unchanged.

    Raises:
        ValueError: a legacy description names a backend that never existed.
    """
    init_args = description.get("init_args", {})
    if description.get("class_path") not in LEGACY_CLASS_PATHS or "backend" not in init_args:
        return description
    init_args = dict(init_args)
    backend = init_args.pop("backend")
    if backend not in BACKEND_CLASSES:
        raise ValueError(f"encoder backend {backend!r} is unknown; expected one of {', '.join(BACKEND_CLASSES)}")
    return {**description, "class_path": BACKEND_CLASSES[backend], "init_args": init_args}
