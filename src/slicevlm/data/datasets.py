"""Map-style datasets for M3D-Cap (captions) and M3D-VQA (closed and open), and the collate function.

Every item is a dict with the keys the model side relies on:

- ``id``: unique, stable string (``"cap:test:<image path>"``, ``"vqa_closed:test:<row>"``)
- ``volume``: float32 tensor ``(D, H, W)`` in [0, 1] at the model input size
- ``task``: ``"caption"``, ``"vqa_closed"`` or ``"vqa_open"``
- ``question_type``: ``"Report"`` for captions, else Plane/Phase/Organ/Abnormality/Location
- ``instruction``: user text without any image token; ``answer``: the target text
- ``answer_choice``: ``"A"``..``"D"`` for closed VQA, ``""`` otherwise
- ``image_path``: as written in the json/CSV, relative to the data root
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset

from slicevlm.data.augment import M3DAugmentation
from slicevlm.io.errors import DataError, check_choice
from slicevlm.io.limits import entry_path_problem
from slicevlm.data.prompts import caption_instruction, closed_answer, closed_instruction
from slicevlm.io.readers import load_volume, volume_from_array
from slicevlm.io.recipe import PreprocessingRecipe
from slicevlm.data.records import CaptionRecord, VQARecord, read_report
from slicevlm.io.shards import ShardVolumeSource
from slicevlm.io.transforms import resize_to_model

#: The two tasks a VQA CSV row serves.
VQA_TASKS: tuple[str, ...] = ("vqa_closed", "vqa_open")
TASKS: tuple[str, ...] = ("caption", *VQA_TASKS)
Item = dict[str, "torch.Tensor | str"]


@dataclass(frozen=True)
class VolumeLoader:
    """Reads a volume referenced by the json/CSV and brings it to the model input size.

    Attributes:
        data_root: Folder the json/CSV paths are relative to.
        size: Model input ``(D, H, W)``.
        recipe: the preprocessing choices it applies: ``window``, ``reorient`` and ``axis`` (volumes
            are then resized to ``size`` with a centre crop, i.e. ``crop: center``, ``depth: fixed``).
        shards: LitData shards to fetch volumes from by their path (see ``io/shards.py``); None
            reads the files under ``data_root``.
        augment: random transforms applied after resizing (training volumes; ``data/augment.py``);
            None: the volume as read.
    """

    data_root: Path
    size: tuple[int, int, int] = (50, 224, 224)
    recipe: PreprocessingRecipe = PreprocessingRecipe()
    shards: ShardVolumeSource | None = None
    augment: M3DAugmentation | None = None

    def __call__(self, image_path: str, referenced_by: str) -> torch.Tensor:
        """Volume ``(D, H, W)`` float32 in [0, 1]; a DataError names the file and who referenced it."""
        problem = entry_path_problem(image_path)
        if problem is not None:  # records are checked when parsed; this guards every other caller
            raise DataError(f"{image_path!r} {problem}; expected a path inside the data root (referenced by {referenced_by}).")
        try:
            if self.shards is None:
                recipe = self.recipe
                volume = load_volume(self.data_root / image_path, axis=recipe.axis, window=recipe.window, reorient=recipe.reorient)
            else:
                array = self.shards.read(image_path, referenced_by)  # (z, y, x) as stored
                source = f"{self.shards.location}::{image_path}"
                volume = volume_from_array(array, source, axis=self.recipe.axis, window=self.recipe.window)  # arrays have no orientation
        except DataError as e:
            raise DataError(f"{e} (referenced by {referenced_by})") from e
        volume = resize_to_model(volume, self.size)  # (D, H, W)
        return volume if self.augment is None else self.augment(volume)


class CaptionDataset(Dataset):
    """M3D-Cap image–report pairs; the report request is picked by ``(seed, position)``.

    Args:
        records: Entries of one split of ``M3D_Cap.json``.
        loader: Reads and resizes the volumes.
        index_file: The json file, for error messages.
        seed: Seed for picking the report-request phrasing.
    """

    def __init__(self, records: Sequence[CaptionRecord], loader: VolumeLoader, index_file: str, seed: int = 0) -> None:
        self.records = list(records)
        self.loader = loader
        self.index_file = index_file
        self.seed = seed
        self.ids = _unique_ids([f"cap:{r.split}:{r.image}" for r in self.records])
        self._lengths: list[int] | None = None

    def __len__(self) -> int:
        return len(self.records)

    def _where(self, record: CaptionRecord) -> str:
        return f"{self.index_file} split {record.split!r} entry {record.position}"

    def _text(self, i: int) -> tuple[str, str]:
        record = self.records[i]
        report = read_report(self.loader.data_root / record.text, self._where(record))
        return caption_instruction(self.seed, record.position), report

    def referenced_by(self, i: int) -> str:
        """Where item ``i`` comes from (json file, split, entry), for error messages."""
        return self._where(self.records[i])

    def report(self, i: int) -> str:
        """The reference report of item ``i``."""
        return self._text(i)[1]

    def __getitem__(self, i: int) -> Item:
        return {**self.fields(i), "volume": self.loader(self.records[i].image, self.referenced_by(i))}

    def fields(self, i: int) -> Item:
        """Item ``i`` without its volume (nothing is read but the report)."""
        record = self.records[i]
        instruction, report = self._text(i)
        return {
            "id": self.ids[i],
            "task": "caption",
            "question_type": "Report",
            "instruction": instruction,
            "answer": report,
            "answer_choice": "",
            "image_path": record.image,
        }

    def text_lengths(self) -> list[int]:
        """``len(instruction) + len(answer)`` per item (reads every report once, then cached)."""
        if self._lengths is None:
            cache: dict[str, int] = {}
            lengths = []
            for i, record in enumerate(self.records):
                if record.text not in cache:
                    cache[record.text] = len(self._text(i)[1])
                lengths.append(len(caption_instruction(self.seed, record.position)) + cache[record.text])
            self._lengths = lengths
        return self._lengths


class VQADataset(Dataset):
    """M3D-VQA rows as closed-ended (``"vqa_closed"``) or open-ended (``"vqa_open"``) items.

    Args:
        records: Rows of one VQA CSV.
        loader: Reads and resizes the volumes.
        task: ``"vqa_closed"`` or ``"vqa_open"``.
        split: Split name used in the ids (``"train"``, ``"val"``, ``"test"``).
        csv_file: The CSV, for error messages.
    """

    def __init__(
        self, records: Sequence[VQARecord], loader: VolumeLoader, task: str, split: str, csv_file: str
    ) -> None:
        check_choice("task", task, VQA_TASKS)
        self.records = list(records)
        self.loader = loader
        self.task = task
        self.split = split
        self.csv_file = csv_file
        self.ids = [f"{task}:{split}:{r.row}" for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    def _text(self, record: VQARecord) -> tuple[str, str, str]:
        if self.task == "vqa_closed":
            return (
                closed_instruction(record.question, record.choices),
                closed_answer(record.answer_choice, record.answer),
                record.answer_choice,
            )
        return record.question, record.answer, ""

    def referenced_by(self, i: int) -> str:
        """Where item ``i`` comes from (CSV file and row), for error messages."""
        return f"{self.csv_file} row {self.records[i].row + 1}"

    def __getitem__(self, i: int) -> Item:
        return {**self.fields(i), "volume": self.loader(self.records[i].image_path, self.referenced_by(i))}

    def fields(self, i: int) -> Item:
        """Item ``i`` without its volume."""
        record = self.records[i]
        instruction, answer, choice = self._text(record)
        return {
            "id": self.ids[i],
            "task": self.task,
            "question_type": record.type_name,
            "instruction": instruction,
            "answer": answer,
            "answer_choice": choice,
            "image_path": record.image_path,
        }

    def text_lengths(self) -> list[int]:
        """``len(instruction) + len(answer)`` per item."""
        return [len(a) + len(b) for a, b, _ in map(self._text, self.records)]


def collate_batch(items: Sequence[Item]) -> dict[str, torch.Tensor | list[str]]:
    """Stack volumes to ``(B, D, H, W)``; every other key becomes a list of str.

    Module-level so that DataLoader workers can pickle it.
    """
    if not items:
        raise ValueError("collate_batch got an empty list of items.")
    batch: dict[str, torch.Tensor | list[str]] = {"volume": torch.stack([item["volume"] for item in items])}
    for key in items[0]:
        if key != "volume":
            batch[key] = [str(item[key]) for item in items]
    return batch


def _unique_ids(ids: list[str]) -> list[str]:
    """Append ``#2``, ``#3`` ... to repeats so that ids stay unique and stable."""
    seen: dict[str, int] = {}
    out = []
    for value in ids:
        seen[value] = seen.get(value, 0) + 1
        out.append(value if seen[value] == 1 else f"{value}#{seen[value]}")
    return out


def resolve(data_root: str | os.PathLike, name: str) -> Path:
    """``name`` relative to ``data_root`` unless it is absolute."""
    return Path(data_root) / name
