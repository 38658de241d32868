"""Every limit the server enforces, in one dataclass: its command-line options and the docs/serving.md table.

Each field carries its flag, the HTTP status a client gets when it is exceeded, and one line of
documentation; :func:`add_limit_options` turns the fields into ``slicevlm serve`` options and
:func:`limits_table` renders the table of docs/serving.md, "Limits" (a test keeps that page equal to it).
"""

from __future__ import annotations

import argparse
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slicevlm.inference.instructions import MAX_QUESTION_CHARS
from slicevlm.io.limits import MAX_HEADER_BYTES, MAX_VOXELS, ReadLimits
from slicevlm.serve.uploads import MAX_FIELD_BYTES

if TYPE_CHECKING:
    from jsonargparse import ArgumentParser

#: JSON and urlencoded bodies may not exceed this many bytes.
MAX_SMALL_BODY: int = 256 * 1024


def _limit(default: Any, flag: str, status: str, doc: str, zero_off: bool = False) -> Any:
    return field(default=default, metadata={"flag": flag, "status": status, "doc": doc, "zero_off": zero_off})


@dataclass(frozen=True)
class ServerLimits:
    """What one server accepts, how long it waits, and how much work it takes on at once."""

    max_upload_mb: float = _limit(512.0, "--max-upload-mb", "413", "MiB of a request body (an upload), checked on Content-Length and while streaming")
    max_unpacked_mb: float = _limit(1024.0, "--max-unpacked-mb", "413", "MiB of a .zip upload unpacked (declared sizes checked before writing, real sizes while writing)")
    max_zip_files: int = _limit(5000, "--max-zip-files", "400", "files in a .zip upload (also the most slices of one volume folder)")
    max_voxels: int = _limit(MAX_VOXELS, "--max-voxels", "413", "voxels a volume header may announce (512×512×1024, as `slicevlm ask` and `ask-batch`), checked before any decompression or allocation")
    max_queue: int = _limit(64, "--max-queue", "503 + Retry-After", "/predict requests admitted at once (uploading, queued or being answered); more are shed")
    retry_after_s: int = _limit(5, "--retry-after", "—", "seconds a shed client is told to wait (Retry-After header)")
    max_connections: int = _limit(256, "--max-connections", "503", "open connections and tasks (uvicorn's limit_concurrency); guards against connection floods")
    header_timeout_s: float = _limit(10.0, "--header-timeout", "408, then closed", "seconds from connecting (or the previous response) to the end of the request headers")
    idle_timeout_s: float = _limit(15.0, "--idle-timeout", "408, then closed", "seconds of silence allowed between two parts of a request body")
    body_timeout_s: float = _limit(120.0, "--body-timeout", "408, then closed", "seconds to receive a whole request body")
    keep_alive_s: int = _limit(5, "--keep-alive", "closed", "seconds an idle keep-alive connection stays open")
    max_connections_per_client: int = _limit(
        32, "--max-connections-per-client", "503, then closed",
        "open connections from one client address (0: no cap; behind a reverse proxy every client has the proxy's address)", zero_off=True,
    )
    request_timeout_s: float = _limit(300.0, "--timeout", "504", "seconds a request may wait for the model")
    decode_timeout_s: float = _limit(60.0, "--decode-timeout", "504", "seconds to read and preprocess one volume (in a reader process, killed when late)")
    decode_memory_mb: float = _limit(
        4096.0, "--decode-memory-mb", "413",
        "MiB a reader process may add to its idle size while reading one volume (killed and replaced past it; 0: no budget)", zero_off=True,
    )
    decode_workers: int = _limit(2, "--decode-workers", "requests wait", "reader processes that read and preprocess volumes, one volume each at a time")

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if item.metadata["zero_off"] and value == 0:
                continue
            if not value > 0:
                allowed = "positive, or 0 for no limit" if item.metadata["zero_off"] else "positive"
                raise ValueError(f"{item.metadata['flag']} must be {allowed}, got {value!r}.")

    @property
    def max_upload_bytes(self) -> int:
        """``max_upload_mb`` in bytes."""
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_unpacked_bytes(self) -> int:
        """``max_unpacked_mb`` in bytes."""
        return int(self.max_unpacked_mb * 1024 * 1024)

    def read_limits(self, root: Path, detached: bool) -> ReadLimits:
        """How volumes under ``root`` are read: this server's caps, confined to ``root``.

        Args:
            root: The upload folder (uploads) or the data folder (paths).
            detached: Whether a header may name a separate data file (inside ``root``). Uploads:
                never, so an upload can only ever read its own bytes.
        """
        return ReadLimits(max_voxels=self.max_voxels, max_files=self.max_zip_files, root=Path(root), detached=detached)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ServerLimits:
        """The limits the parsed options name (see :func:`add_limit_options`)."""
        return cls(**{item.name: getattr(args, item.name) for item in fields(cls)})


#: Fixed limits that are not options (the table lists them too): what, value, status, note.
FIXED_LIMITS: tuple[tuple[str, str, str, str], ...] = (
    ("text fields of a multipart form", f"{MAX_FIELD_BYTES // 1024} KiB", "413", "question, choices, task, path together"),
    ("a JSON or urlencoded body", f"{MAX_SMALL_BODY // 1024} KiB", "413", "nesting too deep for the parser is a 400"),
    ("question, and each choice", f"{MAX_QUESTION_CHARS:,} characters", "400", "also refused: the model's `<image>` marker, bytes that are not UTF-8"),
    ("a volume's text header (MetaImage, NRRD)", f"{MAX_HEADER_BYTES // 1024} KiB", "413", "read before the pixel data"),
)


def add_limit_options(parser: ArgumentParser) -> None:
    """Add one option per :class:`ServerLimits` field (its flag, default and doc) to the server's parser."""
    group = parser.add_argument_group('limits (see docs/serving.md, "Limits")')
    for item in fields(ServerLimits):
        default = item.default if item.default is not MISSING else None
        group.add_argument(
            item.metadata["flag"],
            dest=item.name,
            type=type(default),
            default=default,
            # naming %(default)s keeps the help formatter from adding the default a second time
            help=f"{item.metadata['doc']} (default %(default)s; exceeded: {item.metadata['status']})",
        )


def _shown(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def limits_table() -> str:
    """The limits table of docs/serving.md (Markdown)."""
    rows = ["| limit | option | default | when exceeded |", "|---|---|---|---|"]
    for item in fields(ServerLimits):
        rows.append(f"| {item.metadata['doc']} | `{item.metadata['flag']}` | {_shown(item.default)} | {item.metadata['status']} |")
    for what, value, status, note in FIXED_LIMITS:
        rows.append(f"| {what} ({note}) | fixed | {value} | {status} |")
    return "\n".join(rows)
