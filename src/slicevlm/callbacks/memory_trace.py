"""`MemoryTrace`: the process's memory through every part of a training step, one JSON line per step.

A thread samples the process's resident memory from ``/proc/self/status`` every few milliseconds and
keeps the largest value seen since the last mark; the Lightning hooks set the marks, so every
optimiser step gets the peak of each of its parts:

* ``forward``: batch start → ``on_before_backward`` (vision tower, LLM forward, loss);
* ``backward``: → ``on_after_backward`` (gradient-checkpoint recomputation and the gradients);
* ``optimizer``: → ``on_train_batch_end`` (AdamW's step: its two moments appear at the first step);
* ``after``: → the next batch's start (what other callbacks do after the step: checkpoint saving).

Two figures per part, in MiB: ``anon`` is private memory (tensors, the optimiser state, the
allocator's cache) and ``file`` is resident pages of mapped files (safetensors weights are mapped,
not copied: the kernel may drop such pages and read them again). The first row, ``event: loaded``,
holds both right before the first batch: the weights as loaded. A row that also has
``sampler_error`` was written after the sampling thread stopped: its peaks are only the values read
at the marks. CPU runs on Linux only; on a CUDA device the GPU's own allocator peaks are written
beside them (``cuda_peak_mb`` per part).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch

_STATUS = Path("/proc/self/status")
_FIELDS = {"RssAnon:": "anon", "RssFile:": "file"}
PARTS = ("forward", "backward", "optimizer", "after")


def _read_resident(handle) -> dict[str, float]:
    values = {"anon": 0.0, "file": 0.0}
    for line in handle:
        key = _FIELDS.get(line.split(maxsplit=1)[0]) if line.strip() else None
        if key is not None:
            values[key] = int(line.split()[1]) / 1024  # kB
    return values


def resident_mib() -> dict[str, float]:
    """``{"anon": MiB, "file": MiB}`` of this process now (Linux ``/proc/self/status``)."""
    with open(_STATUS, encoding="ascii", errors="replace") as handle:
        return _read_resident(handle)


class PeakSampler:
    """A daemon thread keeping the largest ``anon`` and ``file`` resident memory since the last :meth:`mark`.

    The thread keeps ``/proc/self/status`` open and re-reads it (no file opened per sample, so a
    process short of file descriptors still gets its samples). If a sample fails anyway, the thread
    stops sampling and :attr:`error` says why: marks then hold only the values read at the marks.
    """

    def __init__(self, interval_s: float = 0.005) -> None:
        self.interval_s = interval_s
        self.error: str | None = None
        self._lock = threading.Lock()
        self._handle = open(_STATUS, encoding="ascii", errors="replace")  # noqa: SIM115 (closed by stop)
        self._peak = self._sample()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-trace", daemon=True)
        self._thread.start()

    def _sample(self) -> dict[str, float]:
        self._handle.seek(0)
        return _read_resident(self._handle)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                with self._lock:
                    now = self._sample()
                    self._peak = {k: max(self._peak[k], now[k]) for k in now}
            except (OSError, ValueError) as error:
                self.error = f"the memory sampler stopped: {error!r}"
                return

    def mark(self) -> dict[str, float]:
        """The peak since the previous mark (the present value included); starts a new interval."""
        now = resident_mib()
        with self._lock:
            peak = {k: max(self._peak[k], now[k]) for k in now}
            self._peak = now
        return peak

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0)
        with self._lock:
            self._handle.close()


class MemoryTrace(pl.Callback):
    """Append the peak memory of each part of every optimiser step to a JSON-lines file.

    Args:
        path: The JSON-lines file (created with its folder; appended to). Default:
            ``<logger save_dir>/<logger name>/memory.jsonl``, beside ``losses.jsonl``.
        interval_s: Seconds between two samples of the process's memory.
    """

    def __init__(self, path: str | Path | None = None, interval_s: float = 0.005) -> None:
        if not _STATUS.is_file():
            raise RuntimeError("MemoryTrace reads /proc/self/status, which only Linux has; remove it from trainer.callbacks on this system.")
        self.path = Path(path) if path is not None else None
        self.interval_s = interval_s
        self._sampler: PeakSampler | None = None
        self._row: dict[str, Any] = {}

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.path is None:
            logger = trainer.logger
            root = Path(logger.save_dir) / str(logger.name) if logger is not None and logger.save_dir else Path(trainer.default_root_dir)
            self.path = root / "memory.jsonl"

    def _write(self, row: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")

    def _cuda(self, pl_module: pl.LightningModule) -> float | None:
        device = pl_module.device
        if device.type != "cuda":
            return None
        peak = torch.cuda.max_memory_allocated(device) / 2**20
        torch.cuda.reset_peak_memory_stats(device)
        return round(peak, 1)

    def _part(self, name: str, pl_module: pl.LightningModule) -> None:
        if self._sampler is None:
            return
        peak = self._sampler.mark()
        self._row[name] = {k: round(v, 1) for k, v in peak.items()}
        if self._sampler.error is not None:
            self._row["sampler_error"] = self._sampler.error
        cuda = self._cuda(pl_module)
        if cuda is not None:
            self._row[name]["cuda_peak_mb"] = cuda

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.global_rank != 0:
            return
        self._sampler = PeakSampler(self.interval_s)
        self._write({"event": "loaded", **{k: round(v, 1) for k, v in resident_mib().items()}})

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int) -> None:
        if self._sampler is None:
            return
        if self._row:  # the previous step's row, its "after" part now complete
            self._part("after", pl_module)
            self._write(self._row)
        self._sampler.mark()
        self._cuda(pl_module)
        self._row = {"step": int(trainer.global_step) + 1, "start": {k: round(v, 1) for k, v in resident_mib().items()}}

    def on_before_backward(self, trainer: pl.Trainer, pl_module: pl.LightningModule, loss: torch.Tensor) -> None:
        self._part("forward", pl_module)

    def on_after_backward(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._part("backward", pl_module)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        self._part("optimizer", pl_module)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._sampler is None:
            return
        if self._row:
            self._part("after", pl_module)
            self._write(self._row)
            self._row = {}
        self._sampler.stop()
        self._sampler = None
