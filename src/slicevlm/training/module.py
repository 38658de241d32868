"""The LightningModule: two-stage training of SliceVLM (paper, "Implementation details"; docs/method.md#training).

Stage 1 trains fusion + injection + projector with encoder and LLM frozen; stage 2 adds LoRA
adapters to the LLM. The vision pipeline and the language model arrive by injection (LightningCLI
`class_path`s), so a config swaps the encoder, the LLM or an ablation without touching code.

Text is tokenised in `on_before_batch_transfer` with the model's own tokenizer and padded to the
longest row of the batch. Lightning checkpoints keep only trainable weights (the frozen 7B LLM is
never copied into them), plus every rank's RNG state and the run's config, so that `fit
--ckpt_path last` continues exactly where a killed run stopped; at the end of `fit` a
self-describing checkpoint folder is written (never over another run's folder by a run from scratch).

With several processes the loss is normalised by the answer tokens of the whole global batch, so
DDP / DeepSpeed training follows the same objective as one process with the same global batch.
NaN/Inf losses or gradients are handled by `nonfinite_policy` (`training/nonfinite.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from slicevlm.checkpoint import load_vision_weights, save_checkpoint_folder
from slicevlm.io.recipe import recipe_from_data_config
from slicevlm.errors import ConfigError
from slicevlm.llm.generation_config import DEFAULT_GENERATION, GenerationConfig
from slicevlm.llm.language_model import LanguageModel
from slicevlm.llm.lora import LoraSettings
from slicevlm.model import SliceVLM
from slicevlm.training.errors import ExportExistsError, RunError
from slicevlm.training.nonfinite import NonFiniteGuard
from slicevlm.training.optim import build_optimizer, parameter_groups, warmup_cosine
from slicevlm.training.parameters import format_parameter_table, parameter_table
from slicevlm.training.prediction_rows import prediction_row
from slicevlm.training.resume import ResumableState
from slicevlm.training.zero import CONFIG_KEY, gather_whole_in_forward, gathered
from slicevlm.vision.maps import VisionMaps
from slicevlm.vision.tower import VisionTower


class SliceVLMModule(ResumableState, L.LightningModule):
    """Train and evaluate SliceVLM.

    Args:
        vision: the vision tower: the paper's `VisionPipeline` (encoder + selection + fusion + injection)
            or a baseline's (`slicevlm.vision.baselines`).
        language: the causal LM wrapper.
        stage: 1 (fusion, injection, projector) or 2 (the same plus LoRA on the LLM).
        lora: LoRA settings used in stage 2.
        init_from: a checkpoint folder (or hf://org/name of one on the Hub) whose trained modules start this
            run (stage 2 from stage 1).
            If it also holds LoRA adapters and stage is 2, those are trained further.
        learning_rate: peak AdamW learning rate (paper: 1e-4 stage 1, 2e-5 stage 2).
        vision_learning_rate: peak learning rate of the vision modules (fusion, injection, projector) when
            it should differ from `learning_rate` (None: the same). 0 freezes them: a stage 2 that trains
            LoRA only and keeps what stage 1 taught the vision modules.
        weight_decay: AdamW weight decay on matrices.
        betas: AdamW betas.
        warmup_ratio: fraction of optimiser steps with linear warm-up before cosine decay.
        min_lr_ratio: final learning rate as a fraction of the peak.
        fused_optimizer: use the fused CUDA AdamW kernel when on a GPU.
        generation: how validation / test / predict decode (`GenerationConfig`: `max_new_tokens`, 256 as
            the paper's evaluation; `engine`, "hf" or "fast"); checked when the config is read.
        export_dir: write the checkpoint folder here when fit ends (None: do not).
        overwrite_export: let a run from scratch replace a checkpoint folder already in export_dir
            (a resumed run always may: it continues the run that wrote it). False: such a run stops
            at the start, before training.
        bundle_models: copy local encoder/LLM folders into the exported folder so it travels: None
            (default) when at most 50 MB each (the tiny stand-ins), true always, false never (they
            are then named by absolute path; hub names are always kept as names).
        nonfinite_policy: what a NaN/Inf loss or gradient does: "stop" (an error naming the step,
            the sample ids and the parameters; no update) or "skip" (drop that optimiser step and
            warn with the same details). DeepSpeed supports "stop" only.
        max_consecutive_skips: with "skip", stop after this many skipped steps in a row.
    """

    def __init__(
        self,
        vision: VisionTower,
        language: LanguageModel,
        stage: int = 2,
        lora: LoraSettings = LoraSettings(),
        init_from: str | None = None,
        learning_rate: float = 2e-5,
        vision_learning_rate: float | None = None,
        weight_decay: float = 0.0,
        betas: tuple[float, float] = (0.9, 0.999),
        warmup_ratio: float = 0.03,
        min_lr_ratio: float = 0.0,
        fused_optimizer: bool = True,
        generation: GenerationConfig = DEFAULT_GENERATION,
        export_dir: str | None = None,
        overwrite_export: bool = False,
        bundle_models: bool | None = None,
        nonfinite_policy: str = "stop",
        max_consecutive_skips: int = 10,
    ) -> None:
        super().__init__()
        if stage not in (1, 2):
            raise ConfigError(f"stage must be 1 or 2, got {stage}")
        if vision_learning_rate is not None and vision_learning_rate < 0:
            raise ConfigError(f"vision_learning_rate must be >= 0 (0 freezes the vision modules), got {vision_learning_rate}")
        if stage == 1 and vision_learning_rate == 0:
            raise ConfigError("vision_learning_rate: 0 freezes the vision modules, and stage 1 trains nothing else; use it in stage 2.")
        self.generation = generation
        self.save_hyperparameters(ignore=["vision", "language"])
        self.model = SliceVLM(vision, language)
        self.stage = stage
        self.skip_ids: set[str] = set()  # set by PredictionWriter when resuming test/predict
        self.strict_loading = False  # Lightning checkpoints hold trainable weights only
        self.nonfinite = NonFiniteGuard(nonfinite_policy, max_consecutive_skips)
        self._exported = False
        if init_from is not None:
            self._initialise_from(init_from)
        if stage == 2 and not language.has_lora:
            language.add_lora(lora)
        if stage == 1 and language.has_lora:
            raise ConfigError(f"stage 1 trains no LoRA, but init_from={init_from} brought adapters; use stage: 2.")
        self.model.language.model.requires_grad_(False)
        if stage == 2:
            for name, parameter in self.model.language.model.named_parameters():
                parameter.requires_grad_("lora_" in name)
        if vision_learning_rate == 0:
            for module in self.model.trainable_vision_modules().values():
                module.requires_grad_(False)

    def _initialise_from(self, folder: str | Path) -> None:
        from slicevlm.checkpoint import VISION_WEIGHTS, read_metadata, resolve_checkpoint

        folder = resolve_checkpoint(folder)
        read_metadata(folder)
        load_vision_weights(self.model, folder / VISION_WEIGHTS)
        if (folder / "adapter").is_dir() and self.stage == 2:
            self.model.language.load_lora(str(folder / "adapter"), trainable=True)
        rank_zero_info(f"Initialised trained modules from {folder}")

    # -- set-up -----------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        """Before the strategy wraps the model: training mode for fit; under ZeRO-3 frozen encoders gather their weights as a whole."""
        if stage == "fit":
            # Training mode for everything that trains. Lightning keeps each submodule's mode as it finds it,
            # and `from_pretrained` hands the LLM over in eval mode, where transformers skips gradient
            # checkpointing (every layer's activations stay: `slicevlm memory` computes 65 instead of 23 GiB at 12 × 512 tokens)
            # and LoRA dropout is off. The frozen slice encoder keeps itself in eval mode.
            self.train()
        if getattr(self.trainer.strategy, "zero_stage_3", False):
            for module in self.model.vision.frozen_modules().values():
                gather_whole_in_forward(module)

    def on_fit_start(self) -> None:
        datamodule = self.trainer.datamodule
        if datamodule is not None and "volume_size" in datamodule.hparams:
            self.model.vision.check_input_size(tuple(datamodule.hparams["volume_size"]))
        rank_zero_info(f"Stage {self.stage} parameters:\n{format_parameter_table(parameter_table(self.model))}")
        if self.hparams.nonfinite_policy == "skip" and type(self.trainer.strategy).__name__ == "DeepSpeedStrategy":
            raise RunError(
                "model.nonfinite_policy: skip cannot drop a step under DeepSpeed (its optimiser reads its own "
                "gradient buffers); use nonfinite_policy: stop."
            )

    def on_train_start(self) -> None:
        """After a checkpoint was restored (or not): refuse to overwrite an export; restore data position and RNG."""
        self._refuse_overwriting_export()
        self.restore_resume_state()

    def _refuse_overwriting_export(self) -> None:
        folder = self.hparams.export_dir
        if folder is None or self.trainer.ckpt_path is not None:
            return  # nothing to export, or a resumed run continuing its own export
        folder = Path(folder)
        occupied = folder.is_dir() and any(folder.iterdir()) if self.trainer.is_global_zero else False
        if not self.trainer.strategy.broadcast(occupied, src=0):
            return
        if self.hparams.overwrite_export:
            rank_zero_warn(f"{folder} holds an earlier export; this run from scratch replaces it at the end (overwrite_export).")
            return
        raise ExportExistsError(
            f"model.export_dir {folder} already holds files (an earlier run's checkpoint folder?), and this run starts "
            "from scratch, so it would overwrite them when it ends. Resume that run with --ckpt_path last, choose "
            "another --model.export_dir, or pass --model.overwrite_export true to replace it."
        )

    def configure_optimizers(self) -> dict[str, Any]:
        hp = self.hparams
        groups = parameter_groups(self.model)  # named: LearningRateMonitor logs lr-AdamW/vision, lr-AdamW/lora
        rates = {"vision": hp.vision_learning_rate} if hp.vision_learning_rate else {}  # 0: frozen, no group
        optimizer = build_optimizer(groups, hp.learning_rate, hp.weight_decay, tuple(hp.betas), hp.fused_optimizer, rates)
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
        loss = self._loss(batch)  # mean over this batch's answer tokens
        size = len(batch["id"])
        tokens = (batch["labels"] != -100).sum().float()  # = the shifted labels the LM scores (position 0 is prompt)
        self.nonfinite.record(batch["id"], loss)
        self.log("train/loss", loss, prog_bar=True, batch_size=size)
        self.log("train/answer_tokens", tokens, reduce_fx="sum", batch_size=size)
        world = self.trainer.world_size
        if world == 1:
            return loss
        # DDP/DeepSpeed average the ranks' gradients; weighting each rank by its share of the global batch's
        # answer tokens makes that average the gradient of the mean over all of them (one process, same batch).
        total = self.trainer.strategy.reduce(tokens.detach().clone(), reduce_op="sum")
        return loss * tokens * (world / total)

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """NaN/Inf check of this step's losses and gradients (after backward, before the update)."""
        trainable = [(name, p) for name, p in self.named_parameters() if p.requires_grad]
        if not self.nonfinite.check(trainable, self.global_step, self._any_rank):
            self.log("train/skipped_steps", float(self.nonfinite.skipped_steps), reduce_fx="max")

    def _any_rank(self, flag: bool) -> bool:
        return bool(self.trainer.strategy.reduce_boolean_decision(flag, all=False))

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        loss = self._loss(batch)
        self.log("val/loss", loss, prog_bar=True, sync_dist=True, batch_size=len(batch["id"]))
        return loss

    def generation_settings(self) -> dict[str, Any]:
        """What decoding uses (`GenerationConfig.to_dict`); recorded next to every predictions file."""
        return self.generation.to_dict()

    def generate_texts(self, batch: dict[str, Any], max_new_tokens: int | None = None) -> list[str]:
        """Greedy answers for every row of a batch (`max_new_tokens`: another cap than the module's)."""
        generation = self.generation.with_max_new_tokens(max_new_tokens) if max_new_tokens is not None else self.generation
        return self.model.generate(batch["volume"], batch["instruction"], generation)

    def vision_maps(self, volume: torch.Tensor) -> VisionMaps | None:
        """Kept slices, fusion gate and injection attention for one ``(D, H, W)`` volume (TensorBoard images);
        None for a tower without them."""
        return self.model.vision.maps(volume.to(self.device))

    def _answer_rows(self, batch: dict[str, Any]) -> list[dict[str, str]]:
        keep = [i for i, sample_id in enumerate(batch["id"]) if sample_id not in self.skip_ids]
        if not keep:
            return []
        sub_batch = {key: (value[keep] if torch.is_tensor(value) else [value[i] for i in keep]) for key, value in batch.items()}
        predictions = self.generate_texts(sub_batch)
        return [prediction_row(sub_batch, row, sub_batch["id"][row], text) for row, text in enumerate(predictions)]

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> list[dict[str, str]]:
        return self._answer_rows(batch)

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> list[dict[str, str]]:
        return self._answer_rows(batch)

    # -- checkpoints ------------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Trainable weights only (the frozen encoder and LLM are named, not copied), RNG states, the config."""
        trainable = {name for name, p in self.named_parameters() if p.requires_grad}
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k in trainable}
        self.save_resume_state(checkpoint)  # collective: every rank saves through here
        config = self._training_config_path()
        if config is not None:
            checkpoint[CONFIG_KEY] = config.read_text(encoding="utf-8")

    def _training_config_path(self) -> Path | None:
        """The resolved config LightningCLI saved beside the logs (call on every rank: log_dir is collective)."""
        log_dir = self.trainer.log_dir if self._trainer is not None else None
        config = Path(log_dir) / "config.yaml" if log_dir else None
        return config if config is not None and config.is_file() else None

    def on_train_end(self) -> None:
        self._export()

    def on_fit_end(self) -> None:
        if not self._exported:  # a resumed run whose training had already finished
            self._export()

    def _export(self) -> None:
        """Write the checkpoint folder (every rank calls this: under ZeRO-3 the weights are gathered first)."""
        if self.hparams.export_dir is None:
            return
        datamodule = self.trainer.datamodule
        if datamodule is None or "volume_size" not in datamodule.hparams:
            raise RuntimeError("Exporting a checkpoint folder needs the data module's volume_size (the model's input size).")
        input_size = tuple(datamodule.hparams["volume_size"])
        config = self._training_config_path()  # every rank: trainer.log_dir is a broadcast under DDP
        # the vision modules are written even when frozen (vision_learning_rate: 0), so gather them too
        vision = [p for module in self.model.trainable_vision_modules().values() for p in module.parameters()]
        lora = [p for p in self.model.language.parameters() if p.requires_grad]
        with gathered(vision + lora):
            if self.trainer.is_global_zero:
                recipe = recipe_from_data_config(datamodule.hparams)
                folder = save_checkpoint_folder(
                    self.model, self.hparams.export_dir, self.stage, input_size, config, recipe, self.hparams.bundle_models
                )
                rank_zero_info(f"Checkpoint folder written to {folder}")
        self._exported = True
