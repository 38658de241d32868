"""Contrastive image–report pre-training of a 3D encoder with the SigLIP loss (Med3DVLM's first step).

Zhai et al., "Sigmoid Loss for Language Image Pre-Training" (2023), eq. 1: for a batch of n pairs
with unit embeddings x_i (image) and y_j (text),

    L = −(1/n) Σ_i Σ_j log σ(z_ij · (t · x_i·y_j + b)),   z_ij = 1 if i = j else −1,

with a learned temperature t = exp(t′) and bias b. Med3DVLM's release starts them at t′ = log(1/0.07)
and b = 0 (the defaults here); SigLIP starts them at t′ = log 10, b = −10 (`init_log_temperature`,
`init_bias`). The batch is the global one, as the release computes it (`gather_loss=True`): every
process gathers the image and text embeddings of all processes, with their gradients, so n is the
batch size times the number of processes and each pair is contrasted with every report of the step.

    volume (B, D, H, W) ─DCFormer─▶ last stage ─mean over positions─▶ Linear ─▶ x (B, E), unit norm
    report text        ─TextEncoder (ClinicalBERT)─▶ Linear ─▶ y (B, E), unit norm
    gathered over P processes: (P·B, E) each ─▶ L

E = 768, Med3DVLM's "shared 768-dimensional space". One difference from the release: it averages the
image→text and text→image logits, (L + Lᵀ)/2, before the sigmoid; here eq. 1 is taken as SigLIP
writes it, over the image→text logits.

Validation logs `val/loss` and image↔text retrieval recall `val/i2t_r{1,5,10}`, `val/t2i_r{1,5,10}`
(×100, over all validation pairs; `metrics/retrieval.py`). When fit ends, the image encoder's weights
are written to `export_dir/image_encoder.safetensors`, which `Med3DVLMTower(encoder_weights=...)` reads.
Data: `M3DDataModule` with `train_tasks: [caption]` (a volume and its report per row). Checkpoints
resume as every stage's do (`ResumableCheckpoint`'s `last.ckpt`, `fit --ckpt_path last`; `resume.py`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.utilities import rank_zero_info
import torch
import torch.distributed as dist
from torch import nn
import torch.nn.functional as F

from slicevlm.llm.text_encoder import TextEncoder
from slicevlm.metrics.retrieval import retrieval_recalls
from slicevlm.training.optim import build_optimizer, warmup_cosine
from slicevlm.training.resume import ResumableState
from slicevlm.vision.baselines.dcformer import DCFormer3D

#: The file an export holds: the image encoder's state dict.
IMAGE_ENCODER_WEIGHTS = "image_encoder.safetensors"


def siglip_loss(image: torch.Tensor, text: torch.Tensor, log_temperature: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """SigLIP eq. 1 for unit-norm paired rows (n, E), (n, E): mean over images of the summed pair losses."""
    logits = image @ text.T * log_temperature.exp() + bias  # (n, n)
    signs = 2 * torch.eye(len(image), device=logits.device, dtype=logits.dtype) - 1  # +1 on the diagonal, −1 elsewhere
    return -F.logsigmoid(signs * logits).sum() / len(image)


def gather_with_grad(rows: torch.Tensor) -> torch.Tensor:
    """(n, E) of this process -> (P·n, E) of all P processes in rank order; gradients flow back to each
    process's own rows. Every process must give the same n. Without a process group: `rows` as they are."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return rows
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(rows), dim=0)


