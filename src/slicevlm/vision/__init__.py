"""The vision side: frozen slice encoder, slice selection, spatial–frequency fusion, feature injection."""

from slicevlm.vision.encoder import BIOMEDCLIP, SliceEncoder
from slicevlm.vision.fusion import SpatialFrequencyFusion
from slicevlm.vision.injection import FeatureInjection
from slicevlm.vision.pipeline import VisionOutput, VisionPipeline
from slicevlm.vision.projector import VisualProjector
from slicevlm.vision.selection import SliceSelector

__all__ = [
    "BIOMEDCLIP",
    "FeatureInjection",
    "SliceEncoder",
    "SliceSelector",
    "SpatialFrequencyFusion",
    "VisionOutput",
    "VisionPipeline",
    "VisualProjector",
]
