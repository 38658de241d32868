"""Fixtures of the data tests: one small synthetic M3D data root per session."""

from __future__ import annotations

from pathlib import Path

import pytest

SYNTH_SHAPE = (8, 24, 24)


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic data root in the M3D layout: 20 cases of (1, 8, 24, 24) volumes. Read-only."""
    from slicevlm.testbed.synth import write_synthetic_dataset

    return write_synthetic_dataset(tmp_path_factory.mktemp("synth"), n=20, seed=0, shape=SYNTH_SHAPE)
