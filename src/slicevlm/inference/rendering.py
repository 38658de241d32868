"""Pictures of a volume: slice PNGs for the web viewer and the ``--explain`` figure.

Slice PNGs use Pillow only (8-bit greyscale of the [0, 1] model-size volume). The explanation figure
uses matplotlib with the Agg backend (no display needed), imported on first use with an install hint.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from slicevlm.inference.explain import Explanation


def slice_png(image: np.ndarray) -> bytes:
    """One ``(H, W)`` slice with values in [0, 1] as 8-bit greyscale PNG bytes."""
    from PIL import Image

    pixels = (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def printable(text: str) -> str:
    """``text`` without control characters (an untrained model's answers contain them), newlines kept."""
    return "".join(ch for ch in text if ch == "\n" or ch.isprintable())


def _pyplot():
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError("--explain draws with matplotlib: pip install 'slicevlm[serve]' (or matplotlib).") from error
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_explanation_png(explanation: Explanation, path: str | Path, title: str = "", columns: int = 7) -> Path:
    """Draw the selection and attention of :class:`Explanation` into a PNG.

    Top: S_i per slice (the selector keeps the lowest), kept slices in orange. Below: every kept
    slice with the injection attention it received overlaid (when the model has attention).

    Args:
        explanation: from :meth:`VolumeQA.explain`.
        path: the PNG to write (parent folders are created).
        title: a line drawn above everything (e.g. the question and answer).
        columns: kept slices per row.
    """
    plt = _pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    kept = explanation.kept_slices
    columns = max(1, min(columns, len(kept)))
    rows = math.ceil(len(kept) / columns)
    figure = plt.figure(figsize=(2.0 * columns, 2.2 + 2.1 * rows), dpi=100)
    grid = figure.add_gridspec(rows + 1, columns, height_ratios=[1.1] + [1.0] * rows)
    top = figure.add_subplot(grid[0, :])
    depth = len(explanation.similarity)
    colours = ["tab:orange" if i in set(kept) else "tab:gray" for i in range(depth)]
    top.bar(range(depth), explanation.similarity, color=colours)
    low, high = float(explanation.similarity.min()), float(explanation.similarity.max())
    margin = max((high - low) * 0.15, 1e-3)
    top.set_ylim(low - margin, high + margin)
    top.set_xlim(-0.5, depth - 0.5)
    top.set_xlabel("slice (model input)")
    top.set_ylabel("cos(f_i, f_i+1)")
    top.set_title(f"slice selection: {len(kept)} of {depth} kept (orange, lowest similarity)", fontsize=9)
    for position, index in enumerate(kept):
        axis = figure.add_subplot(grid[1 + position // columns, position % columns])
        axis.imshow(explanation.volume[index], cmap="gray", vmin=0.0, vmax=1.0)
        heat = explanation.attention_on_slice(position)
        if heat is not None:
            axis.imshow(heat, cmap="inferno", alpha=0.45, vmin=0.0, vmax=1.0)
        axis.set_title(f"z={index} (orig {explanation.kept_slices_original[position]})", fontsize=8)
        axis.axis("off")
    if title:
        figure.suptitle(printable(title), fontsize=9)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path
