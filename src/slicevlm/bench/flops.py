"""Vision-side FLOPs per volume, counted with `torch.utils.flop_counter.FlopCounterMode`.

What is counted: one forward pass of the vision tower and its projector for one volume at the
model's input size: every matrix product (linear layers, attention's QKᵀ and A·V), convolution and
scaled-dot-product attention, at 2 FLOPs per multiply-add (FlopCounterMode's formulas). What is not:
FFTs, normalisation, activation functions, softmax, pooling, interpolation and elementwise
arithmetic.

The pass runs on fake tensors (`torch._subclasses.FakeTensorMode`): shapes only, no arithmetic and
no memory, so the full-size towers are counted on any machine in about a second. The modules are
built on the meta device and moved to fake CPU tensors (`to_empty`), which consumes them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

#: What `VisionFlops` counts, in words (printed with every table).
COUNTED = (
    "FLOPs: one forward pass of the vision tower + projector for one volume at the model's input size, counted by "
    "torch.utils.flop_counter.FlopCounterMode on fake tensors: matrix products, convolutions and attention at 2 FLOPs "
    "per multiply-add. Not counted: FFTs, normalisation, activations, softmax, pooling, elementwise ops."
)


def _attention_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    """QKᵀ and A·V of (B, h, L_q, E) × (B, h, L_k, E) attention: 2·B·h·L_q·L_k·(E + E_v)."""
    batch, heads, queries, width = query_shape
    keys, value_width = key_shape[-2], value_shape[-1]
    return 2 * batch * heads * queries * keys * (width + value_width)


#: FlopCounterMode has formulas for the CUDA attention kernels only; the CPU kernel does the same products.
CPU_ATTENTION = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _attention_flops}


@dataclass
class VisionFlops:
    """FLOPs of one volume through a tower and its projector, and the visual tokens that came out.

    Attributes:
        tower: FLOPs of the vision tower (the paper's: encoder, selection, fusion, injection).
        projector: FLOPs of the projector into the LLM.
        visual_tokens: M', the token count of the projector's output, (1, M', d).
    """

    tower: int
    projector: int
    visual_tokens: int

    @property
    def total(self) -> int:
        return self.tower + self.projector


def count_vision_flops(tower: nn.Module, projector: nn.Module, volume_size: tuple[int, int, int]) -> VisionFlops:
    """Count one (1, D, H, W) volume through meta-built `tower` and `projector` (both are consumed).

    Args:
        tower: a :class:`~slicevlm.vision.tower.VisionTower` built on the meta device.
        projector: its projector (`tower.build_projector(d_llm)`), on the meta device.
        volume_size: (D, H, W) of the volume.
    """
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode(allow_non_fake_inputs=True):
        tower.to_empty(device="cpu").eval()  # inference FLOPs; BatchNorm needs eval mode for one volume
        projector.to_empty(device="cpu").eval()
        volume = torch.zeros(1, *volume_size)  # (1, D, H, W), shape only
        with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=CPU_ATTENTION) as tower_counter:
            output = tower(volume)
        dtype = next(projector.parameters()).dtype
        with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=CPU_ATTENTION) as projector_counter:
            tokens = projector(output.tokens.to(dtype), *(stream.to(dtype) for stream in output.streams))  # (1, M', d)
    return VisionFlops(tower_counter.get_total_flops(), projector_counter.get_total_flops(), int(tokens.shape[1]))
