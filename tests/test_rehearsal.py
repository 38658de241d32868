"""`slicevlm rehearse`: every phase of the paper's recipe in separate processes, checked.

The tiny rehearsal (the demo's tiny models) runs in CI; the full-size one (random BiomedCLIP
ViT-B/16 + LLaMA-2-7B in bf16, about 19 GB of memory and 30-40 minutes on 2 cores) is marked
``fullsize`` and deselected unless asked for: ``pytest -m fullsize tests/test_rehearsal.py`` or
``make rehearse-full``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from slicevlm.rehearsal.run import Rehearsal, rehearse

EXPECTED_CHECKS = (
    "every loss finite",
    "loss falls",
    "trainable parameters are exactly the documented components",
    "fit the context",
    "exported folder holds only trained weights",
    "last.ckpt holds the trained weights and the optimiser state only",
    "killed after its first checkpoint",
    "continued from the checkpoint",
    "after kill -9 and resume, the losses equal",
    "ask-closed: an answer came back",
    "ask-open: an answer came back",
    "report: an answer came back",
    "serve: one request answered",
    "serve: one SIGINT stopped it",
)


def _assert_complete(summary: dict) -> None:
    failed = [c for c in summary["checks"] if not c["ok"]]
    assert not failed, json.dumps(failed, indent=1, default=str)[:3000]
    names = " | ".join(c["check"] for c in summary["checks"])
    for fragment in EXPECTED_CHECKS:
        assert fragment in names, f"no check {fragment!r} ran: {names}"
    phases = {p["name"] for p in summary["phases"]}
    assert {"stage1", "stage2", "stage2-crash", "stage2-resume", "ask-closed", "ask-open", "report", "serve"} <= phases
    assert all(p["peak_rss_mb"] > 0 and p["wall_s"] > 0 for p in summary["phases"])


@pytest.mark.slow
def test_tiny_rehearsal_runs_and_checks_every_phase(tmp_path: Path, tiny_models: dict[str, Path]) -> None:
    work = tmp_path / "rehearsal"
    code = rehearse(work=work, size="tiny", steps=3, weights=tiny_models["encoder"].parent)
    summary = json.loads((work / "summary.json").read_text(encoding="utf-8"))
    _assert_complete(summary)
    assert code == 0 and summary["ok"]
    memory = summary["facts"]["stage2_memory"]  # MemoryTrace of the configs' overlay, read back
    assert memory["step_peak_mib"] > memory["loaded_private_mib"] > 0


def test_a_failed_check_fails_the_rehearsal(tmp_path: Path) -> None:
    rehearsal = Rehearsal(tmp_path, "tiny", 3, None, log=lambda *_: None)
    rehearsal.check("something", True, "fine")
    rehearsal.check("something else", False, "broken")
    assert rehearsal.summary()["ok"] is False


def test_fewer_than_three_steps_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 3"):
        Rehearsal(tmp_path, "tiny", 2, None)


@pytest.mark.fullsize
def test_full_size_rehearsal(tmp_path: Path) -> None:
    """The paper's configs at full size on the CPU (make rehearse-full); deselected by default."""
    work = Path(os.environ.get("SLICEVLM_REHEARSAL_DIR", tmp_path / "rehearsal"))
    code = rehearse(work=work, size="full", steps=3)
    summary = json.loads((work / "summary.json").read_text(encoding="utf-8"))
    _assert_complete(summary)
    assert summary["peak_rss_mb"] * 2**20 < 21e9  # resident, mapped weight files included: fits a 24 GB machine
    assert any("within 15% of the measured step peak" in check["check"] for check in summary["checks"])
    assert code == 0