class ContrastivePretraining(ResumableState, L.LightningModule):
    """SigLIP pre-training of a DCFormer image encoder against a text encoder on volume–report pairs.

    Args:
        image_encoder: the 3D encoder to pre-train (its last stage is pooled).
        text_encoder: the report encoder (Med3DVLM: ClinicalBERT).
        embed_dim: E, the shared embedding width (Med3DVLM: 768).
        train_text_encoder: fine-tune the text encoder too (False: only its projection trains).
        learning_rate: peak AdamW learning rate (Med3DVLM: 1e-4).
        weight_decay: AdamW weight decay on matrices (Med3DVLM: 0.1).
        warmup_ratio: fraction of steps with linear warm-up before cosine decay (Med3DVLM: 0.03).
        gather: compute the loss over the global batch, the embeddings of every process gathered with
            their gradients (Med3DVLM's `gather_loss=True`); False: each process over its own pairs.
        init_log_temperature: t′ at the start, t = exp(t′) (Med3DVLM's release: log(1/0.07); SigLIP: log 10).
        init_bias: b at the start (Med3DVLM's release: 0; SigLIP: −10).
        export_dir: write `image_encoder.safetensors` here when fit ends (None: do not).
    """

    def __init__(
        self,
        image_encoder: DCFormer3D,
        text_encoder: TextEncoder,
        embed_dim: int = 768,
        train_text_encoder: bool = True,
        learning_rate: float = 1e-4,
        weight_decay: float = 0.1,
        warmup_ratio: float = 0.03,
        gather: bool = True,
        init_log_temperature: float = math.log(1 / 0.07),
        init_bias: float = 0.0,
        export_dir: str | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["image_encoder", "text_encoder"])
        self.image_encoder = image_encoder
        self.text_encoder = text_encoder
        self.text_encoder.requires_grad_(train_text_encoder)
        self.image_head = nn.Linear(image_encoder.channels[-1], embed_dim)
        self.text_head = nn.Linear(text_encoder.width, embed_dim)
        self.log_temperature = nn.Parameter(torch.tensor(float(init_log_temperature)))
        self.bias = nn.Parameter(torch.tensor(float(init_bias)))
        self._validation: list[tuple[torch.Tensor, torch.Tensor]] = []

    def embed(self, volume: torch.Tensor, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Unit image and text embeddings, (B, E) each."""
        last = self.image_encoder(volume)[-1]  # (B, C, D', H', W')
        image = self.image_head(last.flatten(2).mean(dim=2))  # (B, E)
        text = self.text_head(self.text_encoder(texts).to(image.dtype))  # (B, E)
        return F.normalize(image, dim=-1), F.normalize(text, dim=-1)

    def _loss(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The loss over the global batch (or this process's, without `gather`) and this process's embeddings."""
        image, text = self.embed(batch["volume"], list(batch["answer"]))
        pairs = (gather_with_grad(image), gather_with_grad(text)) if self.hparams.gather else (image, text)
        return siglip_loss(*pairs, self.log_temperature, self.bias), image, text

    def setup(self, stage: str) -> None:
        if stage == "fit":
            # `from_pretrained` hands the text encoder over in eval mode and Lightning keeps each submodule's
            # mode as it finds it: without this, a fine-tuned text encoder would train with its dropout off.
            self.train()

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        loss, _, _ = self._loss(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["answer"]))
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        loss, image, text = self._loss(batch)
        self.log("val/loss", loss, prog_bar=True, sync_dist=True, batch_size=len(batch["answer"]))
        self._validation.append((image.detach().float().cpu(), text.detach().float().cpu()))

    def on_validation_epoch_end(self) -> None:
        """Retrieval recall over every validation pair of this process (×100)."""
        if not self._validation:
            return
        image = torch.cat([pair[0] for pair in self._validation])
        text = torch.cat([pair[1] for pair in self._validation])
        self._validation.clear()
        for name, value in retrieval_recalls(image, text).items():
            self.log(f"val/{name}", 100 * value)

    def configure_optimizers(self) -> dict[str, Any]:
        hp = self.hparams
        trainable = [p for p in self.parameters() if p.requires_grad]
        optimizer = build_optimizer(trainable, hp.learning_rate, hp.weight_decay, (0.9, 0.999), fused=False)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = int(hp.warmup_ratio * total)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: warmup_cosine(step, total, warmup))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def on_train_start(self) -> None:
        """A resumed run continues its epoch where the checkpoint left it, with the same random streams."""
        self.restore_resume_state()

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.save_resume_state(checkpoint)  # collective: every rank saves through here

    def on_train_end(self) -> None:
        if self.hparams.export_dir is None or not self.trainer.is_global_zero:
            return
        from safetensors.torch import save_file

        folder = Path(self.hparams.export_dir)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.image_encoder.state_dict().items()}
        save_file(state, str(folder / IMAGE_ENCODER_WEIGHTS))
        rank_zero_info(f"Pre-trained image encoder written to {folder / IMAGE_ENCODER_WEIGHTS}")
