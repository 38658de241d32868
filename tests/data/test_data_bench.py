"""The data-loading benchmark runs end to end on a tiny root."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slicevlm.bench.data_loading import main


def test_data_loading_bench(synth_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "bench.json"
    assert (
        main(
            [
                str(synth_root),
                "--workers",
                "0",
                "--batches",
                "2",
                "--batch-size",
                "2",
                "--volume-size",
                "4,8,8",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "vol/s overall" in printed
    result = json.loads(out.read_text(encoding="utf-8"))["results"][0]
    assert result["workers"] == 0 and result["volumes"] == 4 and result["overall_volumes_per_s"] > 0
