"""Ground truth of a synthetic case, and the report and VQA rows generated from it.

A case has one contrast phase, one or two lesions of one type in one organ at one location
(left/right/upper/lower; for kidneys and lungs left/right names the side), and one or two series
(presentation planes). Questions of all five M3D types are asked about each series, with
shuffled choices (chance 25%; the Plane question has three planes and ``NA`` as choice D, as in
M3D, so its chance is 33%).

``choice_order="fixed"`` lists the same choices in one canonical order per question type instead
(the order of the option tuples below), so that the letter of an answer is a function of the
answer (except Organ: four of five organs are listed). Reading a shuffled choice list back to a
letter is an in-context lookup that a small language model learns only slowly; the fixed order
takes that skill out of the question, so a tiny model's closed answers measure what it reads from
the volume. The random draws are the same in both orders: a fixed-order dataset has the same
volumes, reports, questions and choice sets as the shuffled one of the same seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from slicevlm.testbed.phantom import ORGAN_BLOBS, PHASES, PLANES, Lesion

ORGANS: tuple[str, ...] = ("liver", "spleen", "kidney", "lung", "bladder")
LESION_TYPES: tuple[str, ...] = ("cyst", "calcification", "mass")
LOCATIONS: tuple[str, ...] = ("left", "right", "upper", "lower")
DIAMETERS: dict[str, tuple[int, int]] = {"calcification": (2, 3), "cyst": (3, 6), "mass": (5, 8)}
MM_PER_VOXEL = 6  # on the 64-voxel reference grid

PHASE_TEXT = {
    "non-contrast": "Non-contrast CT",
    "arterial": "Arterial phase contrast-enhanced CT",
    "portal venous": "Portal venous phase CT",
    "delayed": "Delayed phase CT",
}
PHASE_ANSWER = {
    "non-contrast": "Non-contrast",
    "arterial": "Arterial phase",
    "portal venous": "Portal venous phase",
    "delayed": "Delayed phase",
}
LESION_TEXT = {
    "cyst": ("well-defined hypodense cyst", "well-defined hypodense cysts"),
    "calcification": ("punctate calcification", "punctate calcifications"),
    "mass": ("heterogeneous soft-tissue mass", "heterogeneous soft-tissue masses"),
}
CLOSING = (
    "The remaining solid organs are unremarkable, with no free fluid and no lymphadenopathy.",
    "No other focal abnormality. No free fluid, no enlarged lymph nodes.",
    "Otherwise, the visualised organs appear normal.",
)
QUESTIONS: dict[int, tuple[str, ...]] = {
    1: (
        "Which plane is this CT image shown in?",
        "In which plane is the image displayed?",
        "What is the imaging plane of this scan?",
    ),
    2: (
        "Which phase of contrast enhancement does this CT scan show?",
        "In which phase was this CT image acquired?",
        "What is the contrast phase, if any, of this scan?",
    ),
    3: (
        "Which organ shows an abnormality in this image?",
        "In this scan, which organ contains the lesion?",
        "Where, by organ, is the abnormal finding?",
    ),
    4: (
        "What type of abnormality is seen in the {organ}?",
        "What is the abnormal finding in this image?",
        "Which lesion, if any, is present in the {organ}?",
    ),
    5: (
        "Where is the {lesion} located within the {organ}?",
        "In which part of the {organ}, left, right, upper or lower, is the {lesion}?",
    ),
}
ABNORMALITY_CHOICES = ("Cyst", "Calcification", "Mass", "Hematoma, acute")


@dataclass(frozen=True)
class CaseTruth:
    """What a synthetic case contains.

    Attributes:
        phase: Contrast phase.
        organ: Organ holding the lesions.
        side: ``"left"``/``"right"`` for kidneys and lungs, ``""`` otherwise.
        lesion_type: cyst, calcification or mass.
        location: left, right, upper or lower.
        lesions: The lesions (one or two).
        planes: Presentation plane of each series.
    """

    phase: str
    organ: str
    side: str
    lesion_type: str
    location: str
    lesions: tuple[Lesion, ...]
    planes: tuple[str, ...]


def sample_case(rng: np.random.Generator) -> CaseTruth:
    """Draw a case: phase, organ, lesion type, location, one or two lesions, one or two planes."""
    phase = PHASES[rng.integers(len(PHASES))]
    organ = ORGANS[rng.integers(len(ORGANS))]
    kind = LESION_TYPES[rng.integers(len(LESION_TYPES))]
    location = LOCATIONS[rng.integers(len(LOCATIONS))]
    blobs = ORGAN_BLOBS[organ]
    side = ""
    if len(blobs) == 2:  # (right, left)
        side = location if location in ("left", "right") else ("left", "right")[rng.integers(2)]
        blob = blobs[1] if side == "left" else blobs[0]
        offset = {"left": (0, 0, 0), "right": (0, 0, 0), "upper": (0.45, 0, 0), "lower": (-0.45, 0, 0)}[location]
    else:
        blob = blobs[0]
        offset = {"left": (0, 0, 0.45), "right": (0, 0, -0.45), "upper": (0.45, 0, 0), "lower": (-0.45, 0, 0)}[location]
    low, high = DIAMETERS[kind]
    lesions = []
    for k in range(1 + int(rng.random() < 0.35)):
        jitter = rng.uniform(-0.15, 0.15, size=3) if k else np.zeros(3)
        center = tuple(float(c + (o + j) * r) for c, o, j, r in zip(blob.center, offset, jitter, blob.radii))
        lesions.append(Lesion(kind, center, int(rng.integers(low, high + 1))))  # type: ignore[arg-type]
    first = PLANES[rng.integers(len(PLANES))]
    planes = (first,)
    if rng.random() < 0.2:
        planes += (PLANES[(PLANES.index(first) + 1 + rng.integers(2)) % 3],)
    return CaseTruth(phase, organ, side, kind, location, tuple(lesions), planes)


def location_phrase(truth: CaseTruth) -> str:
    """Where the lesions are, in words (``"the upper pole of the right kidney"``)."""
    organ, location, side = truth.organ, truth.location, truth.side
    if organ in ("kidney", "lung"):
        if location in ("left", "right"):
            return f"the {location} {organ}"
        part = "pole" if organ == "kidney" else "lobe"
        return f"the {location} {part} of the {side} {organ}"
    return {
        "liver": {
            "left": "the left lobe",
            "right": "the right lobe",
            "upper": "the upper segments",
            "lower": "the lower segments",
        },
        "spleen": {
            "left": "the lateral (left) aspect",
            "right": "the medial (right) aspect",
            "upper": "the upper pole",
            "lower": "the lower pole",
        },
        "bladder": {"left": "the left wall", "right": "the right wall", "upper": "the dome", "lower": "the base"},
    }[organ][location] + f" of the {organ}"


def report_text(truth: CaseTruth, rng: np.random.Generator) -> str:
    """The findings report written from the ground truth (no plane: all series share it)."""
    single, plural = LESION_TEXT[truth.lesion_type]
    largest = max(lesion.diameter for lesion in truth.lesions) * MM_PER_VOXEL
    if len(truth.lesions) == 1:
        finding = f"There is a {largest} mm {single} in {location_phrase(truth)}."
    else:
        finding = f"There are two {plural} in {location_phrase(truth)}, the largest measuring {largest} mm."
    closing = CLOSING[rng.integers(len(CLOSING))]
    return f"{PHASE_TEXT[truth.phase]} of the chest, abdomen and pelvis. {finding} {closing}"


#: How closed-question choices are ordered: shuffled (as M3D) or one fixed order per question type.
ChoiceOrder = Literal["shuffled", "fixed"]
CHOICE_ORDERS: tuple[str, ...] = get_args(ChoiceOrder)


def _choices(
    answer: str, options: tuple[str, ...], rng: np.random.Generator, order: str = "shuffled"
) -> tuple[list[str], str]:
    """Four choices holding ``answer`` (distractors drawn from ``options``) and its letter.

    ``order="shuffled"`` shuffles them; ``"fixed"`` lists them in the order of ``options``
    (after the same random draws, so the rest of the dataset does not change).
    """
    distractors = [option for option in options if option != answer]
    picked = [distractors[i] for i in rng.permutation(len(distractors))[:3]]
    choices = [answer, *picked]
    choices = [choices[i] for i in rng.permutation(len(choices))]
    if order == "fixed":
        choices.sort(key=options.index)
    return choices, "ABCD"[choices.index(answer)]


def vqa_rows(
    truth: CaseTruth,
    plane: str,
    image_path: str,
    report: str,
    rng: np.random.Generator,
    choice_order: str = "shuffled",
) -> list[dict[str, str]]:
    """Five M3D-VQA rows (question types 1..5) about one series; ``choice_order`` is
    ``"shuffled"`` (as M3D) or ``"fixed"`` (one canonical order per type, see the module doc)."""
    if choice_order not in CHOICE_ORDERS:
        raise ValueError(f"choice_order must be one of {CHOICE_ORDERS}, got {choice_order!r}.")
    lesion = truth.lesion_type
    rows = []
    for qtype in range(1, 6):
        template = QUESTIONS[qtype][rng.integers(len(QUESTIONS[qtype]))]
        question = template.format(organ=truth.organ, lesion=lesion)
        if qtype == 1:
            answer = plane.capitalize()
            planes = [PLANES[i].capitalize() for i in rng.permutation(3)]  # drawn in both orders: same stream
            if choice_order == "fixed":
                planes = [p.capitalize() for p in PLANES]
            choices, letter = [*planes, "NA"], "ABC"[planes.index(answer)]
        elif qtype == 2:
            answer = PHASE_ANSWER[truth.phase]
            choices, letter = _choices(answer, tuple(PHASE_ANSWER.values()), rng, choice_order)
        elif qtype == 3:
            answer = truth.organ.capitalize()
            choices, letter = _choices(answer, tuple(o.capitalize() for o in ORGANS), rng, choice_order)
        elif qtype == 4:
            answer = lesion.capitalize()
            choices, letter = _choices(answer, ABNORMALITY_CHOICES, rng, choice_order)
        else:
            answer = truth.location.capitalize()
            choices, letter = _choices(answer, tuple(x.capitalize() for x in LOCATIONS), rng, choice_order)
        rows.append(
            {
                "Image Path": image_path,
                "Text": report,
                "Question Type": str(qtype),
                "Question": question,
                **{f"Choice {x}": c for x, c in zip("ABCD", choices)},
                "Answer": answer,
                "Answer Choice": letter,
            }
        )
    return rows
