"""``ResumableCheckpoint``: Lightning checkpoints that a killed run can always resume from.

Lightning's ``ModelCheckpoint`` writes through fsspec: the bytes go to a temporary file in the
system temp folder and are then moved over the target, which is a copy in place (not a rename)
whenever the temp folder is on another file system, and nothing is fsynced. A ``kill -9`` or a power
cut during that copy leaves a truncated ``last.ckpt`` and nothing to resume from. This subclass:

- writes every checkpoint (a file, or the folder DeepSpeed writes from every rank) to
  ``<name>.partial`` beside the target, fsyncs it, then renames it into place. A file replaces the
  old one atomically; a folder is swapped through ``<name>.old``, which is renamed back if a crash
  falls between the two renames. A crash at any moment leaves the previous checkpoint whole.
- defaults ``dirpath`` to ``<logger save_dir>/<logger name>/checkpoints`` (Lightning's default adds
  the logger's ``version_N``, a new folder at every start, where a restarted run finds nothing);
- also writes ``last`` when training ends (Lightning writes it only at its save points);
- warns when a run starts from scratch next to a ``last`` checkpoint it could have resumed.

What is in a checkpoint is decided elsewhere: the LightningModule keeps only trainable weights
(the frozen LLM is never copied) and adds every rank's RNG state; the training loader adds its place
in the epoch. :func:`find_last_checkpoint` resolves ``--ckpt_path last`` and fails when there is
nothing to resume, where Lightning only warns and starts from scratch.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from weakref import proxy

import lightning.pytorch as pl
from lightning.fabric.utilities.cloud_io import _is_local_file_protocol
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_warn

from slicevlm.training.errors import ResumeError

PARTIAL_SUFFIX = ".partial"
OLD_SUFFIX = ".old"


def default_checkpoint_dir(trainer: pl.Trainer) -> str:
    """``<save_dir>/<name>/checkpoints`` of the first logger (no version folder); else ``<default_root_dir>/checkpoints``."""
    if trainer.loggers:
        logger = trainer.loggers[0]
        root = logger.save_dir or trainer.default_root_dir
        path = os.path.join(str(root), str(logger.name or ""), "checkpoints")
    else:
        path = os.path.join(str(trainer.default_root_dir), "checkpoints")
    return os.path.realpath(path) if _is_local_file_protocol(path) else path


def _fsync_path(path: Path) -> None:
    """fsync a file, or every file in a folder and the folders themselves."""
    paths = [path] if path.is_file() else [p for p in sorted(path.rglob("*")) if p.is_file()] + [path]
    for item in paths:
        flags = os.O_RDONLY | (os.O_DIRECTORY if item.is_dir() else 0)
        descriptor = os.open(item, flags)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def commit_checkpoint(partial: Path, final: Path) -> None:
    """Move a completely written ``partial`` checkpoint (file or folder) to ``final``, durably.

    A file replaces ``final`` in one rename. A folder cannot replace a folder in one rename, so the
    old one is first renamed to ``<final>.old`` and removed after the new one is in place;
    :func:`restore_interrupted_commits` undoes a crash between the two renames.
    """
    _fsync_path(partial)
    if final.exists() and (partial.is_dir() or final.is_dir()):
        old = final.with_name(final.name + OLD_SUFFIX)
        _remove(old)
        os.replace(final, old)
        os.replace(partial, final)
        _remove(old)
    else:
        os.replace(partial, final)
    _fsync_path(final.parent)  # the renames themselves


def restore_interrupted_commits(folder: str | Path) -> None:
    """Put back every ``<name>.old`` whose ``<name>`` is missing (a crash between a folder swap's renames).

    Safe to run from several processes at once: a rename another process already did is skipped.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return
    for old in folder.glob(f"*{OLD_SUFFIX}"):
        final = old.with_name(old.name[: -len(OLD_SUFFIX)])
        if not final.exists():
            try:
                os.replace(old, final)
            except FileNotFoundError:
                pass


class ResumableCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` with atomic writes, a stable default folder and ``last`` at the end of training.

    Takes ``ModelCheckpoint``'s arguments. A typical pair in a config: one instance keeps the best
    checkpoints by a validation metric; another (``save_top_k: 0``, ``save_last: true``,
    ``every_n_train_steps: N``) keeps the resumable ``last.ckpt``, written only right after an
    optimiser step, so no half-accumulated gradient is ever needed to resume.
    """

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.dirpath is None:
            self.dirpath = default_checkpoint_dir(trainer)
        super().setup(trainer, pl_module, stage)

    def _find_last_checkpoints(self, trainer: pl.Trainer) -> set[str]:
        if self.dirpath is None:  # called before setup when Lightning resolves ckpt_path="last"
            self.dirpath = default_checkpoint_dir(trainer)
        if _is_local_file_protocol(self.dirpath):
            restore_interrupted_commits(self.dirpath)
        return super()._find_last_checkpoints(trainer)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        if self.save_last and trainer.ckpt_path is None and trainer.is_global_zero:
            existing = sorted(self._find_last_checkpoints(trainer))
            if existing:
                rank_zero_warn(
                    f"This run starts from scratch, but {', '.join(existing)} could resume an earlier run "
                    "(`fit --ckpt_path last`). Its own `last` checkpoint gets a -vN suffix; "
                    "`--ckpt_path last` resumes whichever is newest."
                )

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_end(trainer, pl_module)
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def _save_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        if not _is_local_file_protocol(filepath):  # object stores replace an object in one PUT
            super()._save_checkpoint(trainer, filepath)
            return
        final = Path(filepath)
        partial = final.with_name(final.name + PARTIAL_SUFFIX)
        if trainer.is_global_zero:
            _remove(partial)  # left by a run killed while writing
        trainer.strategy.barrier("ResumableCheckpoint.clear")
        trainer.save_checkpoint(str(partial), self.save_weights_only)  # every rank; DeepSpeed writes a folder
        if trainer.is_global_zero:
            commit_checkpoint(partial, final)
        trainer.strategy.barrier("ResumableCheckpoint.commit")
        # what ModelCheckpoint._save_checkpoint records after a save
        self._last_global_step_saved = trainer.global_step
        self._last_checkpoint_saved = filepath
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.after_save_checkpoint(proxy(self))


def find_last_checkpoint(trainer: pl.Trainer) -> str:
    """The newest ``last*.ckpt`` of the trainer's checkpoint callbacks: what ``--ckpt_path last`` resumes.

    Raises:
        ResumeError: No callback writes a ``last`` checkpoint, or none has been written yet.
    """
    writers = [cb for cb in trainer.checkpoint_callbacks if isinstance(cb, ModelCheckpoint) and cb.save_last]
    if not writers:
        raise ResumeError(
            "--ckpt_path last asks to resume, but no checkpoint callback of this config writes a `last` checkpoint. "
            "Add slicevlm.callbacks.ResumableCheckpoint with save_last: true to trainer.callbacks (the shipped "
            "configs have one), or pass --ckpt_path PATH to a checkpoint file."
        )
    candidates = set().union(*(cb._find_last_checkpoints(trainer) for cb in writers))
    if not candidates:
        folders = sorted({str(cb.dirpath) for cb in writers if cb.dirpath is not None})
        hint = ""
        if any(type(cb) is ModelCheckpoint and cb.dirpath is None for cb in writers):
            hint = (
                " A plain ModelCheckpoint without dirpath writes into the logger's new version_N folder at every "
                "start, where a restart finds nothing; use slicevlm.callbacks.ResumableCheckpoint or set dirpath."
            )
        raise ResumeError(
            f"--ckpt_path last: nothing to resume, no last*.ckpt in {', '.join(folders) or 'the checkpoint folder'}. "
            "Start the run without --ckpt_path (it writes last.ckpt there as it trains), or pass --ckpt_path PATH "
            f"to a checkpoint file.{hint}"
        )
    return max(candidates, key=os.path.getmtime)
