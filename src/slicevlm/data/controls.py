"""Image-reliance controls: the same questions asked of another case's volume, or of a blank one.

A model that reads the image must change its answers when the volume changes. For every test
question (own condition) the controls add:

- ``swapped``: the same instruction with a volume of **another case**. Cases (the folder holding a
  volume; several series of one case share it) are mapped by a fixed-seed derangement, so no
  question is ever asked of its own case. The volume taken from the mapped case is its series at
  the same position (modulo its series count) among those with a question of the same type, so a
  Plane question meets a volume that has a Plane truth whenever one exists.
- ``blank``: the same instruction with an all-zero volume of the model's input size.

Control items carry the truth of the swapped-in volume for the same question: for VQA, the answer
of the first row (in file order) of the same question type about that volume, and the letter of
the *asked* question's choice with that text (the swapped-in row's own choices differ); for
captions, the swapped-in volume's report. Ids are ``<own id>|swapped`` and ``<own id>|blank``.
Own and control items of one question follow each other, so an interrupted run leaves whole pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from slicevlm.data.datasets import CaptionDataset, Item, VQADataset
from slicevlm.io.errors import DataError, check_choice
from slicevlm.data.records import case_of

CONTROL_CONDITIONS: tuple[str, ...] = ("swapped", "blank")
#: Keys every item of a controlled dataset has besides the usual ones.
CONTROL_KEYS: tuple[str, ...] = (
    "condition", "case", "control_of", "control_image_path", "control_case", "control_answer",
    "control_answer_choice",
)


def derangement(keys: Sequence[str], seed: int = 0) -> dict[str, str]:
    """A permutation of the distinct ``keys`` that moves every key, fixed by ``seed``.

    Uniform over all derangements: permutations are drawn with ``numpy.random.default_rng(seed)``
    over the sorted distinct keys until one has no fixed point (a random permutation of n >= 2
    keys is a derangement with probability about 1/e, at least 1/3). The result depends only on
    the set of keys and the seed, not on their order or repeats.

    Args:
        keys: The keys (e.g. case folders); repeats count once.
        seed: Seed of the draw.

    Returns:
        ``key -> another key``, every key appearing once as a value.

    Raises:
        ValueError: Fewer than two distinct keys (nothing to swap with).
    """
    unique = sorted(set(keys))
    if len(unique) < 2:
        raise ValueError(
            f"a derangement needs at least 2 distinct cases, got {len(unique)}"
            f"{f' ({unique[0]!r})' if unique else ''}: there is no other case to swap a volume with."
        )
    rng = np.random.default_rng(seed)
    identity = np.arange(len(unique))
    while True:
        permutation = rng.permutation(len(unique))
        if not np.any(permutation == identity):
            return {key: unique[int(j)] for key, j in zip(unique, permutation, strict=True)}


@dataclass(frozen=True)
class SwapTarget:
    """What one question is asked of under the ``swapped`` condition.

    Attributes:
        image_path: The swapped-in volume, relative to the data root.
        case: Its case.
        truth_index: Index (in the same dataset) of the swapped-in volume's item that holds its
            truth for this question; None when that volume has no question of this type.
    """

    image_path: str
    case: str
    truth_index: int | None


def plan_swaps(images: Sequence[str], kinds: Sequence[str], seed: int = 0) -> list[SwapTarget]:
    """The swapped-in volume and its truth item for every item of a dataset.

    Args:
        images: Image path of every item (several items may share a volume).
        kinds: Question kind of every item (the question type for VQA; one value for captions):
            the truth item of a swapped-in volume is its first item of the same kind.
        seed: Seed of the case derangement.

    Returns:
        One :class:`SwapTarget` per item.

    Raises:
        ValueError: Fewer than two cases, or lengths that differ.
    """
    if len(images) != len(kinds):
        raise ValueError(f"plan_swaps: {len(images)} images but {len(kinds)} kinds.")
    cases = [case_of(image) for image in images]
    mapping = derangement(cases, seed)
    volumes: dict[str, list[str]] = {}  # case -> its distinct volumes, sorted
    first_item: dict[tuple[str, str], int] = {}  # (volume, kind) -> first item index
    for index, (image, case, kind) in enumerate(zip(images, cases, kinds, strict=True)):
        volumes.setdefault(case, [])
        if image not in volumes[case]:
            volumes[case].append(image)
        first_item.setdefault((image, kind), index)
    for series in volumes.values():
        series.sort()
    targets = []
    for image, case, kind in zip(images, cases, kinds, strict=True):
        other = mapping[case]
        candidates = [v for v in volumes[other] if (v, kind) in first_item] or volumes[other]
        chosen = candidates[volumes[case].index(image) % len(candidates)]
        targets.append(SwapTarget(chosen, other, first_item.get((chosen, kind))))
    return targets


def choice_letter(choices: Sequence[str], text: str) -> str:
    """The letter (A-D) of the choice whose text equals ``text`` (case and spaces ignored), or ``""``."""
    wanted = " ".join(text.split()).casefold()
    for letter, choice in zip("ABCD", choices, strict=False):
        if wanted and " ".join(choice.split()).casefold() == wanted:
            return letter
    return ""


class ImageControlDataset(Dataset):
    """A test dataset with each question also asked of a swapped-in and/or a blank volume.

    Item ``k`` is question ``indices[k // m]`` under condition ``k % m`` of ``("own", *conditions)``
    (``m`` conditions in all). Every item has the :data:`CONTROL_KEYS` besides the usual ones.

    Args:
        base: The task dataset (all rows of its split: the derangement covers all its cases).
        conditions: ``"swapped"`` and/or ``"blank"``.
        indices: The questions of ``base`` to ask (None: all).
        seed: Seed of the case derangement.

    Raises:
        DataError: An unknown condition, or a split with fewer than two cases for ``swapped``.
    """

    def __init__(
        self,
        base: CaptionDataset | VQADataset,
        conditions: Sequence[str],
        indices: Sequence[int] | None = None,
        seed: int = 0,
    ) -> None:
        for condition in conditions:
            check_choice("image_controls", condition, CONTROL_CONDITIONS)
        self.base = base
        self.conditions = ("own", *dict.fromkeys(conditions))
        self.indices = list(range(len(base))) if indices is None else [int(i) for i in indices]
        self.vqa = isinstance(base, VQADataset)
        images = [r.image_path for r in base.records] if self.vqa else [r.image for r in base.records]  # type: ignore[union-attr]
        self.images = images
        self.swaps: list[SwapTarget] = []
        if "swapped" in self.conditions:
            kinds = [r.type_name for r in base.records] if self.vqa else ["report"] * len(images)  # type: ignore[union-attr]
            try:
                self.swaps = plan_swaps(images, kinds, seed)
            except ValueError as e:
                source = base.csv_file if self.vqa else f"{base.index_file} split {base.records[0].split!r}"  # type: ignore[union-attr]
                raise DataError(
                    f"{source}: image_controls 'swapped' cannot run: {e} Use a split with "
                    "more cases, or drop 'swapped' from image_controls."
                ) from e

    def __len__(self) -> int:
        return len(self.indices) * len(self.conditions)

    def _truth(self, i: int, target: SwapTarget) -> tuple[str, str]:
        """The swapped-in volume's answer text (or report) and its letter among item i's choices."""
        if target.truth_index is None:
            return "", ""
        if not self.vqa:
            return self.base.report(target.truth_index), ""  # type: ignore[union-attr]
        answer = self.base.records[target.truth_index].answer  # type: ignore[union-attr]
        letter = choice_letter(self.base.records[i].choices, answer) if self.base.task == "vqa_closed" else ""  # type: ignore[union-attr]
        return answer, letter

    def __getitem__(self, k: int) -> Item:
        question, position = divmod(k, len(self.conditions))
        i, condition = self.indices[question], self.conditions[position]
        item = self.base.fields(i)
        own_id, where = str(item["id"]), self.base.referenced_by(i)
        control = dict.fromkeys(CONTROL_KEYS[2:], "")
        if condition == "own":
            volume = self.base.loader(self.images[i], where)
        elif condition == "blank":
            volume = torch.zeros(self.base.loader.size, dtype=torch.float32)  # (D, H, W)
            control["control_of"] = own_id
        else:
            target = self.swaps[i]
            volume = self.base.loader(target.image_path, f"{where}, swapped-in volume")
            answer, letter = self._truth(i, target)
            control.update(control_of=own_id, control_image_path=target.image_path, control_case=target.case,
                           control_answer=answer, control_answer_choice=letter)
        return {
            **item,
            "id": own_id if condition == "own" else f"{own_id}|{condition}",
            "volume": volume,
            "condition": condition,
            "case": case_of(self.images[i]),
            **control,
        }
