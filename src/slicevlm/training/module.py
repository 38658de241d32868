"""The LightningModule: two-stage training of SliceVLM (paper § Implementation details; SPEC §2).

Stage 1 trains fusion + injection + projector with encoder and LLM frozen; stage 2 adds LoRA
adapters to the LLM. The vision pipeline and the language model arrive by injection (LightningCLI
`class_path`s), so a config swaps the encoder, the LLM or an ablation without touching code.

Text is tokenised in `on_before_batch_transfer` with the model's own tokenizer and padded to the
longest row of the batch. Lightning checkpoints keep only trainable weights (the frozen 7B LLM is
never copied into them); at the end of `fit` a self-describing checkpoint folder is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info

from slicevlm.checkpoint import load_vision_weights, save_checkpoint_folder
from slicevlm.llm.language_model import LanguageModel
from slicevlm.llm.lora import LoraSettings
from slicevlm.model import SliceVLM
from slicevlm.training.optim import build_optimizer, warmup_cosine
from slicevlm.training.parameters import format_parameter_table, parameter_table
from slicevlm.vision.pipeline import VisionPipeline


class SliceVLMModule(L.LightningModule):
    """Train and evaluate SliceVLM.

    Args:
        vision: the vision pipeline (encoder + selection + fusion + injection).
        language: the causal LM wrapper.
        stage: 1 (fusion, injection, projector) or 2 (the same plus LoRA on the LLM).
        lora: LoRA settings used in stage 2.
        init_from: a checkpoint folder whose trained modules start this run (stage 2 from stage 1).
            If it also holds LoRA adapters and stage is 2, those are trained further.
        learning_rate: peak AdamW learning rate (paper: 1e-4 stage 1, 2e-5 stage 2).
        weight_decay: AdamW weight decay on matrices.
        betas: AdamW betas.
        warmup_ratio: fraction of optimiser steps with linear warm-up before cosine decay.
        min_lr_ratio: final learning rate as a fraction of the peak.
        fused_optimizer: use the fused CUDA AdamW kernel when on a GPU.
        max_new_tokens: generation cap for validation / test / predict (SPEC §4: 256).
        decoding_engine: "hf" (transformers `generate`) or "fast" (static KV cache, CUDA graph on GPU;
            same greedy tokens).
        export_dir: write the checkpoint folder here when fit ends (None: do not).
    """

    def __init__(
        self,
        vision: VisionPipeline,
        language: LanguageModel,
        stage: int = 2,
        lora: LoraSettings = LoraSettings(),
        init_from: str | None = None,
        learning_rate: float = 2e-5,
        weight_decay: float = 0.0,
        betas: tuple[float, float] = (0.9, 0.999),
        warmup_ratio: float = 0.03,
        min_lr_ratio: float = 0.0,
        fused_optimizer: bool = True,
        max_new_tokens: int = 256,
        decoding_engine: str = "hf",
        export_dir: str | None = None,
    ) -> None:
        super().__init__()
        if stage not in (1, 2):
            raise ValueError(f"stage must be 1 or 2, got {stage}")
        self.save_hyperparameters(ignore=["vision", "language"])
        self.model = SliceVLM(vision, language)
        self.stage = stage
        self.skip_ids: set[str] = set()  # set by PredictionWriter when resuming test/predict
        self.strict_loading = False  # Lightning checkpoints hold trainable weights only
        if init_from is not None:
            self._initialise_from(Path(init_from))
        if stage == 2 and not language.has_lora:
            language.add_lora(lora)
        if stage == 1 and language.has_lora:
            raise ValueError(f"stage 1 trains no LoRA, but init_from={init_from} brought adapters; use stage: 2.")
        self.model.language.model.requires_grad_(False)
        if stage == 2:
            for name, parameter in self.model.language.model.named_parameters():
                parameter.requires_grad_("lora_" in name)

    def _initialise_from(self, folder: Path) -> None:
        from slicevlm.checkpoint import VISION_WEIGHTS, read_metadata

        read_metadata(folder)
        load_vision_weights(self.model, folder / VISION_WEIGHTS)
        if (folder / "adapter").is_dir() and self.stage == 2:
            self.model.language.load_lora(str(folder / "adapter"), trainable=True)
        rank_zero_info(f"Initialised trained modules from {folder}")

    # -- set-up -----------------------------------------------------------------------------------
    def on_fit_start(self) -> None:
        rank_zero_info(f"Stage {self.stage} parameters:\n{format_parameter_table(parameter_table(self.model))}")

    def configure_optimizers(self) -> dict[str, Any]:
        hp = self.hparams
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        optimizer = build_optimizer(trainable, hp.learning_rate, hp.weight_decay, tuple(hp.betas), hp.fused_optimizer)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = int(hp.warmup_ratio * total)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: warmup_cosine(step, total, warmup, hp.min_lr_ratio))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def on_before_batch_transfer(self, batch: dict[str, Any], dataloader_idx: int) -> dict[str, Any]:
        """Tokenise prompt + answer on the CPU side, padded to the longest row (training and validation)."""
        if self._trainer is not None and (self.trainer.training or self.trainer.validating or self.trainer.sanity_checking):
            depth = batch["volume"].shape[1]  # (B, D, H, W)
            batch.update(self.model.tokenize_for_training(batch["instruction"], batch["answer"], depth))
        return batch

    # -- steps ------------------------------------------------------------------------------------
    def _loss(self, batch: dict[str, Any]) -> torch.Tensor:
        output = self.model(batch["volume"], batch["input_ids"], batch["attention_mask"], batch["labels"])
        return output.loss

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        loss = self._loss(batch)
        size = len(batch["id"])
        self.log("train/loss", loss, prog_bar=True, batch_size=size)
        self.log("train/answer_tokens", (batch["labels"] != -100).sum().float(), reduce_fx="sum", batch_size=size)
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        loss = self._loss(batch)
        self.log("val/loss", loss, prog_bar=True, sync_dist=True, batch_size=len(batch["id"]))
        return loss

    def generation_settings(self) -> dict[str, Any]:
        """What decoding uses; recorded next to every predictions file."""
        return {
            "strategy": "greedy",
            "num_beams": 1,
            "do_sample": False,
            "max_new_tokens": self.hparams.max_new_tokens,
            "engine": self.hparams.decoding_engine,
        }

    def generate_texts(self, batch: dict[str, Any], max_new_tokens: int | None = None) -> list[str]:
        """Greedy answers for every row of a batch."""
        return self.model.generate(
            batch["volume"], batch["instruction"], max_new_tokens or self.hparams.max_new_tokens, self.hparams.decoding_engine
        )

    def _answer_rows(self, batch: dict[str, Any]) -> list[dict[str, str]]:
        keep = [i for i, sample_id in enumerate(batch["id"]) if sample_id not in self.skip_ids]
        if not keep:
            return []
        sub_batch = {key: (value[keep] if torch.is_tensor(value) else [value[i] for i in keep]) for key, value in batch.items()}
        predictions = self.generate_texts(sub_batch)
        return [
            {
                "id": sub_batch["id"][row],
                "task": sub_batch["task"][row],
                "question_type": sub_batch["question_type"][row],
                "question": sub_batch["instruction"][row],
                "prediction": prediction,
                "reference": sub_batch["answer"][row],
                "answer_choice": sub_batch["answer_choice"][row],
                "image_path": sub_batch["image_path"][row],
            }
            for row, prediction in enumerate(predictions)
        ]

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> list[dict[str, str]]:
        return self._answer_rows(batch)

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> list[dict[str, str]]:
        return self._answer_rows(batch)

    # -- checkpoints ------------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Keep only trainable weights in Lightning checkpoints (the frozen encoder and LLM are named, not copied)."""
        trainable = {name for name, p in self.named_parameters() if p.requires_grad}
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k in trainable}

    def on_fit_end(self) -> None:
        if self.hparams.export_dir is None or not self.trainer.is_global_zero:
            return
        datamodule = self.trainer.datamodule
        if datamodule is None or "volume_size" not in datamodule.hparams:
            raise RuntimeError("Exporting a checkpoint folder needs the data module's volume_size (the model's input size).")
        input_size = tuple(datamodule.hparams["volume_size"])
        log_dir = self.trainer.log_dir
        config = Path(log_dir) / "config.yaml" if log_dir else None
        folder = save_checkpoint_folder(self.model, self.hparams.export_dir, self.stage, input_size, config)
        rank_zero_info(f"Checkpoint folder written to {folder}")
