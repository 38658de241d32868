"""SliceVLM: vision pipeline → projector → language model (paper Fig. 1). Plain PyTorch, no Lightning.

    volume (B, D, H, W) ──vision tower──▶ (B, M', C) ──projector──▶ (B, M', d)
    prompt ids with one <image> ──embed──▶ (B, L, d) ──splice──▶ (B, L-1+M', d) ──LLM──▶ text

The vision tower is any :class:`~slicevlm.vision.tower.VisionTower` (the paper's `VisionPipeline`, or a
baseline's 3D tower); it also builds its projector (the paper's MLP, eq. 19–21, unless it has its own).
Training (the Lightning module) and inference (`slicevlm.inference`) both use this class.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from slicevlm.llm.generation_config import DEFAULT_GENERATION, GenerationConfig
from slicevlm.llm.language_model import LanguageModel
from slicevlm.llm.prompting import generation_batch, training_batch
from slicevlm.llm.splice import splice_visual_tokens
from slicevlm.vision.tower import VisionOutput, VisionTower


class SliceVLM(nn.Module):
    """The whole model.

    Args:
        vision: the vision tower (the paper's: encoder + selection + fusion + injection).
        language: the causal LM and its tokenizer.
    """

    def __init__(self, vision: VisionTower, language: LanguageModel) -> None:
        super().__init__()
        self.vision = vision
        self.language = language
        self.projector = vision.build_projector(language.hidden_size)

    @property
    def tokenizer(self):
        return self.language.tokenizer

    def trainable_vision_modules(self) -> dict[str, nn.Module]:
        """The tower's stored modules (the paper's: fusion, injection) and the projector: what a checkpoint stores."""
        return {**self.vision.trainable_modules(), "projector": self.projector}

    def visual_embeddings(self, volume: torch.Tensor, return_attention: bool = False) -> tuple[torch.Tensor, VisionOutput]:
        """(B, D, H, W) -> projected visual tokens (B, M', d) in the LLM's dtype, plus the vision output."""
        output = self.vision(volume, return_attention=return_attention)
        dtype = next(self.projector.parameters()).dtype
        streams = (stream.to(dtype) for stream in output.streams)
        projected = self.projector(output.tokens.to(dtype), *streams)  # (B, M', d)
        return projected.to(self.language.dtype), output

    def spliced_inputs(
        self, volume: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Embeddings with the visual tokens in place of `<image>`: (B, L', d), mask (B, L'), labels (B, L')."""
        visual, _ = self.visual_embeddings(volume)
        text = self.language.embed(input_ids)  # (B, L, d)
        return splice_visual_tokens(text, visual, input_ids, attention_mask, self.language.image_token_id, labels)

    def prompt_inputs(self, volume: torch.Tensor, instructions: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """What decoding starts from: each instruction in the chat prompt (left-padded), its `<image>` replaced
        by the volume's visual tokens. Returns embeddings (B, L', d) and their mask (B, L')."""
        tokens = generation_batch(self.tokenizer, instructions)
        input_ids = tokens["input_ids"].to(volume.device)
        attention_mask = tokens["attention_mask"].to(volume.device)
        embeds, mask, _ = self.spliced_inputs(volume, input_ids, attention_mask)
        return embeds, mask

    def forward(self, volume: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor | None = None):
        """Causal-LM forward over volume + tokens; the HF output carries `.loss` when labels are given."""
        embeds, mask, spliced_labels = self.spliced_inputs(volume, input_ids, attention_mask, labels)
        return self.language(embeds, mask, spliced_labels)

    def text_token_budget(self, depth: int) -> int:
        """Text tokens a training row may hold for volumes of `depth` slices.

        The language model's `context_length` minus the M' visual tokens (when they count, the
        default): 512 − 343 = 169 for the paper's settings.
        """
        language = self.language
        visual = self.vision.token_count(depth) if language.count_visual_tokens else 0
        budget = language.context_length - visual
        if budget <= 0:
            raise ValueError(
                f"model.language.context_length={language.context_length} leaves no room for text after the {visual} "
                "visual tokens; raise it, or set model.language.count_visual_tokens: false."
            )
        return budget

    def tokenize_for_training(self, instructions: Sequence[str], answers: Sequence[str], depth: int) -> dict[str, torch.Tensor]:
        """Prompt + answer ids, mask and labels for volumes of `depth` slices, dynamically padded
        (see `llm.prompting`); rows are cut to the context budget (`text_token_budget`)."""
        return training_batch(self.tokenizer, instructions, answers, self.text_token_budget(depth))

    @torch.no_grad()
    def generate(
        self, volume: torch.Tensor, instructions: Sequence[str], generation: GenerationConfig = DEFAULT_GENERATION
    ) -> list[str]:
        """Greedy answers, one string per row.

        Args:
            volume: (B, D, H, W) in [0, 1] on the model's device.
            instructions: one instruction per row (the image prefix is added here).
            generation: length cap and engine (:class:`~slicevlm.llm.generation_config.GenerationConfig`):
                "hf" (Hugging Face `generate`, dynamic cache) or "fast" (our decode loop over a static
                KV cache, CUDA-graph replayed on GPU; same tokens, see `llm/decoding.py`).
        """
        embeds, mask = self.prompt_inputs(volume, instructions)
        tokenizer = self.tokenizer
        if generation.engine == "fast":
            from slicevlm.llm.decoding import greedy_generate

            generated = greedy_generate(
                self.language.model, embeds, mask, generation.max_new_tokens, tokenizer.eos_token_id, tokenizer.pad_token_id
            )
        else:  # "hf"; GenerationConfig admits no other engine
            generated = self.language.model.generate(
                inputs_embeds=embeds,
                attention_mask=mask,
                max_new_tokens=generation.max_new_tokens,
                do_sample=False,  # greedy: GenerationConfig.GREEDY, the only decoding implemented
                num_beams=1,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
            )
        return [text.strip() for text in tokenizer.batch_decode(generated, skip_special_tokens=True)]
