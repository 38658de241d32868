"""The baselines' vision towers, behind the same :class:`~slicevlm.vision.tower.VisionTower` interface.

Same LLM, data, metrics and training code as SliceVLM; only `model.vision` changes:

- :class:`M3DLaMedTower`: M3D-LaMed's 3D ViT-B + 3D spatial pooling (256 tokens), MLP projector;
- :class:`Med3DVLMTower`: Med3DVLM's DCFormer + dual-stream MLP-Mixer projector (128 + 128 tokens).
"""

from slicevlm.vision.baselines.dcformer import DCFormer3D
from slicevlm.vision.baselines.m3d_lamed import M3DLaMedTower
from slicevlm.vision.baselines.med3dvlm import Med3DVLMTower
from slicevlm.vision.baselines.mixer_projector import DualStreamMixerProjector
from slicevlm.vision.baselines.vit3d import VisionTransformer3D

__all__ = ["DCFormer3D", "DualStreamMixerProjector", "M3DLaMedTower", "Med3DVLMTower", "VisionTransformer3D"]
