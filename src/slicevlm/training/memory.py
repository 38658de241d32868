"""Memory per training config, computed (not measured) from parameter counts and activation sizes.

`slicevlm memory` prints one row per shipped config: weights, gradients, optimiser state and
activations per GPU (or for the CPU rehearsal overlay, per process), in GiB. The parts:

* **weights**: the frozen encoder and LLM in their dtype (bf16: 2 bytes; 8-bit: 1 byte per block
  linear weight; 4-bit NF4 with double quantisation: 4.127 bits = 0.516 bytes, Dettmers et al. 2023),
  with embeddings and norms of a k-bit model in fp32 (peft's `prepare_model_for_kbit_training`
  upcasts them); the trained modules (fusion, injection, projector, LoRA) in fp32.
* **gradients** (4 bytes) and **AdamW state** (two fp32 moments, 8 bytes) for the trained
  parameters only, divided over the GPUs under ZeRO-2.
* **activations**: LLM blocks after Korthikanti et al. 2023 ("Reducing activation recomputation",
  eq. 2) with an SDPA/flash kernel, i.e. no stored s×s scores: 34·s·h bytes per token-layer, or
  with gradient checkpointing 2·s·h bytes per layer input plus one layer recomputed; LoRA dropout
  keeps one copy of every adapted input (3 bytes per element with its mask); logits in bf16 plus
  their fp32 upcast and gradient for the loss (10 bytes per vocabulary entry); the vision modules'
  saved tensors, counted by tracing autograd on the CPU in fp32 (an upper bound for bf16 autocast).
* **runtime**: a fixed 1 GiB: the CUDA context and allocator slack on a GPU; the interpreter, torch,
  the libraries and the data pipeline on the CPU (measured: 1.0 GiB of private memory beside the
  weights once the full-size stage-2 model has loaded).

On the CPU the frozen LLM's weights are mapped from their safetensors files rather than copied (the
kernel may drop and re-read those pages); the rest is private memory. Measured against the CPU row,
the total is within 2% of the step's peak (BENCHMARKS.md, "Measured beside computed"); checkpoint
saving adds a transient of about the optimiser state's size on the host.

Parameter counts come from the real modules built with random weights (BiomedCLIP ViT-B/16 and the
fusion/injection/projector from their classes; LLaMA-2-7B from its shipped config, counted on the
meta device). Measured peaks differ: allocator fragmentation, temporary buffers of kernels and
DeepSpeed's bucket buffers are not modelled.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field

import torch

from slicevlm.command_line import run_command

GIB = 2**30
#: Bytes per block-linear weight of the LLM by loading mode.
WEIGHT_BYTES = {None: 2.0, "8bit": 1.0, "4bit": 4.127 / 8}
#: The CUDA context and allocator slack on a GPU; the interpreter, torch and libraries on the CPU.
RUNTIME_BYTES = 1 * GIB


@dataclass(frozen=True)
class TrainingSetup:
    """What a config decides about memory.

    Attributes:
        name: the config (or overlay) as a user passes it.
        stage: 1 (LLM frozen, no LoRA) or 2 (LoRA on all block linears).
        devices: GPUs the run uses.
        zero_stage: 0 (no DeepSpeed), 2 or 3.
        batch_size: samples per GPU per step (`data.batch_size`).
        accumulate: `trainer.accumulate_grad_batches`.
        quantization: None, "8bit" or "4bit" (`model.language.init_args.quantization`).
        gradient_checkpointing: `model.language.init_args.gradient_checkpointing`.
        seq_len: tokens per row (visual + text; `context_length` 512).
        lora_rank: r of stage 2's adapters.
        device: "cuda" (a row per GPU) or "cpu" (one process on the CPU).
    """

    name: str
    stage: int
    devices: int
    zero_stage: int
    batch_size: int
    accumulate: int
    quantization: str | None = None
    gradient_checkpointing: bool = True
    seq_len: int = 512
    lora_rank: int = 16
    device: str = "cuda"

    @property
    def global_batch(self) -> int:
        return self.devices * self.batch_size * self.accumulate


#: One row per shipped training config; tests check these against the YAML files.
SETUPS: tuple[TrainingSetup, ...] = (
    TrainingSetup("configs/stage1.yaml (4 GPUs)", stage=1, devices=4, zero_stage=2, batch_size=12, accumulate=2),
    TrainingSetup("configs/stage2.yaml (4 GPUs)", stage=2, devices=4, zero_stage=2, batch_size=12, accumulate=2),
    TrainingSetup("+ configs/single_gpu/stage1.yaml", stage=1, devices=1, zero_stage=0, batch_size=12, accumulate=8),
    TrainingSetup("+ configs/single_gpu/stage2.yaml", stage=2, devices=1, zero_stage=0, batch_size=12, accumulate=8),
    TrainingSetup("+ configs/single_gpu/stage2_qlora.yaml", stage=2, devices=1, zero_stage=0, batch_size=6, accumulate=16, quantization="4bit"),
    # What `make rehearse-full` runs: the stage-2 config with the CPU overlay, one process, batch 1.
    TrainingSetup("+ configs/rehearsal/cpu.yaml (CPU)", stage=2, devices=1, zero_stage=0, batch_size=1, accumulate=1, device="cpu"),
)


@dataclass(frozen=True)
class ModelSizes:
    """Parameter counts and shapes the estimate needs.

    Attributes:
        encoder: frozen slice-encoder parameters.
        trainable_vision: fusion + injection + projector parameters.
        llm_block_linear: parameters of the LLM's block linear layers (what k-bit loading quantises).
        llm_other: embeddings, LM head and norms.
        hidden: d, the LLM width.
        intermediate: the MLP width.
        layers: decoder blocks.
        vocab: vocabulary size (with `<image>`).
        vision_activation_bytes: saved tensors of the trained vision modules for one volume (fp32).
        kv_width: output width of the k and v projections (0: `hidden`; smaller with grouped-query attention).
    """

    encoder: int
    trainable_vision: int
    llm_block_linear: int
    llm_other: int
    hidden: int
    intermediate: int
    layers: int
    vocab: int
    vision_activation_bytes: int
    kv_width: int = 0

    def lora(self, rank: int) -> int:
        """LoRA parameters on q, k, v, o, gate, up, down of every block: r·(in + out) each."""
        h, i, kv = self.hidden, self.intermediate, self.kv_width or self.hidden
        return self.layers * rank * (2 * (h + h) + 2 * (h + kv) + 2 * (h + i) + (i + h))


@dataclass
class MemoryEstimate:
    """Bytes per GPU by part."""

    setup: TrainingSetup
    parts: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(self.parts.values())


def vision_activation_bytes(encoder_name: str, depth: int, pretrained: bool = False) -> tuple[int, int, int]:
    """(encoder params, trained vision params, bytes autograd saves for one volume) of the real modules on the CPU.

    The frozen encoder is replaced by random features of its output shape (it saves nothing for
    backward: no parameter of it trains and its input needs no gradient).
    """
    from slicevlm.vision import SliceEncoder
    from slicevlm.vision.pipeline import VisionPipeline
    from slicevlm.vision.projector import VisualProjector

    pipeline = VisionPipeline(SliceEncoder(encoder_name, pretrained=pretrained))
    projector = VisualProjector(pipeline.width, 4096)
    encoder = pipeline.encoder
    tokens, width = encoder.grid_size[0] * encoder.grid_size[1], encoder.width
    encoder_params = sum(p.numel() for p in encoder.parameters())
    pipeline.encode_slices = lambda volume: torch.randn(volume.shape[0], volume.shape[1], tokens, width)  # (B, D, N, C)
    trained = sum(p.numel() for m in pipeline.trainable_modules().values() for p in m.parameters())
    trained += sum(p.numel() for p in projector.parameters())
    saved = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal saved
        saved += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        projector(pipeline(torch.zeros(1, depth, *encoder.image_size)).tokens)
    return encoder_params, trained, saved


def llm_sizes(model_name: str = "meta-llama/Llama-2-7b-hf") -> tuple[int, int, int, int, int, int]:
    """(block-linear params, other params, hidden, intermediate, layers, vocab) of a shipped LLM architecture, on the meta device."""
    from transformers import AutoModelForCausalLM

    from slicevlm.llm.language_model import _architecture_config

    config = _architecture_config(model_name)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    blocks = model.model.layers
    linear = sum(m.weight.numel() for m in blocks.modules() if isinstance(m, torch.nn.Linear))
    total = sum(p.numel() for p in model.parameters())
    vocab = config.vocab_size + 1  # + <image>
    return linear, total - linear, config.hidden_size, config.intermediate_size, config.num_hidden_layers, vocab


@functools.lru_cache(maxsize=1)
def paper_model_sizes() -> ModelSizes:
    """Sizes of the paper's model: BiomedCLIP ViT-B/16 encoder, 50 slices, LLaMA-2-7B."""
    from slicevlm.vision import BIOMEDCLIP

    encoder, trainable, saved = vision_activation_bytes(BIOMEDCLIP, depth=50)
    linear, other, hidden, intermediate, layers, vocab = llm_sizes()
    return ModelSizes(encoder, trainable, linear, other, hidden, intermediate, layers, vocab, saved)


