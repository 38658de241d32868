"""The vision side: frozen slice encoder, slice selection, spatial–frequency fusion, feature injection.

`SliceEncoder` is the paper's encoder class (open_clip; BiomedCLIP by default), the name configs use;
other encoder kinds are in :mod:`slicevlm.vision.encoders`.
"""

from slicevlm.vision.encoders import BIOMEDCLIP, EfficientNetLiteSliceEncoder, HFClipSliceEncoder, OpenClipSliceEncoder, SliceEncoderBase
from slicevlm.vision.fusion import SpatialFrequencyFusion
from slicevlm.vision.injection import FeatureInjection
from slicevlm.vision.pipeline import VisionOutput, VisionPipeline
from slicevlm.vision.projector import VisualProjector
from slicevlm.vision.selection import SliceSelector

#: The paper's slice encoder (BiomedCLIP through open_clip), under the name every shipped config uses.
SliceEncoder = OpenClipSliceEncoder

__all__ = [
    "BIOMEDCLIP",
    "EfficientNetLiteSliceEncoder",
    "FeatureInjection",
    "HFClipSliceEncoder",
    "OpenClipSliceEncoder",
    "SliceEncoder",
    "SliceEncoderBase",
    "SliceSelector",
    "SpatialFrequencyFusion",
    "VisionOutput",
    "VisionPipeline",
    "VisualProjector",
]
