"""A Hugging Face text model as a sentence encoder: texts → one vector each (contrastive pre-training).

Med3DVLM pre-trains its image encoder against ClinicalBERT (`medicalai/ClinicalBERT`) report
embeddings; any `AutoModel` works (the tests use the tiny LLaMA). The vector is the first token's
hidden state (`pooling: cls`, BERT) or the mean over the non-padding tokens (`pooling: mean`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from slicevlm.config_record import record_init_args
from slicevlm.hub import ModelNotAvailableError, local_files_only, missing_model_message

CLINICAL_BERT = "medicalai/ClinicalBERT"
Pooling = Literal["cls", "mean"]


class TextEncoder(nn.Module):
    """Texts → (B, C) with a Hugging Face encoder and its tokenizer.

    Args:
        model_name: hub id or local folder of the text model (and its tokenizer).
        pooling: "cls" (first token; BERT) or "mean" (over non-padding tokens; any model).
        max_length: texts are cut to this many tokens.
        dtype: "float32" or "bfloat16".
    """

    def __init__(self, model_name: str = CLINICAL_BERT, pooling: Pooling = "cls", max_length: int = 256, dtype: str = "float32") -> None:
        super().__init__()
        record_init_args(self, locals())
        from transformers import AutoModel, AutoTokenizer

        if pooling not in ("cls", "mean"):
            raise ValueError(f"pooling {pooling!r} is not one of 'cls', 'mean'.")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model_name, local_files_only=local_files_only(model_name))
            self.model = AutoModel.from_pretrained(model_name, local_files_only=local_files_only(model_name), dtype=getattr(torch, dtype))
        except (OSError, ValueError) as error:
            raise ModelNotAvailableError(missing_model_message(model_name, "text encoder", "model.text_encoder.init_args.model_name", error)) from error
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.pooling = pooling
        self.max_length = max_length

    @property
    def width(self) -> int:
        """C, the hidden size of the text model."""
        return int(self.model.config.hidden_size)

    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        """One vector per text, (B, C)."""
        device = next(self.model.parameters()).device
        tokens = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt").to(device)
        hidden = self.model(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]).last_hidden_state  # (B, L, C)
        if self.pooling == "cls":
            return hidden[:, 0]
        mask = tokens["attention_mask"][..., None].to(hidden.dtype)  # (B, L, 1)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)
