"""`slicevlm rehearse`: the paper's configs at the paper's size on the CPU, end to end, checked.

Phases, each its own process (measured: wall time, peak memory):

1. ``weights`` (once; reused): random BiomedCLIP ViT-B/16 and LLaMA-2-7B written into local model
   folders (:mod:`slicevlm.rehearsal.weights`); ``data``: a few synthetic volumes.
2. ``stage1``: ``lightning-cli fit`` with ``configs/stage1.yaml`` + the CPU overlay
   (``configs/rehearsal/cpu.yaml``) + the rehearsal's paths; one batch repeated for a few optimiser
   steps; the checkpoint folder exported.
3. ``stage2``: ``configs/stage2.yaml`` the same way, initialised from stage 1's folder.
4. ``stage2-crash`` + ``stage2-resume``: the same stage-2 run killed (SIGKILL) right after its
   first ``last.ckpt``, then resumed with ``--ckpt_path last``.
5. ``ask-closed``, ``ask-open``, ``report``: the exported folder answers through the command line,
   with the hub switched off (``HF_HUB_OFFLINE=1``).
6. ``serve``: one request to ``slicevlm serve``, then one SIGINT.

Checks (all must hold, or the command exits 1): 343 visual tokens within the 512-token context;
trainable parameters per stage equal to the formula of the documented components; every loss
finite and the repeated batch's loss lower at the last step than at the first; the resumed run's
losses equal the uninterrupted run's; the exported folders and ``last.ckpt`` hold no frozen
weight; the answers come back. One JSON summary is printed and written to ``<work>/summary.json``.

``--size tiny`` runs the same phases with the demo's tiny models (CI runs it); ``--size full`` is
what ``make rehearse-full`` runs.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Literal

import yaml

from slicevlm.rehearsal.processes import PhaseResult, log_tail, run_phase
from slicevlm.serve.server_process import free_port
from slicevlm.shipped_configs import config_path

#: Sub-folders a checkpoint folder copies small local base models into (see slicevlm.checkpoint_sources);
#: ``tokenizer/`` is the checkpoint's own tokenizer (with the ``<image>`` token), not a base model.
BUNDLED_MODELS = ("encoder", "llm")
CLOSED_QUESTION = ("Which plane is this image in?", "axial,coronal,sagittal,oblique")
OPEN_QUESTION = "What organ shows an abnormality?"


class RehearsalFailed(RuntimeError):
    """A phase failed or a check did not hold."""


def _slicevlm() -> list[str]:
    return [sys.executable, "-m", "slicevlm"]


class Rehearsal:
    """State of one rehearsal: where it works, what ran, what was checked."""

    def __init__(self, work: Path, size: Literal["full", "tiny"], steps: int, weights: Path | None, log=print) -> None:
        if steps < 3:
            raise ValueError("the rehearsal needs at least 3 optimiser steps (overfit check and resume after step 1)")
        self.work, self.size, self.steps, self.log = Path(work), size, steps, log
        self.weights_root = Path(weights) if weights else self.work / "weights"
        self.phases: list[PhaseResult] = []
        self.checks: list[dict[str, Any]] = []
        self.facts: dict[str, Any] = {"size": size, "steps_per_run": steps}
        self.env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUTF8": "1", "TOKENIZERS_PARALLELISM": "false"}

    # -- bookkeeping ----------------------------------------------------------------------------------
    def check(self, name: str, ok: bool, detail: Any) -> bool:
        self.checks.append({"check": name, "ok": bool(ok), "detail": detail})
        self.log(f"[{'ok' if ok else 'FAILED'}] {name}: {detail}")
        return bool(ok)

    def phase(self, name: str, command: list[str], **kwargs: Any) -> PhaseResult:
        self.log(f"-- {name}: {' '.join(command)}")
        result = run_phase(name, command, self.work / "logs", env=self.env, **kwargs)
        self.phases.append(result)
        self.log(
            f"   {name}: exit {result.returncode}, {result.wall_s:.0f} s, peak {result.peak_rss_mb:,.0f} MiB resident "
            f"({result.peak_anon_mb:,.0f} MiB private){' (' + result.killed + ')' if result.killed else ''}"
        )
        if not result.ok and not kwargs.get("kill_when"):
            raise RehearsalFailed(f"phase {name} failed (exit {result.returncode}); its log {result.log} ends:\n{log_tail(result)}")
        return result

    # -- inputs ---------------------------------------------------------------------------------------
    def prepare(self) -> None:
        start = time.perf_counter()
        if self.size == "full":
            from slicevlm.rehearsal.weights import write_random_weights

            folders = write_random_weights(self.weights_root, log=self.log)
            self.encoder, self.llm = f"local-dir:{folders['encoder'].resolve()}", str(folders["llm"].resolve())
        else:
            from slicevlm.tiny import write_tiny_models

            folders = {"encoder": self.weights_root / "encoder", "llm": self.weights_root / "llm"}
            if not all((folder / "config.json").is_file() or (folder / "open_clip_config.json").is_file() for folder in folders.values()):
                folders = write_tiny_models(self.weights_root, pretrain_steps=150)  # code paths, not reading skill
            self.encoder, self.llm = f"local-dir:{folders['encoder'].resolve()}", str(folders["llm"].resolve())
        self.facts["weights_s"] = round(time.perf_counter() - start, 1)
        shape = "50,224,224" if self.size == "full" else "32,64,64"
        self.data = self.work / "data"
        if not (self.data / "M3D_Cap.json").is_file():
            self.phase("data", [*_slicevlm(), "synth", str(self.data), "--n", "4", "--seed", "0", "--shape", shape])
            # One training report: every step repeats the same batch, so the loss must fall (overfit check).
            index = json.loads((self.data / "M3D_Cap.json").read_text(encoding="utf-8"))
            index["train"] = index["train"][:1]
            (self.data / "M3D_Cap.json").write_text(json.dumps(index, indent=1), encoding="utf-8")

    def _run_config(self, name: str, export: Path, init_from: Path | None = None) -> Path:
        """The rehearsal's own overlay for one run (folder ``name``): paths, logger, checkpoints, loss trace."""
        run = self.work / name
        model: dict[str, Any] = {
            "export_dir": str(export),
            "overwrite_export": True,
            "vision": {"init_args": {"encoder": {"init_args": {"model_name": self.encoder}}}},
            "language": {"init_args": {"model_name": self.llm}},
        }
        if init_from is not None:
            model["init_from"] = str(init_from)
        config = {
            "trainer": {
                "max_steps": self.steps,
                "logger": {  # checkpoints and losses.jsonl go to <run>/logs/<name>/ (configs/rehearsal/cpu.yaml)
                    "class_path": "lightning.pytorch.loggers.TensorBoardLogger",
                    "init_args": {"save_dir": str(run / "logs"), "name": name, "default_hp_metric": False},
                },
            },
            "model": model,
            # Both stages read the one training report (the longest rows: the full context is used), so
            # that each step repeats one batch; the configs' task mixture is not what is rehearsed.
            "data": {"data_root": str(self.data), "train_tasks": ["caption"]},
        }
        run.mkdir(parents=True, exist_ok=True)
        path = self.work / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        return path

    def _base_configs(self, stage: int) -> list[str]:
        if self.size == "full":
            base = [str(config_path("stage1.yaml" if stage == 1 else "stage2.yaml"))]
        else:
            base = [str(config_path("demo.yaml"))] + ([str(config_path("demo_stage2.yaml"))] if stage == 2 else [])
        return [arg for path in [*base, str(config_path("rehearsal/cpu.yaml"))] for arg in ("--config", path)]

    # -- the phases -----------------------------------------------------------------------------------
    def fit(self, name: str, stage: int, export: Path, init_from: Path | None = None, run: str | None = None, **kwargs: Any) -> PhaseResult:
        """One ``fit`` phase; ``run`` names the run folder when it is another phase's (a resumed run)."""
        overlay = self._run_config(run or name, export, init_from)
        return self.phase(name, [*_slicevlm(), "fit", *self._base_configs(stage), "--config", str(overlay), *kwargs.pop("extra", [])], **kwargs)

    def run_folder(self, name: str) -> Path:
        """Where a run's logger writes: its ``checkpoints/`` and ``losses.jsonl``."""
        return self.work / name / "logs" / name

    def losses(self, name: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        trace = self.run_folder(name) / "losses.jsonl"
        if not trace.is_file():
            return [], []
        rows = [json.loads(line) for line in trace.read_text(encoding="utf-8").splitlines() if line.strip()]
        return [r for r in rows if r.get("event") == "start"], [r for r in rows if "loss" in r]

    def run(self) -> dict[str, Any]:
        self.work.mkdir(parents=True, exist_ok=True)
        for name in ("stage1", "stage2", "stage2-crash"):  # a rerun starts from scratch
            shutil.rmtree(self.work / name / "logs", ignore_errors=True)
        self.prepare()
        stage1_export, stage2_export = self.work / "stage1" / "checkpoint", self.work / "stage2" / "checkpoint"
        self.fit("stage1", 1, stage1_export)
        self.check_training("stage1", stage=1)
        self.check_export("stage1", stage1_export)
        self.fit("stage2", 2, stage2_export, init_from=stage1_export)
        self.check_training("stage2", stage=2)
        self.check_memory("stage2")
        self.check_export("stage2", stage2_export)
        self.check_resume(stage1_export)
        self.answer(stage2_export)
        self.serve(stage2_export)
        if self.size == "full":
            peak = max(p.peak_rss_mb for p in self.phases)
            self.check("every phase's peak resident memory is below 21 GB", peak * 2**20 < 21e9, f"{peak * 2**20 / 1e9:.1f} GB ({max(self.phases, key=lambda p: p.peak_rss_mb).name})")
        return self.summary()

    def check_training(self, name: str, stage: int) -> None:
        starts, steps = self.losses(name)
        values = [row["loss"] for row in steps]
        self.check(f"{name}: {self.steps} optimiser steps, every loss finite", len(values) == self.steps and all(isinstance(v, float) and math.isfinite(v) for v in values), values)
        if values:
            self.check(f"{name}: the repeated batch's loss falls (overfit check, not quality)", values[-1] < values[0], f"{values[0]:.4f} -> {values[-1]:.4f}")
        if not starts:
            self.check(f"{name}: the run recorded its parameters", False, "no start row in the loss trace")
            return
        start = starts[0]
        parameters = start.get("parameters", {})
        expected = expected_trainable(parameters, stage)
        trainable = {component: counts[0] for component, counts in parameters.items() if counts[0]}
        self.facts[f"{name}_trainable"] = trainable
        self.check(f"{name}: trainable parameters are exactly the documented components", trainable == expected, {"run": trainable, "documented": expected})
        tokens = start.get("visual_tokens")
        text = max((row.get("text_tokens", 0) for row in steps), default=0)
        total = (tokens or 0) + text - 1
        self.facts[f"{name}_sequence"] = {"visual_tokens": tokens, "text_tokens": text - 1, "total": total, "context_length": start.get("context_length")}
        if self.size == "full":
            self.check(f"{name}: 343 visual tokens", tokens == 343, tokens)
        self.check(f"{name}: visual + text tokens fit the context", total <= start.get("context_length", 0), f"{tokens} visual + {text - 1} text = {total} <= {start.get('context_length')}")

    def check_memory(self, name: str) -> None:
        """The run's measured memory per part of a step (MemoryTrace) beside `slicevlm memory`'s computed CPU row."""
        trace = self.run_folder(name) / "memory.jsonl"
        rows = [json.loads(line) for line in trace.read_text(encoding="utf-8").splitlines() if line.strip()] if trace.is_file() else []
        steps = [row for row in rows if "step" in row]
        if not steps:
            self.check(f"{name}: memory was traced", False, f"no step rows in {trace}")
            return
        parts = ("forward", "backward", "optimizer", "after")
        peak = {part: max(row[part]["anon"] + row[part]["file"] for row in steps) for part in parts}  # MiB, private + mapped
        private = {part: max(row[part]["anon"] for row in steps) for part in parts}
        measured = {
            "loaded_private_mib": next((row["anon"] for row in rows if row.get("event") == "loaded"), None),
            "step_peak_mib": max(peak[p] for p in ("forward", "backward", "optimizer")),
            "step_peak_private_mib": max(private[p] for p in ("forward", "backward", "optimizer")),
            "checkpoint_save_peak_mib": peak["after"],
            "per_part_mib": peak,
        }
        self.facts[f"{name}_memory"] = measured
        if self.size != "full":  # the computed table is the paper's model; the tiny models have no row
            return
        from slicevlm.training.memory import GIB, SETUPS, estimate, paper_model_sizes

        setup = next(s for s in SETUPS if s.device == "cpu")
        computed = estimate(setup, paper_model_sizes())
        computed_mib = computed.total / 2**20
        self.facts[f"{name}_memory"]["computed_gib"] = {part: round(value / GIB, 2) for part, value in computed.parts.items()} | {"total": round(computed.total / GIB, 2)}
        error = measured["step_peak_mib"] / computed_mib - 1
        self.check(
            f"{name}: `slicevlm memory`'s CPU row is within 15% of the measured step peak",
            abs(error) <= 0.15,
            f"measured {measured['step_peak_mib'] / 1024:.1f} GiB (private + mapped weights), computed {computed_mib / 1024:.1f} GiB ({error:+.0%})",
        )

    def check_export(self, name: str, folder: Path) -> None:
        files = {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}
        bundled = {f: size for f, size in files.items() if f.split("/")[0] in BUNDLED_MODELS}
        own = {f: size for f, size in files.items() if f not in bundled}
        self.facts[f"{name}_export_mb"] = round(sum(own.values()) / 2**20, 1)
        weights_mb = sum(size for file, size in own.items() if file.endswith((".safetensors", ".bin", ".pt"))) / 2**20
        trainable = sum(self.facts.get(f"{name}_trainable", {}).values())
        # The trained components in fp32 (at most 4 bytes a parameter), plus the files' headers.
        self.check(
            f"{name}: exported folder holds only trained weights",
            weights_mb <= trainable * 4 / 2**20 * 1.01 + 0.1,
            f"{weights_mb:,.1f} MiB of weights for {trainable:,} trained parameters ({len(own)} files)",
        )
        if self.size == "full":  # a small local model travels with the folder; the paper's never do
            self.check(f"{name}: the frozen LLM and encoder are named, not copied", not bundled, sorted({f.split('/')[0] for f in bundled}) or "none copied")
        last = self.run_folder(name) / "checkpoints" / "last.ckpt"
        if last.is_file():
            self.check_lightning_checkpoint(name, last, trainable)

    def check_lightning_checkpoint(self, name: str, path: Path, trainable: int) -> None:
        import torch

        state = torch.load(path, map_location="cpu", mmap=True, weights_only=False)  # written by this rehearsal a moment ago
        weights = state.get("state_dict", {})
        frozen = [key for key in weights if not _is_trained(key)]
        stored = sum(t.numel() for t in weights.values())
        size_mb = path.stat().st_size / 2**20
        self.facts[f"{name}_last_ckpt_mb"] = round(size_mb, 1)
        self.check(
            f"{name}: last.ckpt holds the trained weights and the optimiser state only",
            not frozen and stored == trainable and "optimizer_states" in state,
            f"{size_mb:,.1f} MiB, {stored:,} weights stored ({trainable:,} trained), frozen keys: {frozen[:3]}",
        )

    def check_resume(self, stage1_export: Path) -> None:
        checkpoints = self.run_folder("stage2-crash") / "checkpoints"
        crash_export = self.work / "stage2-crash" / "checkpoint"
        last = checkpoints / "last.ckpt"
        # Polled often: a tiny run's steps take a fraction of a second, and the kill must land mid-run.
        self.fit("stage2-crash", 2, crash_export, init_from=stage1_export, kill_when=lambda _group: last.is_file(), poll_s=0.02)
        _, before_kill = self.losses("stage2-crash")
        done = max((row["step"] for row in before_kill), default=0)
        self.check(
            "stage2: the crash run was killed after its first checkpoint",
            self.phases[-1].killed is not None and last.is_file() and done < self.steps,
            f"{self.phases[-1].killed} after step {done} of {self.steps}",
        )
        self.fit("stage2-resume", 2, crash_export, init_from=stage1_export, run="stage2-crash", extra=["--ckpt_path", str(last)])
        _, uninterrupted = self.losses("stage2")
        starts, resumed = self.losses("stage2-crash")
        restart = starts[-1].get("resumed_at", 0) if len(starts) > 1 else 0
        self.check("stage2: the resumed run continued from the checkpoint (not from step 0)", restart >= 1, f"started at optimiser step {restart}")
        # The crash run wrote step 1 (maybe step 2 before the kill landed); compare every step both have after it.
        by_step = {row["step"]: row["loss"] for row in uninterrupted}
        after = [row for row in resumed if row["step"] > 1]
        pairs = [(row["step"], row["loss"], by_step.get(row["step"])) for row in after]
        self.check(
            "stage2: after kill -9 and resume, the losses equal the uninterrupted run's",
            bool(pairs) and all(b is not None and a == b for _, a, b in pairs) and max(r["step"] for r in resumed) == self.steps,
            [{"step": s, "resumed": a, "uninterrupted": b} for s, a, b in pairs],
        )

    def answer(self, checkpoint: Path) -> None:
        volume = next(iter(sorted((self.data).rglob("*.npy"))))
        common = ["--checkpoint", str(checkpoint), "--device", "cpu", "--json"]
        if self.size == "full":
            common += ["--dtype", "bfloat16"]
        question, choices = CLOSED_QUESTION
        for name, command in {
            "ask-closed": [*_slicevlm(), "ask", str(volume), question, "--choices", choices, "--max-new-tokens", "8", *common],
            "ask-open": [*_slicevlm(), "ask", str(volume), OPEN_QUESTION, "--max-new-tokens", "16", *common],
            "report": [*_slicevlm(), "report", str(volume), "--max-new-tokens", "32", *common],
        }.items():
            result = self.phase(name, command)
            answer = _last_json(Path(result.log))
            self.facts[name] = {k: answer.get(k) for k in ("answer", "choice", "timings_ms", "generated") if k in answer} if answer else None
            self.check(f"{name}: an answer came back", bool(answer), (answer or {}).get("answer", "no JSON answer in the log"))

    def serve(self, checkpoint: Path) -> None:
        volume = next(iter(sorted((self.data).rglob("*.npy"))))
        port = free_port()
        client = _OneRequest(port, volume)
        command = [*_slicevlm(), "serve", "--checkpoint", str(checkpoint), "--port", str(port), "--device", "cpu", "--max-new-tokens", "8"]
        if self.size == "full":
            command += ["--dtype", "bfloat16"]
        result = self.phase("serve", command, kill_when=client.step, timeout_s=1800)
        self.facts["serve"] = {"status": client.status, "answer": (client.body or {}).get("answer"), "stop_s": client.stop_s}
        self.check("serve: one request answered", client.status == 200, f"HTTP {client.status}: {(client.body or {}).get('answer', client.error)}")
        self.check("serve: one SIGINT stopped it", result.killed is None and client.stop_s is not None, f"exit {result.returncode} {client.stop_s} s after SIGINT" if result.killed is None else result.killed)

    def summary(self) -> dict[str, Any]:
        ok = all(c["ok"] for c in self.checks)
        return {
            "ok": ok,
            "size": self.size,
            "phases": [p.to_dict() | {"command": " ".join(p.command[2:])} for p in self.phases],
            "peak_rss_mb": round(max((p.peak_rss_mb for p in self.phases), default=0)),
            "peak_anon_mb": round(max((p.peak_anon_mb for p in self.phases), default=0)),
            "wall_s": round(sum(p.wall_s for p in self.phases), 1),
            "checks": self.checks,
            "facts": self.facts,
        }


def _is_trained(key: str) -> bool:
    """A Lightning state-dict key of a trained component (vision's trained modules, projector, LoRA)."""
    return "lora_" in key or ".language." not in key and ".encoder." not in key


def expected_trainable(parameters: dict[str, list[int]], stage: int) -> dict[str, int]:
    """The trainable parameters a stage documents, from the components' shapes (not from ``requires_grad``).

    Stage 1 trains the tower's trained modules (fusion, injection) and the projector; stage 2 adds LoRA.
    The counts come from the parameter table's trainable + frozen totals of those components: a
    component that is trained must be trained whole, and nothing else may be.
    """
    trained = {"fusion", "injection", "projector"} | ({"lora"} if stage == 2 else set())
    return {component: sum(counts) for component, counts in parameters.items() if component in trained and sum(counts)}


class _OneRequest:
    """Polled by the serve phase: wait for /health, send one /predict, then SIGINT the server once."""

    def __init__(self, port: int, volume: Path) -> None:
        self.port, self.volume = port, volume
        self.status: int | None = None
        self.body: dict[str, Any] | None = None
        self.error: str | None = None
        self.sigint_at: float | None = None
        self.stop_s: float | None = None

    def step(self, group: int) -> bool:
        """False while all is well; True asks the runner to SIGKILL the server's ``group`` (it did not stop)."""
        if self.sigint_at is not None:
            return time.perf_counter() - self.sigint_at > 60
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as response:
                if response.status != 200:
                    return False
        except OSError:
            return False
        self._predict()
        self._interrupt(group)
        return False

    def _predict(self) -> None:
        boundary = uuid.uuid4().hex
        question, choices = CLOSED_QUESTION
        parts = [("question", question.encode()), ("choices", choices.encode())]
        body = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value + b"\r\n" for name, value in parts
        )
        body += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{self.volume.name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode() + self.volume.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/predict", data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=1500) as response:
                self.status, self.body = response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            self.status, self.error = error.code, error.read().decode("utf-8", "replace")[:300]
        except OSError as error:
            self.error = str(error)

    def _interrupt(self, group: int) -> None:
        """One SIGINT to the server's process group, as Ctrl+C in its terminal would send."""
        import signal

        os.killpg(group, signal.SIGINT)
        self.sigint_at = time.perf_counter()
        self._watch_stop()

    def _watch_stop(self) -> None:
        """Wait (up to 60 s) for the port to close, recording how long the stop took."""
        while time.perf_counter() - (self.sigint_at or 0) < 60:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) != 0:
                    self.stop_s = round(time.perf_counter() - (self.sigint_at or 0), 1)
                    return
            time.sleep(0.5)


