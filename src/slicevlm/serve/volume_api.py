"""The LitServe API: requests the gate checked → batched answers from `slicevlm.inference.VolumeQA`.

Runs in LitServe's inference worker (one process per device; spawned, so this module is imported
there by name). A request is the JSON the gate wrote::

    {"task": "ask" | "report" | "preview", "question": str, "choices": [str],
     "volume": {"kind": "upload" | "path", "path": str, "filename": str, "token": str},
     "preprocessing": {"window": str, "reorient": str, "axis": str, "crop": str, "depth": str, "slice_spacing_mm": float}}

Every answer and preview carries the preprocessing applied (the checkpoint's recipe, the server's
options and the request's fields, in that order of precedence, lowest first), the input warnings,
the toy, small-model and research-use labels, and for a closed question the choice the answer names
(:mod:`slicevlm.inference.choices`).

``decode_request`` re-checks it (the worker trusts only uploads stamped with the gate's token and
inside the upload folder, and paths inside the data folder) and hands the volume to a reader
process (:mod:`slicevlm.serve.reader_pool`), which reads it under the server's caps, confined to
that folder (an upload may never name another file; a data-folder file may name a data file inside
the data folder only), within ``--decode-timeout`` seconds (504) and ``--decode-memory-mb`` (413);
``predict`` first collects the batch's reads, which run in parallel. A request that fails there is carried through
the batch as a :class:`Failure` and answered with its own status, so one unreadable upload never
fails its batch neighbours. ``predict`` answers all ask/report requests of a batch in one
``generate`` call; if that call fails, each request is answered on its own, so a request the model
cannot answer fails alone. A preview runs the vision side only and returns the slices as PNGs with
the kept slices and the injection attention. A failure caused by one request never escapes these
methods: LitServe would fail the whole batch with it.

No ``from __future__ import annotations`` here: LitServe reads the annotations of
``decode_request`` / ``encode_response`` at runtime to build the FastAPI route.
"""

import base64
import hmac
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import litserve as ls
from fastapi.responses import JSONResponse

from slicevlm.serve.server_limits import ServerLimits
from slicevlm.llm.generation_config import DEFAULT_GENERATION, GenerationConfig
from slicevlm.serve.uploads import public_message

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeSettings:
    """How the worker loads the model and what it may read.

    Attributes:
        checkpoint: the checkpoint folder.
        upload_dir: the gate's private upload folder.
        upload_token: the secret the gate stamps on uploads.
        data_dir: folder ``path`` requests may read from, or None.
        generation: answer length cap and decoding engine (``GenerationConfig``).
        dtype: ``auto`` / ``float32`` / ``bfloat16`` / ``float16`` (see ``VolumeQA.from_checkpoint``).
        preprocessing: server-wide changes to the checkpoint's recipe (``PreprocessingRecipe.override``).
        limits: the server's caps (voxels, files per volume folder).
    """

    checkpoint: str
    upload_dir: str
    upload_token: str
    data_dir: str | None = None
    generation: GenerationConfig = DEFAULT_GENERATION
    dtype: str = "auto"
    preprocessing: dict[str, Any] = field(default_factory=dict)
    limits: ServerLimits = field(default_factory=ServerLimits)


@dataclass
class Job:
    """A request whose volume is loaded."""

    task: str
    question: str
    choices: list[str]
    instruction: str
    volume: Any  # slicevlm.inference.volumes.PreparedVolume (None while a reader reads it)
    name: str
    recipe: Any = None  # slicevlm.io.recipe.PreprocessingRecipe
    reading: Any = None  # (reader_pool.Ticket, path, request) until ``predict`` collects the read


@dataclass
class Failure:
    """A request that cannot be answered; sent back with its own status."""

    status: int
    detail: str


@dataclass
class Result:
    """What ``encode_response`` turns into JSON."""

    content: dict[str, Any] = field(default_factory=dict)
    status: int = 200


