"""Device names on every command line (`ask`, `report`, `ask-batch`, `serve`): one syntax, checked before anything loads."""

from __future__ import annotations

import argparse
import re

#: The device names a command accepts, for help texts.
DEVICE_HELP = "auto (a GPU if present), cpu, cuda or cuda:N"

_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


def parse_device_name(text: str) -> str:
    """`text` when it is a device name (see :data:`DEVICE_HELP`); otherwise a usage error."""
    name = text.strip().lower()
    if not _DEVICE.fullmatch(name):
        raise argparse.ArgumentTypeError(f"expected {DEVICE_HELP}, got {text!r}")
    return name


def cuda_index(device: str) -> int | None:
    """N of ``cuda:N``, else None."""
    return int(device.split(":", 1)[1]) if device.startswith("cuda:") else None
