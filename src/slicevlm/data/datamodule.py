"""``M3DDataModule``: M3D-Cap and M3D-VQA from one data root to batches.

Training draws from a mixture of tasks (stage 1: captions only; stage 2: captions + closed +
open VQA) with :class:`~slicevlm.data.samplers.MixtureSampler`, optionally length-bucketed, each
rank reading its own shard of the epoch. By default the tasks are concatenated at their natural
sizes (every training sample once per epoch, as M3D trains its stage 2); explicit ratios (e.g.
equal shares) are an option. The training loader's position is part of every checkpoint, so a
resumed run continues the epoch in the same order (``data/resumable.py``).
Validation, test and predict iterate their tasks one after the other in file order, in one
DataLoader; each item says its ``task``. Batches are ``{"volume": (B, D, H, W), <key>: list[str]}``.
With ``image_controls`` the test/predict set also asks every question of another case's volume
and/or a blank one (:mod:`slicevlm.data.controls`).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from lightning import LightningDataModule
from torch.utils.data import ConcatDataset, DataLoader, Dataset, Subset

from slicevlm.data.augment import M3DAugmentation
from slicevlm.data.controls import CONTROL_CONDITIONS, ImageControlDataset
from slicevlm.data.datasets import TASKS, VQA_TASKS, CaptionDataset, VolumeLoader, VQADataset, collate_batch, resolve
from slicevlm.io.errors import DataError, check_choice
from slicevlm.io.recipe import PreprocessingRecipe
from slicevlm.data.records import QUESTION_TYPES, VQARecord, caption_records, vqa_records
from slicevlm.data.resumable import RankShardSampler, ResumableDataLoader
from slicevlm.data.samplers import BucketBatchSampler, MixtureSampler
from slicevlm.io.shards import ShardVolumeSource
from slicevlm.errors import ConfigError

CAPTION_TEST_SPLITS: tuple[str, ...] = ("test", "test100", "test500", "test1k")


class M3DDataModule(LightningDataModule):
    """M3D-Cap + M3D-VQA under one data root (layout in data/README.md).

    Args:
        data_root: Folder holding the json, the CSVs and ``M3D_Cap_npy/``; all paths inside them are
            relative to it.
        cap_json: Caption index, relative to data_root or absolute.
        vqa_train_csv: VQA training CSV, relative to data_root or absolute.
        vqa_val_csv: VQA validation CSV.
        vqa_test_csv: VQA test CSV (``M3D_VQA_test5k.csv`` for the smaller test set).
        train_tasks: Training tasks (caption, vqa_closed, vqa_open). A list concatenates them at their
            natural sizes (stage 1: ``[caption]``; stage 2: ``[caption, vqa_closed, vqa_open]``, the
            paper's and M3D's mixture). A mapping task -> ratio draws each task in proportion instead
            (``{caption: 1, vqa_closed: 1, vqa_open: 1}``: equal shares of every epoch).
        train_question_types: The VQA question types the training rows are drawn from (``Plane``,
            ``Phase``, ``Organ``, ``Abnormality``, ``Location``); None (the default) keeps every row.
            Validation and test always keep every type. A short run can spend its few steps on the
            types it can learn in them (the small model's recipe: docs/small-model.md).
        val_tasks: Tasks evaluated during validation (one after the other in one DataLoader).
        test_tasks: Tasks of the test and predict sets.
        cap_test_split: Caption test list: test, test100, test500 or test1k.
        volume_size: Model input (D, H, W): depth resampled linearly, in-plane resized and centre
            cropped (docs/method.md#input-and-preprocessing).
        preprocessing: the preprocessing recipe volumes are read with: ``window`` (a CT window
            ``[center, width]`` in HU before min-max, HU data only; or ``window_preset``, e.g.
            ``abdomen``), ``reorient`` (LPS or none) and ``axis`` (axial, coronal or sagittal). The
            exported checkpoint records it, and `ask` and `serve` apply it by default. Training
            resizes to ``volume_size`` with a centre crop, so ``crop`` and ``depth`` keep their defaults
            (center, fixed); the other values are choices made when asking.
        volume_shards: LitData shards (a folder or an s3:// URL) written by `slicevlm shard` or
            `prepare-m3d --litdata`: volumes are streamed from them by path; the json and CSVs still
            come from data_root. None reads the volume files under data_root.
        batch_size: Training batch size per device.
        eval_batch_size: Validation/test/predict batch size per device.
        num_workers: DataLoader worker processes (persistent when > 0).
        pin_memory: Pin batches in page-locked memory (faster host-to-GPU copies).
        length_bucketing: Group training samples of similar instruction+answer length per batch.
        bucket_batches: Batches per length-sorted chunk when length_bucketing is on.
        train_samples_per_epoch: Samples drawn per training epoch; None: the sum of the task
            dataset sizes.
        max_val_samples: Keep at most this many samples per validation task (a seeded subset,
            in file order); None keeps all.
        max_test_samples: Same for the test/predict tasks.
        seed: Seed for the mixture, the bucket order, the subsets and the caption phrasings.
        image_controls: Image-reliance controls of the test/predict set: ``swapped`` also asks every
            question of a volume of another case (a fixed-seed derangement of the split's cases),
            ``blank`` of an all-zero volume. Control rows get ids ``<id>|swapped`` / ``<id>|blank``
            and the summary reports them beside the normal scores. Empty: no controls.
        control_seed: Seed of the case derangement of ``image_controls: [swapped]``.
        augment: M3D-LaMed's random training transforms (90° turns, flips, intensity scale and
            shift; ``data/augment.py``) on training volumes. Off by default: the SliceVLM paper
            names no augmentation; the M3D-LaMed configs turn it on.
    """

    def __init__(
        self,
        data_root: str,
        cap_json: str = "M3D_Cap.json",
        vqa_train_csv: str = "M3D_VQA_train.csv",
        vqa_val_csv: str = "M3D_VQA_val.csv",
        vqa_test_csv: str = "M3D_VQA_test.csv",
        train_tasks: list[str] | dict[str, float] = ["caption"],  # noqa: B006 (copied, never mutated)
        train_question_types: list[str] | None = None,
        val_tasks: list[str] = ["caption"],  # noqa: B006
        test_tasks: list[str] = ["caption", "vqa_closed", "vqa_open"],  # noqa: B006
        cap_test_split: str = "test",
        volume_size: tuple[int, int, int] = (50, 224, 224),
        preprocessing: PreprocessingRecipe = PreprocessingRecipe(),
        volume_shards: str | None = None,
        batch_size: int = 12,
        eval_batch_size: int = 12,
        num_workers: int = 4,
        pin_memory: bool = True,
        length_bucketing: bool = False,
        bucket_batches: int = 50,
        train_samples_per_epoch: int | None = None,
        max_val_samples: int | None = None,
        max_test_samples: int | None = None,
        seed: int = 0,
        image_controls: list[str] = [],  # noqa: B006
        control_seed: int = 0,
        augment: bool = False,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.data_root = data_root
        #: task -> ratio, or None for natural sizes (a list was given).
        self.train_ratios: dict[str, float] | None = None
        if isinstance(train_tasks, dict):
            self.train_ratios = {task: float(ratio) for task, ratio in train_tasks.items()}
            self.train_tasks = [task for task, ratio in self.train_ratios.items() if ratio > 0]
        else:
            self.train_tasks = list(dict.fromkeys(train_tasks))
        self.val_tasks = list(val_tasks)
        self.test_tasks = list(test_tasks)
        for task in [*self.train_tasks, *self.val_tasks, *self.test_tasks]:
            check_choice("task", task, TASKS)
        ratios = list((self.train_ratios or {}).values())
        if not self.train_tasks or any(ratio < 0 for ratio in ratios):
            raise ConfigError(
                f"train_tasks needs at least one task (a list), or ratios >= 0 with at least one > 0 (a mapping), got {train_tasks}."
            )
        self.train_question_types = None if train_question_types is None else list(dict.fromkeys(train_question_types))
        for name in self.train_question_types or []:
            check_choice("train_question_types", name, QUESTION_TYPES.values())
        if self.train_question_types == []:
            raise ConfigError("train_question_types is empty; name at least one question type, or leave it out (null) to keep every row.")
        if self.train_question_types is not None and not set(VQA_TASKS) & set(self.train_tasks):
            raise ConfigError(
                f"train_question_types={self.train_question_types} picks VQA rows, but train_tasks {self.train_tasks} has no VQA "
                f"task {list(VQA_TASKS)}; add one, or leave train_question_types out."
            )
        check_choice("cap_test_split", cap_test_split, CAPTION_TEST_SPLITS)
        if (preprocessing.crop, preprocessing.depth) != ("center", "fixed"):
            raise ConfigError(
                f"data.preprocessing: crop {preprocessing.crop!r}, depth {preprocessing.depth!r}; training resizes every "
                "volume to volume_size with a centre crop (crop: center, depth: fixed). The other crop and depth "
                "choices are made when asking (`slicevlm ask --crop/--depth`, or the server's)."
            )
        for condition in image_controls:
            check_choice("image_controls", condition, CONTROL_CONDITIONS)
        self.image_controls, self.control_seed = list(dict.fromkeys(image_controls)), control_seed
        if len(volume_size) != 3 or min(volume_size) < 1:
            raise ConfigError(f"volume_size must be (D, H, W) of positive ints, got {volume_size}.")
        self.loader = VolumeLoader(
            resolve(data_root, ""),
            tuple(int(s) for s in volume_size),  # type: ignore[arg-type]
            preprocessing,
            None if volume_shards is None else ShardVolumeSource(volume_shards),
        )
        #: Reads training volumes: `loader`, with the augmentation when `augment` is on.
        self.train_volume_loader = dataclasses.replace(self.loader, augment=M3DAugmentation()) if augment else self.loader
        self.cap_json, self.cap_test_split = cap_json, cap_test_split
        self.vqa_csv = {"train": vqa_train_csv, "val": vqa_val_csv, "test": vqa_test_csv}
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.num_workers, self.pin_memory = num_workers, pin_memory
        self.length_bucketing, self.bucket_batches = length_bucketing, bucket_batches
        self.train_samples_per_epoch = train_samples_per_epoch
        self.max_val_samples, self.max_test_samples = max_val_samples, max_test_samples
        self.seed = seed
        self.train_dataset: ConcatDataset | None = None
        self.val_dataset: ConcatDataset | None = None
        self.test_dataset: ConcatDataset | None = None
        self._vqa_cache: dict[str, list[VQARecord]] = {}

    # ---------------------------------------------------------------- building datasets
    def task_dataset(self, task: str, stage: str) -> Dataset:
        """The dataset of one task for ``stage`` (``"train"``, ``"val"`` or ``"test"``).

        Raises:
            DataError: Missing file, bad entry/row, or an empty split.
        """
        if task == "caption":
            split = {"train": "train", "val": "validation", "test": self.cap_test_split}[stage]
            path = resolve(self.data_root, self.cap_json)
            dataset: Dataset = CaptionDataset(caption_records(path, split), self._volume_loader(stage), str(path), self.seed)
            source = f"{path} split {split!r}"
        else:
            path = resolve(self.data_root, self.vqa_csv[stage])
            if str(path) not in self._vqa_cache:
                self._vqa_cache[str(path)] = vqa_records(path)
            records = self._vqa_cache[str(path)]
            source = str(path)
            if stage == "train" and self.train_question_types is not None:
                records = [record for record in records if record.type_name in self.train_question_types]
                source = f"{path} (train_question_types {self.train_question_types})"
            dataset = VQADataset(records, self._volume_loader(stage), task, stage, str(path))
        if len(dataset) == 0:  # type: ignore[arg-type]
            raise DataError(f"{source}: no samples for task {task!r} ({stage}); expected at least one.")
        return dataset

    def _volume_loader(self, stage: str) -> VolumeLoader:
        """The training loader (augmented when `augment` is on) for ``"train"``, the plain one otherwise."""
        return self.train_volume_loader if stage == "train" else self.loader

    def _eval_dataset(self, tasks: list[str], stage: str, limit: int | None, controls: list[str] | None = None) -> ConcatDataset:
        parts = []
        for task in tasks:
            dataset = self.task_dataset(task, stage)
            keep = None
            if limit is not None and limit < len(dataset):  # type: ignore[arg-type]
                rng = np.random.default_rng([self.seed, TASKS.index(task)])
                keep = np.sort(rng.choice(len(dataset), size=limit, replace=False)).tolist()  # type: ignore[arg-type]
            if controls:
                dataset = ImageControlDataset(dataset, controls, keep, self.control_seed)  # type: ignore[arg-type]
            elif keep is not None:
                dataset = Subset(dataset, keep)
            parts.append(dataset)
        return ConcatDataset(parts)

    def setup(self, stage: str | None = None) -> None:
        """Read the index files the stage needs (``fit``, ``validate``, ``test``, ``predict``)."""
        if stage in (None, "fit") and self.train_dataset is None:
            self.train_dataset = ConcatDataset([self.task_dataset(task, "train") for task in self.train_tasks])
        if stage in (None, "fit", "validate") and self.val_dataset is None and self.val_tasks:
            self.val_dataset = self._eval_dataset(self.val_tasks, "val", self.max_val_samples)
        if stage in (None, "test", "predict") and self.test_dataset is None:
            self.test_dataset = self._eval_dataset(self.test_tasks, "test", self.max_test_samples, self.image_controls)

    # ---------------------------------------------------------------- loaders
    def train_sampler(self) -> MixtureSampler:
        """The mixture sampler over the training tasks (needs ``setup("fit")``): natural sizes, or
        the given ratios."""
        assert self.train_dataset is not None, "call setup('fit') first"
        sizes = [len(d) for d in self.train_dataset.datasets]  # type: ignore[arg-type]
        ratios = sizes if self.train_ratios is None else [self.train_ratios[task] for task in self.train_tasks]
        return MixtureSampler(sizes, ratios, self.train_samples_per_epoch, self.seed)

    def train_lengths(self) -> list[int]:
        """Instruction+answer length of every training index (reads every report once)."""
        assert self.train_dataset is not None, "call setup('fit') first"
        return [n for dataset in self.train_dataset.datasets for n in dataset.text_lengths()]  # type: ignore[attr-defined]

    def _loader_kwargs(self) -> dict:
        return {
            "num_workers": self.num_workers,
            "pin_memory": self.pin_memory,
            "persistent_workers": self.num_workers > 0,
            "collate_fn": collate_batch,
            # Worker seeds come from this generator, not from the global RNG (which a resumed run restores).
            "generator": torch.Generator().manual_seed(self.seed),
        }

    def _replicas(self) -> tuple[int, int]:
        """(world size, this rank) of the attached trainer; (1, 0) without one."""
        trainer = self.trainer
        return (1, 0) if trainer is None else (int(trainer.world_size), int(trainer.global_rank))

    def train_dataloader(self) -> DataLoader:
        """Mixture of the training tasks, optionally length-bucketed; this rank's shard; resumable mid-epoch."""
        if self.train_dataset is None:
            self.setup("fit")
        mixture = self.train_sampler()
        if self.length_bucketing:
            batch_sampler = BucketBatchSampler(
                mixture,  # Lightning swaps in a DistributedSampler under DDP (rank and epoch only)
                self.batch_size,
                False,
                lengths=self.train_lengths(),
                bucket_batches=self.bucket_batches,
                seed=self.seed,
                mixture=mixture,
            )
            return ResumableDataLoader(self.train_dataset, batch_sampler=batch_sampler, **self._loader_kwargs())
        shard = RankShardSampler(mixture, *self._replicas())
        return ResumableDataLoader(self.train_dataset, batch_size=self.batch_size, sampler=shard, **self._loader_kwargs())

    def eval_loader(self, dataset: Dataset | None) -> DataLoader:
        """An in-order loader over ``dataset`` with the evaluation batch size."""
        return DataLoader(dataset, batch_size=self.eval_batch_size, shuffle=False, **self._loader_kwargs())

    def val_dataloader(self) -> DataLoader | list:
        """The validation tasks in one loader (an empty list when ``val_tasks`` is empty)."""
        if not self.val_tasks:
            return []
        if self.val_dataset is None:
            self.setup("validate")
        return self.eval_loader(self.val_dataset)

    def test_dataloader(self) -> DataLoader:
        """The test tasks in one loader, in file order."""
        if self.test_dataset is None:
            self.setup("test")
        return self.eval_loader(self.test_dataset)

    def predict_dataloader(self) -> DataLoader:
        """Same samples as :meth:`test_dataloader`."""
        return self.test_dataloader()
