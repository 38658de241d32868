"""What the kernel saw happen in a folder: every open, read, write, create, delete, rename (inotify).

The hostile-input tests put secrets in a "host" folder outside every folder the code may use and
assert afterwards that nothing there was opened or written, by this process or any other (the
server's workers included). ``stat`` calls are not events: what a client may learn from those is
checked by comparing error messages for existing and missing targets.
"""

from __future__ import annotations

import ctypes
import os
import struct
from pathlib import Path

IN_ACCESS, IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE = 0x1, 0x2, 0x4, 0x8
IN_OPEN, IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x20, 0x40, 0x80, 0x100, 0x200
IN_ISDIR = 0x40000000
MASK = IN_ACCESS | IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_OPEN | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
_EVENT = struct.Struct("iIII")


def available() -> bool:
    """Whether inotify works here (Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    except (OSError, AttributeError):
        return False
    if fd < 0:
        return False
    os.close(fd)
    return True


class HostWatch:
    """Watch ``folders`` (not recursively) for any access; events on ``allowed`` names are ignored.

    Args:
        folders: Folders to watch (their direct entries and themselves).
        allowed: Entry names whose events do not count (e.g. the upload folder inside a watched
            parent).
    """

    def __init__(self, folders: list[Path], allowed: set[str] | None = None) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self.allowed = set(allowed or ())
        self.folders: dict[int, Path] = {}
        for folder in folders:
            wd = self._libc.inotify_add_watch(self.fd, os.fsencode(folder), MASK)
            if wd < 0:
                raise OSError(ctypes.get_errno(), f"inotify_add_watch {folder} failed")
            self.folders[wd] = folder
        self.seen: list[str] = []

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return
            offset = 0
            while offset < len(data):
                wd, mask, _, length = _EVENT.unpack_from(data, offset)
                name = data[offset + _EVENT.size : offset + _EVENT.size + length].rstrip(b"\0").decode("utf-8", "replace")
                offset += _EVENT.size + length
                if name in self.allowed:
                    continue
                kinds = [label for bit, label in _LABELS if mask & bit]
                self.seen.append(f"{'+'.join(kinds)} {self.folders.get(wd, '?')}/{name}".rstrip("/"))

    def events(self) -> list[str]:
        """Every event so far (drained from the kernel)."""
        self._drain()
        return list(self.seen)

    def assert_untouched(self) -> None:
        """Fail naming the events when anything in a watched folder was opened or written."""
        events = self.events()
        assert not events, f"files outside the allowed folders were touched: {events[:10]}"

    def close(self) -> None:
        """Stop watching."""
        os.close(self.fd)


_LABELS = (
    (IN_OPEN, "open"), (IN_ACCESS, "read"), (IN_MODIFY, "write"), (IN_CLOSE_WRITE, "close-write"),
    (IN_ATTRIB, "attrib"), (IN_CREATE, "create"), (IN_DELETE, "delete"), (IN_MOVED_FROM, "moved-from"),
    (IN_MOVED_TO, "moved-to"), (IN_ISDIR, "dir"),
)  # fmt: skip
