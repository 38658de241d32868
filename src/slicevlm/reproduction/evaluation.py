"""One checkpoint folder evaluated on the test split: predictions written as they come (a rerun resumes), then scored."""

from __future__ import annotations

from pathlib import Path


def evaluate_checkpoint(
    checkpoint: Path,
    data_root: Path,
    tasks: list[str],
    out_dir: Path,
    protocol: str = "m3d",
    bertscore_model: str | None = "roberta-large",
    batch_size: int = 8,
    max_samples: int | None = None,
    device: str = "auto",
    num_workers: int = 2,
    controls: list[str] | None = None,
    control_seed: int = 0,
    comparable: bool = True,
    trust_checkpoint: bool = False,
):
    """Generate on the test split with a checkpoint folder and score it; returns the PredictionWriter.

    ``controls`` (``"swapped"``, ``"blank"``) also asks every question of another case's volume and/or
    a blank one (the data module's ``image_controls``); ``control_seed`` fixes the case derangement.
    ``comparable=False`` (the synthetic twin) shows the paper's rows in the summary as a labelled
    reference, with the chance level and no difference to them. ``trust_checkpoint`` lets the
    folder's ``model.yaml`` name any class (see :mod:`slicevlm.trusted_classes`).
    """
    import lightning as L
    import torch

    from slicevlm.callbacks import PredictionWriter
    from slicevlm.checkpoint import read_metadata, read_model_config
    from slicevlm.config_record import build
    from slicevlm.data.datamodule import M3DDataModule
    from slicevlm.training.module import SliceVLMModule

    metadata = read_metadata(checkpoint)
    on_gpu = torch.cuda.is_available() if device == "auto" else device.startswith("cuda")
    # bf16 matmuls on CPU are slow and inexact: evaluate in float32 there
    config = read_model_config(checkpoint, dtype=None if on_gpu else "float32", trust_checkpoint=trust_checkpoint)
    vision, language = build(config["vision"], trust=trust_checkpoint), build(config["language"], trust=trust_checkpoint)
    module = SliceVLMModule(vision, language, stage=metadata["stage"], init_from=str(checkpoint))
    datamodule = M3DDataModule(
        str(data_root), test_tasks=tasks, volume_size=tuple(metadata["input_size"]), eval_batch_size=batch_size,
        max_test_samples=max_samples, num_workers=num_workers, pin_memory=on_gpu,
        image_controls=list(controls or []), control_seed=control_seed,
    )
    writer = PredictionWriter(out_dir / "predictions.jsonl", protocols=[protocol], bertscore_model=bertscore_model, compare_with_paper=True)
    trainer = L.Trainer(
        accelerator="gpu" if on_gpu else "cpu", devices=1, precision="bf16-mixed" if on_gpu else "32-true",
        logger=False, enable_checkpointing=False, enable_model_summary=False, callbacks=[writer],
    )
    trainer.test(module, datamodule=datamodule)
    if not comparable and writer.summary is not None:
        from slicevlm.callbacks.summary import summary_markdown

        writer.summary_md_path.write_text(
            summary_markdown(writer.summary, writer.reports, compare=True, comparable=False), encoding="utf-8"
        )
    return writer
