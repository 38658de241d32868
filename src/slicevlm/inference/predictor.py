"""`VolumeQA`: a checkpoint folder that answers questions about volumes (the CLI and server core).

    qa = VolumeQA.from_checkpoint("runs/stage2/checkpoint")          # LoRA merged, eval mode
    qa.ask("ct.nii.gz", "Which organ is abnormal?", ["liver", "spleen", "kidney", "lung"]).choice  # B. spleen
    qa.ask("ct.nii.gz", "What phase?", preprocessing=qa.preprocessing.with_window("abdomen")).text
    qa.report("ct.nii.gz").text
    qa.answer_many(["a.npy", "b.npy"], ["What phase?", "What plane?"], batch_size=8)

Answers are greedy, as the paper's evaluation decodes. Each :class:`Answer` carries its timings
and the slices the selector kept, captured by hooks on the vision pipeline while
``SliceVLM.generate`` runs, so the volume goes through the vision side once, and the preprocessing
applied to its volume. Volumes are preprocessed with the checkpoint's training recipe unless a call
names another (:class:`~slicevlm.io.recipe.PreprocessingRecipe`).
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from slicevlm.io.limits import DEFAULT_LIMITS, ReadLimits
from slicevlm.io.recipe import PreprocessingRecipe
from slicevlm.inference.choices import ChoiceMatch, match_choice
from slicevlm.inference.errors import InputError
from slicevlm.inference.instructions import REPORT_INSTRUCTION, question_instruction
from slicevlm.inference.volumes import PreparedVolume, VolumeLike, prepare_volume
from slicevlm.llm.generation_config import DEFAULT_GENERATION, GenerationConfig
from slicevlm.model import SliceVLM
from slicevlm.vision.tower import VisionOutput

if TYPE_CHECKING:
    from slicevlm.inference.explain import Explanation

log = logging.getLogger(__name__)


@dataclass
class Answer:
    """One generated answer.

    Attributes:
        text: the model's answer.
        instruction: the instruction it answered (closed questions in M3D's choice format).
        kept_slices: indices (into the model-size volume) of the slices the selector kept.
        kept_slices_original: the same slices as indices of the volume as read.
        timings_ms: ``load`` (read + resample), ``vision`` (encoder → injection), ``generation``
            (projector, splice, decoding) and ``total``; vision and generation are per batch.
        source: the volume's path, or ``"<array>"``.
        batch_size: how many answers were generated together.
        preprocessing: what was applied to the volume (window, axis, reorientation, spacing, crop,
            depth, sizes).
        warnings: warnings about the input (e.g. raw HU without a window).
        choice: for a closed question, the choice the text names (see
            :mod:`slicevlm.inference.choices`); None for open questions and reports.
    """

    text: str
    instruction: str
    kept_slices: list[int]
    kept_slices_original: list[int]
    timings_ms: dict[str, float]
    source: str
    batch_size: int = 1
    preprocessing: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    choice: ChoiceMatch | None = None

    def with_choices(self, choices: Sequence[str] | None) -> Answer:
        """This answer with :attr:`choice` matched against ``choices`` (unchanged when there are none)."""
        if choices:
            self.choice = match_choice(self.text, choices)
        return self

    def fields(self) -> dict[str, Any]:
        """The answer's own fields, JSON-ready: the text as ``answer``, a closed question's ``choice``
        and ``choice_note``, kept slices, preprocessing, warnings, timings rounded to 0.1 ms, batch size
        (:mod:`slicevlm.inference.records` puts the question in front and each face's context behind)."""
        return {
            "instruction": self.instruction,
            "answer": self.text,
            **(self.choice.to_dict() if self.choice is not None else {}),
            "kept_slices": self.kept_slices,
            "kept_slices_original": self.kept_slices_original,
            "preprocessing": self.preprocessing,
            "warnings": list(self.warnings),
            "timings_ms": {key: round(value, 1) for key, value in self.timings_ms.items()},
            "batch_size": self.batch_size,
        }

    def to_dict(self) -> dict[str, Any]:
        """:meth:`fields` plus ``source``."""
        return {**self.fields(), "source": self.source}


@dataclass
class _VisionCapture:
    """What the hooks saw during one model call."""

    outputs: list[VisionOutput] = field(default_factory=list)
    vision_ms: float = 0.0
    _start: float = 0.0


def resolve_device(device: str) -> str:
    """``"auto"`` → ``"cuda"`` when a GPU is visible, else ``"cpu"``; others are checked (the syntax of
    :func:`~slicevlm.inference.devices.parse_device_name`, and that a GPU is there) and returned."""
    from slicevlm.inference.devices import DEVICE_HELP, parse_device_name

    try:
        device = parse_device_name(device)
    except argparse.ArgumentTypeError:
        raise InputError(f"device {device!r} is not supported; expected {DEVICE_HELP}.") from None
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device {device!r} requested but torch sees no CUDA GPU; use --device cpu (or auto).")
    return device


class VolumeQA:
    """A loaded model plus the input size it was trained on.

    Args:
        model: the model, in eval mode, on its device.
        input_size: ``(D, H, W)`` every volume is resampled to.
        generation: length cap and decoding engine (greedy; see :class:`GenerationConfig`).
        preprocessing: the default recipe for every volume (window, axis, crop, depth).
        metadata: the checkpoint's ``slicevlm.json``, kept for reporting.
        limits: caps and confinement for volumes read from files (see :class:`ReadLimits`).
    """

    def __init__(
        self,
        model: SliceVLM,
        input_size: tuple[int, int, int],
        generation: GenerationConfig = DEFAULT_GENERATION,
        preprocessing: PreprocessingRecipe | None = None,
        metadata: dict[str, Any] | None = None,
        limits: ReadLimits = DEFAULT_LIMITS,
    ) -> None:
        self.model = model.eval()
        self.input_size = tuple(int(s) for s in input_size)
        self.generation = generation
        self.preprocessing = preprocessing or PreprocessingRecipe()
        self.metadata = dict(metadata or {})
        self.limits = limits

    @classmethod
    def from_checkpoint(
        cls,
        folder: str | Path,
        device: str = "auto",
        merge_adapter: bool = True,
        dtype: str = "auto",
        generation: GenerationConfig = DEFAULT_GENERATION,
        preprocessing: PreprocessingRecipe | None = None,
        limits: ReadLimits = DEFAULT_LIMITS,
        trust_checkpoint: bool = False,
    ) -> VolumeQA:
        """Load a checkpoint folder (see :mod:`slicevlm.checkpoint`) for answering.

        Args:
            folder: the folder a training run wrote, or ``hf://org/name`` of the Hub repo it was uploaded to.
            device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
            merge_adapter: fold LoRA into the LLM weights (faster; no peft in the decode loop).
            dtype: ``"auto"`` keeps the checkpoint's dtypes on GPU and uses float32 on CPU; or
                ``"float32"`` / ``"bfloat16"`` / ``"float16"`` for encoder and LLM.
            generation: length cap and decoding engine.
            preprocessing: the default recipe; None: the one the checkpoint was trained with
                (``slicevlm.json``; the defaults for a folder that records none).
            limits: caps and confinement for volumes read from files.
            trust_checkpoint: let the folder's ``model.yaml`` name any class, not only SliceVLM's
                model classes (:mod:`slicevlm.trusted_classes`); only for folders you trust.
        """
        from slicevlm.checkpoint import load_checkpoint_folder, read_metadata, resolve_checkpoint, trained_weights_sha256
        from slicevlm.io.recipe import checkpoint_recipe

        folder = resolve_checkpoint(folder)  # a folder, or hf://org/name read from the Hugging Face cache
        device = resolve_device(device)
        recorded = read_metadata(folder)  # a clear error for a folder that is not a checkpoint, before anything loads
        preprocessing = preprocessing or checkpoint_recipe(recorded, f"{folder}/slicevlm.json")
        if dtype == "auto":
            dtype = "float32" if device == "cpu" else ""
        start = time.perf_counter()
        weights_sha256 = trained_weights_sha256(folder)  # the files about to be loaded (run records name them)
        model, metadata = load_checkpoint_folder(
            folder, device=device, merge_adapter=merge_adapter, dtype=dtype or None, trust_checkpoint=trust_checkpoint
        )
        metadata = {
            **metadata, "checkpoint": str(folder), "weights_sha256": weights_sha256, "load_ms": (time.perf_counter() - start) * 1000,
        }
        return cls(model, tuple(metadata["input_size"]), generation, preprocessing, metadata, limits)

    @property
    def toy(self) -> bool:
        """Whether the checkpoint is a toy: one of its models is a tiny stand-in (see :mod:`slicevlm.toy`)."""
        return bool(self.metadata.get("toy", False))

    @property
    def small(self) -> bool:
        """Whether the checkpoint's language model is far smaller than the paper's (see :mod:`slicevlm.toy`)."""
        return bool(self.metadata.get("small", False))

    def labels(self) -> dict[str, Any]:
        """``toy``, ``toy_notice``, ``small``, ``small_notice`` and ``notice``: the labels every answer's JSON carries."""
        from slicevlm.toy import labels

        return labels(self.toy, self.small)

    @property
    def device(self) -> torch.device:
        """Where the model's trainable vision modules live."""
        return next(self.model.projector.parameters()).device

    # -- inputs -----------------------------------------------------------------------------------
    def load(
        self, volume: VolumeLike, limits: ReadLimits | None = None, preprocessing: PreprocessingRecipe | None = None
    ) -> PreparedVolume:
        """Read and preprocess one volume to the checkpoint's input size (see :func:`prepare_volume`).

        Args:
            volume: A path or an array.
            limits: Caps and confinement for this read; default :attr:`limits`.
            preprocessing: The recipe for this volume; default :attr:`preprocessing`.
        """
        recipe = self.preprocessing if preprocessing is None else preprocessing
        return prepare_volume(volume, self.input_size, recipe, self.limits if limits is None else limits)

    # -- answering --------------------------------------------------------------------------------
    def ask(
        self,
        volume: VolumeLike | PreparedVolume,
        question: str,
        choices: Sequence[str] | None = None,
        preprocessing: PreprocessingRecipe | None = None,
    ) -> Answer:
        """Answer one question (open, or closed with 2–4 choices: the answer's ``choice`` names the one
        the text picked, or says it picked none) about one volume."""
        instruction = question_instruction(question, choices)
        prepared = volume if isinstance(volume, PreparedVolume) else self.load(volume, preprocessing=preprocessing)
        return self.answer_many([prepared], [instruction])[0].with_choices(choices)

    def report(self, volume: VolumeLike | PreparedVolume, preprocessing: PreprocessingRecipe | None = None) -> Answer:
        """Write the findings report for one volume."""
        prepared = volume if isinstance(volume, PreparedVolume) else self.load(volume, preprocessing=preprocessing)
        return self.answer_many([prepared], [REPORT_INSTRUCTION])[0]

    def answer_many(
        self,
        volumes: Sequence[VolumeLike | PreparedVolume],
        instructions: Sequence[str],
        batch_size: int = 8,
    ) -> list[Answer]:
        """Answer one instruction per volume, ``batch_size`` generations at a time, in order.

        Args:
            volumes: paths, arrays or already prepared volumes.
            instructions: the instruction per volume (see :mod:`slicevlm.inference.instructions`).
            batch_size: rows generated together.
        """
        if len(volumes) != len(instructions):
            raise InputError(f"{len(volumes)} volumes but {len(instructions)} instructions; expected one instruction per volume.")
        if batch_size < 1:
            raise InputError(f"batch_size={batch_size}; expected at least 1.")
        answers: list[Answer] = []
        for start in range(0, len(volumes), batch_size):
            chunk = [v if isinstance(v, PreparedVolume) else self.load(v) for v in volumes[start : start + batch_size]]
            answers += self.generate(chunk, instructions[start : start + batch_size])
        return answers

    def generate(self, volumes: Sequence[PreparedVolume], instructions: Sequence[str]) -> list[Answer]:
        """Generate answers for one batch of prepared volumes (no chunking)."""
        if not volumes:
            return []
        batch = torch.stack([v.tensor for v in volumes]).to(self.device)  # (B, D, H, W)
        synchronize = self.device.type == "cuda"
        with self._capture_vision(synchronize) as capture:
            start = time.perf_counter()
            texts = self.model.generate(batch, list(instructions), self.generation)
            if synchronize:
                torch.cuda.synchronize(self.device)
            model_ms = (time.perf_counter() - start) * 1000
        selected = capture.outputs[-1].kept_slices if capture.outputs else None  # None: the tower reads every slice
        kept = selected.tolist() if selected is not None else [[] for _ in volumes]
        answers = []
        for volume, instruction, text, slices in zip(volumes, instructions, texts, kept):
            timings = {
                "load": volume.load_ms,
                "vision": capture.vision_ms,
                "generation": model_ms - capture.vision_ms,
                "total": volume.load_ms + model_ms,
            }
            original = [volume.original_slice(i) for i in slices]
            answers.append(
                Answer(text, instruction, slices, original, timings, volume.source, len(volumes), volume.preprocessing, list(volume.warnings))
            )
        return answers

    def generate_isolated(self, volumes: Sequence[PreparedVolume], instructions: Sequence[str]) -> list[Answer | Exception]:
        """Like :meth:`generate`, but one item that breaks generation fails alone.

        The batch is generated together; if that raises, every item is generated on its own and
        the items that still fail get their exception in place of an answer (``ValueError`` for
        input the model refuses, ``RuntimeError`` for what torch refuses, e.g. memory).
        """
        try:
            return list(self.generate(volumes, instructions))
        except (ValueError, RuntimeError) as error:
            if len(volumes) == 1:
                return [error]
            log.warning("a batch of %d failed (%s); answering its items one by one", len(volumes), error)
        results: list[Answer | Exception] = []
        for volume, instruction in zip(volumes, instructions):
            try:
                results += self.generate([volume], [instruction])
            except (ValueError, RuntimeError) as error:
                results.append(error)
        return results

    def warmup(self, batch_sizes: Sequence[int] = (1,)) -> float:
        """Run throw-away generations (one new token) so the first real requests are not slow.

        The first calls at a new batch size pay for kernel selection and allocator growth; a server
        calls this once after loading. Returns the milliseconds spent.
        """
        start = time.perf_counter()
        volume = PreparedVolume(torch.rand(self.input_size), "<warmup>", self.input_size, 0.0)  # type: ignore[arg-type]
        saved, self.generation = self.generation, self.generation.with_max_new_tokens(1)
        try:
            for size in batch_sizes:
                self.generate([volume] * size, ["warm up"] * size)
        finally:
            self.generation = saved
        return (time.perf_counter() - start) * 1000

    def explain(self, volume: VolumeLike | PreparedVolume) -> Explanation:
        """Kept slices, neighbour similarity and injection attention for one volume (one vision pass)."""
        from slicevlm.inference.explain import explain_volume

        prepared = volume if isinstance(volume, PreparedVolume) else self.load(volume)
        return explain_volume(self.model, prepared)

    @contextmanager
    def _capture_vision(self, synchronize: bool) -> Iterator[_VisionCapture]:
        """Hooks on the vision pipeline: its outputs and its wall time during the `with` block."""
        capture = _VisionCapture()

        def before(module: torch.nn.Module, args: tuple) -> None:
            if synchronize:
                torch.cuda.synchronize(self.device)
            capture._start = time.perf_counter()

        def after(module: torch.nn.Module, args: tuple, output: VisionOutput) -> None:
            if synchronize:
                torch.cuda.synchronize(self.device)
            capture.vision_ms += (time.perf_counter() - capture._start) * 1000
            capture.outputs.append(output)

        handles = [self.model.vision.register_forward_pre_hook(before), self.model.vision.register_forward_hook(after)]
        try:
            yield capture
        finally:
            for handle in handles:
                handle.remove()