def estimate(setup: TrainingSetup, sizes: ModelSizes) -> MemoryEstimate:
    """Bytes per GPU for `setup` (see the module docstring for each part)."""
    b, s, h, i = setup.batch_size, setup.seq_len, sizes.hidden, sizes.intermediate
    other_bytes = 4.0 if setup.quantization else 2.0
    trained = sizes.trainable_vision + (sizes.lora(setup.lora_rank) if setup.stage == 2 else 0)
    shard = setup.devices if setup.zero_stage >= 2 else 1
    per_layer_full = 34 * s * b * h  # bytes, Korthikanti et al. eq. 2 without the s×s score term
    if setup.stage == 2:  # LoRA dropout: a copy of each adapted input plus its mask
        per_layer_full += 3 * s * b * (4 * h + 2 * h + i)
    if setup.gradient_checkpointing:
        llm_activations = sizes.layers * 2 * s * b * h + per_layer_full
    else:
        llm_activations = sizes.layers * per_layer_full
    parts = {
        "frozen weights": 2.0 * sizes.encoder + WEIGHT_BYTES[setup.quantization] * sizes.llm_block_linear + other_bytes * sizes.llm_other,
        "trained weights": 4.0 * trained,
        "gradients": 4.0 * trained / shard,
        "optimizer state": 8.0 * trained / shard,
        "activations": llm_activations + 10 * b * s * sizes.vocab + b * sizes.vision_activation_bytes,
        "runtime": float(RUNTIME_BYTES),
    }
    return MemoryEstimate(setup, parts)


