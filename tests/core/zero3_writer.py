"""Write a real DeepSpeed ZeRO-3 checkpoint of the tiny stage-2 SliceVLM module from 2 CPU processes (gloo).

Does what Lightning's DeepSpeed strategy does around a LightningModule (which itself needs CUDA):
`deepspeed.initialize` on the module with the module's own AdamW, two training steps, then
`engine.save_checkpoint(..., client_state=..., tag="checkpoint", exclude_frozen_parameters=True)` and
the export `SliceVLMModule._export` performs at the end of training (gathered weights, rank 0 writes).

    python zero3_writer.py ENCODER_DIR LLM_DIR OUT_DIR [--keep-frozen]
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

INPUT_SIZE = (8, 32, 32)


def build(encoder_dir: str, llm_dir: str):
    """The tiny stage-2 module and the resolved-config dict that describes it."""
    import torch

    from slicevlm.config_record import describe
    from slicevlm.llm.language_model import LanguageModel
    from slicevlm.llm.lora import LoraSettings
    from slicevlm.training.module import SliceVLMModule
    from slicevlm.vision import SliceEncoder
    from slicevlm.vision.pipeline import VisionPipeline

    torch.manual_seed(0)
    vision = VisionPipeline(SliceEncoder(f"local-dir:{encoder_dir}", dtype="float32"))
    language = LanguageModel(llm_dir, dtype="float32")
    lora = LoraSettings(rank=4, alpha=8, dropout=0.0)
    module = SliceVLMModule(vision, language, stage=2, lora=lora, learning_rate=1e-2, warmup_ratio=0.0)
    config = {
        "model": {"vision": describe(vision), "language": describe(language), "stage": 2, "lora": describe(lora)},
        "data": {"volume_size": list(INPUT_SIZE)},
    }
    return module, config


def run(rank: int, world: int, port: int, encoder_dir: str, llm_dir: str, out: str, keep_frozen: bool) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank), DS_ACCELERATOR="cpu")
    import deepspeed
    import torch
    import yaml

    from slicevlm.checkpoint import save_checkpoint_folder
    from slicevlm.training.optim import build_optimizer
    from slicevlm.training.zero import CONFIG_KEY, gather_whole_in_forward, gathered

    # An optional C++ all-reduce kernel that DeepSpeed would first compile (minutes); gloo does the same work.
    sys.modules["deepspeed.comm.torch"].build_shm_op = lambda: None
    deepspeed.init_distributed(dist_backend="gloo")
    module, config = build(encoder_dir, llm_dir)
    gather_whole_in_forward(module.model.vision.encoder)  # what SliceVLMModule.setup does under ZeRO-3
    trainable = [p for p in module.parameters() if p.requires_grad]
    optimizer = build_optimizer(trainable, 1e-2, 0.0, (0.9, 0.999), fused=False)
    ds_config = {"train_micro_batch_size_per_gpu": 2, "zero_optimization": {"stage": 3}, "zero_allow_untested_optimizer": True}
    engine, *_ = deepspeed.initialize(model=module, model_parameters=trainable, optimizer=optimizer, config=ds_config)
    generator = torch.Generator().manual_seed(rank)
    for _ in range(2):
        volume = torch.rand(2, *INPUT_SIZE, generator=generator)
        tokens = module.model.tokenize_for_training(["describe the scan", "which organ?"], ["a small cyst", "liver"], INPUT_SIZE[0])
        loss = module.model(volume, **tokens).loss
        engine.backward(loss)
        engine.step()
    client_state = {CONFIG_KEY: yaml.safe_dump(config, sort_keys=False), "global_step": 2}
    engine.save_checkpoint(str(Path(out) / "last.ckpt"), client_state=client_state, tag="checkpoint",
                           exclude_frozen_parameters=not keep_frozen)
    with gathered(trainable):  # what SliceVLMModule._export does on every rank
        if rank == 0:
            save_checkpoint_folder(module.model, Path(out) / "export", 2, INPUT_SIZE)
    torch.distributed.barrier()


def main(argv: list[str]) -> None:
    import torch.multiprocessing

    encoder_dir, llm_dir, out = argv[:3]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    torch.multiprocessing.spawn(run, args=(2, port, encoder_dir, llm_dir, out, "--keep-frozen" in argv), nprocs=2)


if __name__ == "__main__":
    main(sys.argv[1:])
