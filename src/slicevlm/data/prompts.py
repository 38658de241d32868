"""Instruction and target text for each task (SPEC §3).

The model adds the image prefix (``"<image>\\nThis provides an overview of the picture.\\n"``)
itself; everything here is the user text after it and the answer the loss is computed on.
"""

from __future__ import annotations

import random

#: Report-request phrasings in the spirit of M3D's caption prompts; one is picked per sample.
CAPTION_INSTRUCTIONS: tuple[str, ...] = (
    "Can you provide a caption consists of findings for this medical image?",
    "Describe the findings of the medical image you see.",
    "Please caption this medical scan with findings.",
    "What are the findings of this image?",
    "Describe this medical scan with findings.",
    "Please write a caption consists of findings for this image.",
    "Can you summarize with findings the images presented?",
    "Please provide a caption consists of findings for this medical image.",
    "Can you provide a summary consists of findings of this CT scan?",
    "What are the findings presented in this medical scan?",
    "Please write a report of the findings in this scan.",
    "Can you provide a description consists of findings of this medical scan?",
)


def caption_instruction(seed: int, index: int) -> str:
    """The report request for sample ``index``: the same for the same ``(seed, index)`` in every run.

    Args:
        seed: The data seed.
        index: The sample's position in its split.
    """
    return CAPTION_INSTRUCTIONS[random.Random(seed * 1_000_003 + index).randrange(len(CAPTION_INSTRUCTIONS))]


def closed_instruction(question: str, choices: tuple[str, str, str, str]) -> str:
    """``question + " Choices: A. {A} B. {B} C. {C} D. {D}"`` (M3D's closed-ended prompt)."""
    a, b, c, d = choices
    return f"{question} Choices: A. {a} B. {b} C. {c} D. {d}"


def closed_answer(letter: str, answer: str) -> str:
    """``"{letter}. {answer}"`` (M3D's closed-ended target)."""
    return f"{letter}. {answer}"
