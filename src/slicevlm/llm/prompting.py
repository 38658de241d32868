"""Prompts and token batches (docs/method.md#language-model-and-prompt).

A prompt is the paper's prefix — `"<image>\\nThis provides an overview of the picture.\\n"` — followed
by the instruction. Prompt and answer are tokenised separately and concatenated, so training sees
exactly the token sequence generation will continue from. The answer ends with EOS. Labels are
−100 on the prompt and on padding, so the loss covers answer tokens only (visual positions are
masked when the `<image>` token is spliced, see `splice.py`).

Training batches are right-padded to the longest row in the batch (dynamic padding, never to a
fixed length); generation batches are left-padded so every row continues from its last column.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

IGNORE_INDEX = -100
PROMPT_PREFIX = "<image>\nThis provides an overview of the picture.\n"


def build_prompt(instruction: str) -> str:
    """The full prompt text for one instruction."""
    return PROMPT_PREFIX + instruction.strip()


def pad_rows(rows: Sequence[list[int]], value: int, left: bool) -> torch.Tensor:
    """Token rows padded with ``value`` to the longest row, on the left or the right: (B, L)."""
    width = max(len(row) for row in rows)
    padded = [([value] * (width - len(row)) + row) if left else (row + [value] * (width - len(row))) for row in rows]
    return torch.tensor(padded, dtype=torch.long)


def tokenize_prompts(tokenizer, instructions: Sequence[str]) -> list[list[int]]:
    """Token ids of each full prompt (with the tokenizer's own BOS, if it adds one)."""
    return [tokenizer(build_prompt(text), add_special_tokens=True)["input_ids"] for text in instructions]


def training_batch(
    tokenizer, instructions: Sequence[str], answers: Sequence[str], max_text_tokens: int
) -> dict[str, torch.Tensor]:
    """Tokenise prompt + answer + EOS, right-pad to the longest row, mask prompt and padding in labels.

    Args:
        tokenizer: a Hugging Face tokenizer that knows the `<image>` token and has a pad token.
        instructions: one instruction per row (without the image prefix).
        answers: the target text per row.
        max_text_tokens: cap on text tokens per row (the context length minus the visual tokens, see
            `SliceVLM.text_token_budget`); the answer is truncated, never the prompt.

    Returns:
        input_ids, attention_mask, labels: (B, L) with L the longest row.
    """
    if len(instructions) != len(answers):
        raise ValueError(f"{len(instructions)} instructions but {len(answers)} answers")
    prompts = tokenize_prompts(tokenizer, instructions)
    ids, labels = [], []
    for prompt, answer in zip(prompts, answers):
        if len(prompt) >= max_text_tokens:
            raise ValueError(
                f"A prompt is {len(prompt)} tokens, more than the {max_text_tokens} text tokens "
                "(max_text_tokens) the context leaves; raise model.language.context_length or shorten the instruction."
            )
        target = tokenizer(answer.strip(), add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        target = target[: max_text_tokens - len(prompt)]
        ids.append(prompt + target)
        labels.append([IGNORE_INDEX] * len(prompt) + target)
    input_ids = pad_rows(ids, tokenizer.pad_token_id, left=False)
    attention_mask = pad_rows([[1] * len(row) for row in ids], 0, left=False)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": pad_rows(labels, IGNORE_INDEX, left=False)}


def generation_batch(tokenizer, instructions: Sequence[str]) -> dict[str, torch.Tensor]:
    """Tokenise prompts for generation, left-padded: input_ids and attention_mask, (B, L)."""
    prompts = tokenize_prompts(tokenizer, instructions)
    return {
        "input_ids": pad_rows(prompts, tokenizer.pad_token_id, left=True),
        "attention_mask": pad_rows([[1] * len(row) for row in prompts], 0, left=True),
    }