def _last_json(log: Path) -> dict[str, Any] | None:
    """The last line of a log that parses as a JSON object (``--json`` output)."""
    for line in reversed(log.read_text(encoding="utf-8", errors="replace").splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    return None


def rehearse(
    work: Path = Path("runs/rehearsal"),
    size: Literal["full", "tiny"] = "full",
    steps: int = 3,
    weights: Path | None = None,
) -> int:
    """Run the paper's configs at the paper's size on the CPU, end to end, and check every phase.

    Args:
        work: Where everything is written (weights folders, data, runs, logs, summary.json).
        size: full (random BiomedCLIP ViT-B/16 + LLaMA-2-7B in bf16: about 14 GB on disk, 19 GB of
            memory, 30-40 minutes on 2 cores) or tiny (the demo's tiny models: a few minutes).
        steps: Optimiser steps of each training run (at least 3).
        weights: Folder of the random model folders (default: WORK/weights), reused when complete.

    Returns:
        0 when every phase ran and every check held, else 1 (the summary says which failed).
    """
    rehearsal = Rehearsal(work, size, steps, weights)
    try:
        summary = rehearsal.run()
    except RehearsalFailed as error:
        rehearsal.check("every phase ran", False, str(error))
        summary = rehearsal.summary()
    text = json.dumps(summary, indent=2, default=str)
    (Path(work) / "summary.json").write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0 if summary["ok"] else 1


def main(argv: list[str] | None = None) -> int:
    from slicevlm.command_line import run_command

    return run_command(rehearse, argv, "slicevlm rehearse")