class VolumeAPI(ls.LitAPI):
    """Answers questions about volumes with a checkpoint (see the module docstring).

    Args:
        settings: checkpoint, folders and generation settings.
        max_batch_size: requests answered together.
        batch_timeout: seconds to wait for a batch to fill.
    """

    def __init__(self, settings: ServeSettings, max_batch_size: int = 8, batch_timeout: float = 0.05) -> None:
        from slicevlm.serve.reader_pool import read_volume

        super().__init__(max_batch_size=max_batch_size, batch_timeout=batch_timeout, api_path="/predict")
        self.settings = settings
        #: What a reader runs for each volume (a module-level function: it is sent by name).
        self.read_function = read_volume

    def setup(self, device: str) -> None:
        """Load the checkpoint on LitServe's device (``cpu`` or ``cuda:N``)."""
        from slicevlm.inference.predictor import VolumeQA

        s = self.settings
        self.qa = VolumeQA.from_checkpoint(s.checkpoint, device=device, dtype=s.dtype, generation=s.generation)
        self.qa.preprocessing = self.qa.preprocessing.override(**s.preprocessing)
        self.readers.start(wait_ready=True)
        _stop_readers_on_sigterm(self.readers)
        warmup_ms = self.qa.warmup(sorted({1, self.max_batch_size}))
        log.info("loaded %s on %s in %.0f ms (warm-up %.0f ms)", s.checkpoint, device, self.qa.metadata.get("load_ms", 0.0), warmup_ms)

    # -- request → job -----------------------------------------------------------------------------
    @property
    def readers(self) -> Any:
        """The reader processes (:class:`ReaderPool`), started on first use."""
        pool = getattr(self, "_readers", None)
        if pool is None:
            from slicevlm.serve.reader_pool import VOLUME_PRELOAD, ReaderPool

            limits = self.settings.limits
            pool = self._readers = ReaderPool(limits.decode_workers, limits.decode_timeout_s, limits.decode_memory_mb, VOLUME_PRELOAD)
        return pool

    def decode_request(self, request: dict) -> Job | Failure:
        """Check a gate-written request and hand its volume to a reader process.

        The read itself runs in a reader (:mod:`slicevlm.serve.reader_pool`) under the deadline and
        memory budget; ``predict`` collects it. Failures become :class:`Failure`.
        """
        from slicevlm.errors import ConfigError
        from slicevlm.inference.errors import InputError
        from slicevlm.io.errors import DataError
        from slicevlm.inference.instructions import resolve_request

        path: Path | None = None
        try:
            task, volume = request["task"], request["volume"]
            path, limits = self._volume_path(volume)
            name = str(volume.get("filename") or path.name)
            asked = request["question"] if task == "ask" else ""
            instruction = resolve_request(asked, request.get("choices") or [], task).instruction
            recipe = self.qa.preprocessing.override(**(request.get("preprocessing") or {}))
        except (KeyError, TypeError) as error:
            return Failure(400, f"malformed request ({error!r}); send it through the server's /predict route.")
        except PermissionError as error:
            return Failure(403, str(error))
        except (DataError, InputError, ConfigError) as error:
            return Failure(400, self._public(str(error), path, request))
        ticket = self.readers.submit(self.read_function, str(path), tuple(self.qa.input_size), recipe, limits)
        job = Job(task, request.get("question", ""), list(request.get("choices") or []), instruction, None, name, recipe)
        job.reading = (ticket, path, request)
        return job

    def _collect(self, items: list) -> list:
        """Wait for the reads of a batch's jobs (each under its own deadline); failed reads become :class:`Failure`."""
        from slicevlm.serve.reader_pool import prepared_volume

        pending = [(i, item) for i, item in enumerate(items) if isinstance(item, Job) and item.reading is not None]
        if not pending:
            return items
        outcomes = self.readers.collect([job.reading[0] for _, job in pending])
        items = list(items)
        for (i, job), outcome in zip(pending, outcomes):
            _, path, request = job.reading
            job.reading = None
            if outcome.status == 200:
                job.volume = prepared_volume(outcome.value)
            else:
                detail = self._public(outcome.detail, path, request)
                items[i] = Failure(outcome.status, detail if job.name in detail else f"{job.name}: {detail}")
        return items

    def _volume_path(self, volume: dict) -> tuple[Path, Any]:
        """The volume's path and how it may be read (``ReadLimits`` confined to its folder)."""
        from slicevlm.inference.paths import is_inside, resolve_under

        s = self.settings
        if volume["kind"] == "upload":
            token_ok = hmac.compare_digest(str(volume.get("token", "")), s.upload_token)
            path = Path(volume["path"])
            if not token_ok or not is_inside(s.upload_dir, path):
                raise PermissionError("upload reference not issued by this server; upload the file through /predict.")
            return path, s.limits.read_limits(Path(s.upload_dir), detached=False)
        if volume["kind"] == "path":
            if s.data_dir is None:
                raise PermissionError("this server reads no paths (started without --data-dir); upload the volume instead.")
            return resolve_under(s.data_dir, volume["path"]), s.limits.read_limits(Path(s.data_dir), detached=True)
        raise KeyError(f"volume kind {volume['kind']!r}")

    def _public(self, message: str, path: Path | None, request: dict) -> str:
        """``message`` with server-side paths replaced by the names the client used."""
        volume = request.get("volume") or {}
        shown = str(volume.get("filename") or "volume")
        s = self.settings
        hidden = {str(path) if path else "": shown, str(volume.get("path", "")): shown, s.upload_dir: "upload folder"}
        if s.data_dir:
            hidden[s.data_dir] = "data folder"
        return public_message(message, hidden)

    # -- batch → results ---------------------------------------------------------------------------
    def predict(self, x: Any) -> Any:
        """Answer a batch (a list when ``max_batch_size > 1``, else one item); one result per item."""
        if isinstance(x, list):
            return self._predict_batch(x)
        return self._predict_batch([x])[0]

    def _predict_batch(self, items: list) -> list[Result]:
        items = self._collect(items)
        results: list[Result | None] = [None] * len(items)
        questions = [(i, item) for i, item in enumerate(items) if isinstance(item, Job) and item.task != "preview"]
        if questions:
            answers = self.qa.generate_isolated([job.volume for _, job in questions], [job.instruction for _, job in questions])
            for (i, job), answer in zip(questions, answers):
                results[i] = Result(self._answer_content(job, answer)) if not isinstance(answer, Exception) else _failed(answer)
        for i, item in enumerate(items):
            if isinstance(item, Failure):
                results[i] = Result({"detail": item.detail}, item.status)
            elif isinstance(item, Job) and item.task == "preview":
                try:
                    results[i] = Result(self._preview_content(item))
                except (ValueError, RuntimeError) as error:
                    results[i] = _failed(error)
        return [r if r is not None else Result({"detail": "internal error: request not answered"}, 500) for r in results]

    def _answer_content(self, job: Job, answer: Any) -> dict[str, Any]:
        from slicevlm.inference.records import answer_record

        asked = job.task == "ask"
        return answer_record(
            answer, job.name, job.question if asked else "", job.choices if asked else [],
            task=job.task, **self._labels(job),
            input_size=list(self.qa.input_size), original_shape=list(job.volume.original_shape),
        )

    def _labels(self, job: Job) -> dict[str, Any]:
        """Preprocessing applied, its warnings, and the toy / small / research-use labels."""
        return {
            "preprocessing": job.volume.preprocessing,
            "recipe": job.recipe.describe() if job.recipe is not None else "",
            "warnings": list(job.volume.warnings),
            **self.qa.labels(),
        }

    def _preview_content(self, job: Job) -> dict[str, Any]:
        from slicevlm.inference.rendering import slice_png

        explanation = self.qa.explain(job.volume)
        start = time.perf_counter()
        slices = [base64.b64encode(slice_png(image)).decode("ascii") for image in explanation.volume]
        render_ms = (time.perf_counter() - start) * 1000
        attention = None
        if explanation.attention is not None:
            attention = {"shape": list(explanation.attention.shape), "values": [round(float(v), 3) for v in explanation.attention.ravel()]}
        load_ms = job.volume.load_ms
        return {
            "task": "preview",
            "volume": job.name,
            "shape": list(explanation.volume.shape),
            "original_shape": list(job.volume.original_shape),
            "slices": slices,
            "kept_slices": explanation.kept_slices,
            "kept_slices_original": explanation.kept_slices_original,
            "similarity": [round(float(v), 4) for v in explanation.similarity],
            "attention": attention,
            **self._labels(job),
            "timings_ms": {
                "load": round(load_ms, 1),
                "vision": round(explanation.vision_ms, 1),
                "render": round(render_ms, 1),
                "total": round(load_ms + explanation.vision_ms + render_ms, 1),
            },
        }

    def encode_response(self, output: Result) -> JSONResponse:
        """A JSON response with the result's own status."""
        return JSONResponse(output.content, status_code=output.status)


def _stop_readers_on_sigterm(pool: Any) -> None:
    """In the worker process: on SIGTERM (the server stopping it), kill the readers and exit cleanly
    (SystemExit runs the process's exit handlers, so no semaphore is left to the resource tracker)."""
    import signal

    def stop(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        pool.close()
        raise SystemExit(0)

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the main process's to handle
    signal.signal(signal.SIGTERM, stop)


def _failed(error: Exception) -> Result:
    """The result of a request the model could not answer on its own (it fails alone)."""
    if isinstance(error, ValueError):
        return Result({"detail": f"the model cannot answer this request ({error})."}, 400)
    log.error("answering one request failed: %s", error)
    return Result({"detail": "internal error while answering this request; the server log has the details."}, 500)
