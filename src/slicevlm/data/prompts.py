"""Instruction and target text for each task (M3D's prompts; docs/method.md#data).

The model adds the image prefix (``"<image>\\nThis provides an overview of the picture.\\n"``)
itself; everything here is the user text after it and the answer the loss is computed on.
"""

from __future__ import annotations

import random

#: The token the model replaces with the visual tokens. The model writes it once in front of every
#: prompt; user text (questions, choices, answers, reports) must never contain it.
IMAGE_TOKEN: str = "<image>"

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


def prompt_text_problem(text: str) -> str | None:
    """Why ``text`` may not go into a prompt or a target, or None when it may.

    The image token marks where the visual tokens go: a second one in a prompt breaks the splice.
    A lone surrogate (bytes that were not UTF-8, smuggled through the command line or JSON escapes)
    cannot be tokenised. Control characters other than tab and newline are never text.
    """
    if IMAGE_TOKEN in text:
        return f"contains the reserved marker {IMAGE_TOKEN!r}, which only the model may place; remove it"
    if any("\ud800" <= char <= "\udfff" for char in text):
        return "contains bytes that are not valid UTF-8; send UTF-8 text"
    if any((ord(char) < 32 and char not in "\t\n\r") or char == "\x7f" for char in text):
        return "contains control characters (such as NUL); send plain text"
    return None
