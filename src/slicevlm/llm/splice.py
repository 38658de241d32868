"""Splice visual embeddings into a token sequence at the `<image>` token (docs/method.md#language-model-and-prompt).

Each row holds exactly one `<image>` token. It is found by id, not by position, so tokenizers with
or without BOS and left- or right-padded batches all work. The token's single embedding is
replaced by the M' visual embeddings; attention is on for them and labels are −100.
"""

from __future__ import annotations

import torch

from slicevlm.llm.prompting import IGNORE_INDEX


def image_positions(input_ids: torch.Tensor, image_token_id: int) -> torch.Tensor:
    """The column of the `<image>` token in each row, (B,); errors unless exactly one per row."""
    is_image = input_ids == image_token_id  # (B, L)
    counts = is_image.sum(dim=1)
    if not torch.all(counts == 1):
        bad = [(row, int(count)) for row, count in enumerate(counts.tolist()) if count != 1]
        raise ValueError(
            f"Every row must hold exactly one <image> token (id {image_token_id}); rows with another count "
            f"(row, count): {bad}. Build prompts with slicevlm.llm.prompting.build_prompt."
        )
    return is_image.float().argmax(dim=1)


def splice_visual_tokens(
    text_embeds: torch.Tensor,
    visual_embeds: torch.Tensor,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    image_token_id: int,
    labels: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Replace each row's `<image>` embedding with its visual embeddings.

    Args:
        text_embeds: token embeddings, (B, L, d).
        visual_embeds: projected visual tokens, (B, M, d).
        input_ids: (B, L), one `<image>` per row.
        attention_mask: (B, L).
        image_token_id: id of `<image>`.
        labels: optional (B, L).

    Returns:
        embeds (B, L-1+M, d), attention_mask (B, L-1+M), labels (B, L-1+M) or None.
    """
    batch, length = input_ids.shape
    visual_count = visual_embeds.shape[1]
    position = image_positions(input_ids, image_token_id)  # (B,)
    # Column j of the output reads text column j (before <image>), the visual row j-p (inside), or
    # text column j-M+1 (after). Built as one gather so the splice stays a single kernel per tensor.
    columns = torch.arange(length - 1 + visual_count, device=input_ids.device).unsqueeze(0)  # (1, L')
    start = position.unsqueeze(1)  # (B, 1)
    inside = (columns >= start) & (columns < start + visual_count)  # (B, L')
    text_index = torch.where(columns < start, columns, columns - visual_count + 1).clamp(0, length - 1)
    visual_index = (columns - start).clamp(0, visual_count - 1)
    gathered_text = torch.gather(text_embeds, 1, text_index.unsqueeze(-1).expand(-1, -1, text_embeds.shape[-1]))
    gathered_visual = torch.gather(visual_embeds, 1, visual_index.unsqueeze(-1).expand(-1, -1, visual_embeds.shape[-1]))
    embeds = torch.where(inside.unsqueeze(-1), gathered_visual.to(text_embeds.dtype), gathered_text)
    mask = torch.where(inside, torch.ones_like(text_index), torch.gather(attention_mask, 1, text_index))
    spliced_labels = None
    if labels is not None:
        spliced_labels = torch.where(inside, torch.full_like(text_index, IGNORE_INDEX), torch.gather(labels, 1, text_index))
    return embeds, mask, spliced_labels
