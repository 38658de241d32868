"""The texts of the tiny LLM's warm-up: the stand-in for what a pretrained LLM already knows.

LLaMA-2 arrives able to read: given facts earlier in its context, it answers a question about them,
and it picks the letter of the choice that names an answer. The paper's model relies on both (the
visual tokens take the place of the facts). A randomly initialised LM has neither skill, and a tiny
one does not pick them up from stage 1 or 2 of a short CPU run, so the warm-up teaches on text:

* **reading a case card** (the default warm-up): the training formats (a report request, the five
  question types closed and open) with a card of the case's facts written *where the image goes*,
  so the LLM learns to answer from what precedes the prompt, which is where stage 1 and 2 put the
  visual tokens;
* **choice lookup** (optional, ``lookup_share``): ``" {fact}. Choices: A. … B. {fact} …"`` →
  ``"B. {fact}"`` over the answer vocabularies of the five question types. Reading a *shuffled*
  choice list back to a letter is a skill the 2-layer tiny LLM learns only after ~1000 such steps,
  and even then it matches the choice words against card words and does not transfer to visual
  tokens. So the CPU demo writes its synthetic data with ``--choice-order fixed`` (the letter is a
  function of the answer) and the default warm-up has no lookup rows.

Cases come from the synthetic generator with a seed no data set uses (`WARMUP_SEED`): the LLM learns
how to read and answer, never the images or the cases it will be tested on.
"""

from __future__ import annotations

import numpy as np

from slicevlm.testbed.findings import (
    ABNORMALITY_CHOICES,
    LOCATIONS,
    MM_PER_VOXEL,
    ORGANS,
    PHASE_ANSWER,
    CaseTruth,
    report_text,
    sample_case,
    vqa_rows,
)
from slicevlm.testbed.phantom import PLANES
from slicevlm.data.prompts import caption_instruction, closed_answer, closed_instruction
from slicevlm.llm.language_model import IMAGE_TOKEN
from slicevlm.llm.prompting import PROMPT_PREFIX

#: Where a closed prompt's choice list begins.
CHOICES_MARK = " Choices:"

#: Seed of the warm-up cases: far from any seed `slicevlm synth` is run with.
WARMUP_SEED = 1_000_003

#: The answers each question type chooses among (Plane has three and "NA", as in M3D).
ANSWER_VOCABULARIES: tuple[tuple[str, ...], ...] = (
    tuple(plane.capitalize() for plane in PLANES) + ("NA",),
    tuple(PHASE_ANSWER.values()),
    tuple(organ.capitalize() for organ in ORGANS),
    ABNORMALITY_CHOICES,
    tuple(location.capitalize() for location in LOCATIONS),
)


def case_card(truth: CaseTruth, plane: str) -> str:
    """Every fact of one series, each written as the choice that names it, in a fixed order:
    ``" Coronal. Arterial phase. Kidney. Cyst. Upper. Two lesions, largest 24 mm, right side."``."""
    count = "One lesion" if len(truth.lesions) == 1 else "Two lesions"
    largest = max(lesion.diameter for lesion in truth.lesions) * MM_PER_VOXEL
    facts = (plane.capitalize(), PHASE_ANSWER[truth.phase], truth.organ.capitalize(), truth.lesion_type.capitalize(), truth.location.capitalize())
    side = f", {truth.side} side" if truth.side and truth.side != truth.location else ""
    return " " + " ".join(f"{fact}." for fact in facts) + f" {count}, largest {largest} mm{side}."


def lookup_pairs(count: int, seed: int = WARMUP_SEED) -> list[tuple[str, str]]:
    """`count` choice-lookup rows: ``(" {fact}. Choices: A. …", "{letter}. {fact}")``."""
    rng = np.random.default_rng([seed, 1])
    pairs = []
    for _ in range(count):
        vocabulary = ANSWER_VOCABULARIES[rng.integers(len(ANSWER_VOCABULARIES))]
        choices = tuple(vocabulary[i] for i in rng.permutation(len(vocabulary))[:4])
        key = int(rng.integers(4))
        pairs.append((f" {choices[key]}. {closed_instruction('', choices).strip()}", closed_answer("ABCD"[key], choices[key])))
    return pairs


def card_pairs(n_cases: int, seed: int = WARMUP_SEED, choice_order: str = "fixed") -> list[tuple[str, str]]:
    """(prompt, answer) rows in the training formats for `n_cases` cases, each prompt opened by the
    case card in place of the image: a report request and the five question types, closed and open
    (closed choices in `choice_order`, as `slicevlm synth --choice-order` writes them)."""
    pairs = []
    for index in range(n_cases):
        rng = np.random.default_rng([seed, index])
        truth = sample_case(rng)
        report = report_text(truth, rng)
        plane = truth.planes[0]
        prefix = PROMPT_PREFIX.replace(IMAGE_TOKEN, case_card(truth, plane))
        pairs.append((prefix + caption_instruction(seed, index), report))
        for row in vqa_rows(truth, plane, "", report, rng, choice_order):
            choices = tuple(row[f"Choice {x}"] for x in "ABCD")
            pairs.append((prefix + closed_instruction(row["Question"], choices), closed_answer(row["Answer Choice"], row["Answer"])))
            pairs.append((prefix + row["Question"], row["Answer"]))
    return pairs
