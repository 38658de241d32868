"""Reads a reader process runs in place of the real one, for the deadline tests (sent by name)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

#: The environment variable naming the file a hook writes its process id to.
PID_FILE_ENV = "SLICEVLM_TEST_READER_PID_FILE"


def endless_read(path: str, input_size: Any, recipe: Any, limits: Any) -> dict[str, Any]:
    """A read that never finishes on its own: records its reader's pid, then sleeps."""
    Path(os.environ[PID_FILE_ENV]).write_text(str(os.getpid()), encoding="utf-8")
    while True:
        time.sleep(1)


def resident_hog(megabytes: int) -> int:
    """Touches ``megabytes`` MiB (resident, not only reserved), then holds them a while."""
    import numpy as np

    block = np.ones(megabytes * 1024 * 1024 // 8)
    time.sleep(5)
    return int(block.size)


def double(value: int) -> int:
    """A read that succeeds at once."""
    return value * 2