def markdown_table(estimates: list[MemoryEstimate]) -> str:
    """The memory table (docs/training.md, "Memory per config"): one row per config, GiB per GPU (per process for a CPU row)."""
    columns = ["frozen weights", "trained weights", "gradients", "optimizer state", "activations"]
    lines = [
        "| config | GPUs × batch × accumulation = global | " + " | ".join(columns) + " | total per GPU |",
        "|---|---|" + "---:|" * (len(columns) + 1),
    ]
    for item in estimates:
        setup = item.setup
        shape = f"{setup.devices} × {setup.batch_size} × {setup.accumulate} = {setup.global_batch}" + (" (CPU)" if setup.device == "cpu" else "")
        cells = [f"{item.parts[name] / GIB:.1f}" for name in columns]
        lines.append(f"| {setup.name} | {shape} | " + " | ".join(cells) + f" | **{item.total / GIB:.1f}** |")
    return "\n".join(lines)


def memory() -> int:
    """Memory per training config, computed from parameter counts and activation sizes (not measured)."""
    sizes = paper_model_sizes()
    print(markdown_table([estimate(setup, sizes) for setup in SETUPS]))
    print(
        f"\nGiB per GPU, computed, not measured: encoder {sizes.encoder / 1e6:.0f} M frozen, LLM "
        f"{(sizes.llm_block_linear + sizes.llm_other) / 1e9:.2f} B frozen, trained vision modules "
        f"{sizes.trainable_vision / 1e6:.1f} M, LoRA r16 {sizes.lora(16) / 1e6:.1f} M; "
        f"{SETUPS[0].seq_len} tokens per row; 1 GiB runtime (the CUDA context; on the CPU the interpreter and libraries) "
        "included in the total. Gradient checkpointing on, as the configs set it; without it the single-GPU stage-2 "
        f"row's activations would be {estimate(dataclasses.replace(SETUPS[3], gradient_checkpointing=False), sizes).parts['activations'] / GIB:.0f} GiB."
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """``slicevlm memory``: print the computed memory table of the shipped training configs."""
    return run_command(memory, argv, prog="slicevlm memory")
