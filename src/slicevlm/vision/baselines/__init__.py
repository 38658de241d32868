"""The baselines' vision towers, behind the same :class:`~slicevlm.vision.tower.VisionTower` interface.

Same LLM, data, metrics and training code as SliceVLM; only `model.vision` changes:

- :class:`M3DLaMedTower`: M3D-LaMed's 3D ViT-B + 3D spatial pooling (256 tokens);
"""

from slicevlm.vision.baselines.m3d_lamed import M3DLaMedTower
from slicevlm.vision.baselines.vit3d import VisionTransformer3D

__all__ = ["M3DLaMedTower", "VisionTransformer3D"]
