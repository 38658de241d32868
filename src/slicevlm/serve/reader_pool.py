"""Read untrusted volumes in child processes, each read under a deadline and a memory budget.

Decoding a hostile file can cost far more than its size (a 130 KB ``.nii.gz`` may take gigabytes and
seconds to inflate and convert). The model worker therefore never reads a volume itself: it hands
each read to a small pool of persistent reader processes (spawned, so they share nothing with the
model) and waits for the preprocessed arrays. A reader that is still busy past ``--decode-timeout``
seconds is killed (the request gets 504); one whose resident memory grows more than
``--decode-memory-mb`` beyond its idle size is killed too (413), and its address space is capped
at twice that (``RLIMIT_AS``), so a sudden huge allocation fails at once with ``MemoryError`` (413).
A killed or crashed reader is replaced; the other requests of the batch keep their readers.

A read is a picklable ``(function, args)``; the function runs in the reader and returns a picklable
result, or raises. :func:`classify` turns what it raises into ``(status, message)`` in the reader,
so no exception object ever crosses the pipe.
"""

from __future__ import annotations

import errno
import logging
import multiprocessing
import os
import resource
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

log = logging.getLogger(__name__)

#: How often a busy reader's deadline and memory are checked, in seconds.
POLL_S: float = 0.05
#: A reader that does not report ready within this many seconds of starting is replaced.
START_TIMEOUT_S: float = 120.0
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Outcome:
    """How one read ended: ``value`` when ``status`` is 200, else the HTTP status and a message."""

    status: int
    value: Any = None
    detail: str = ""


def classify(error: BaseException) -> tuple[int, str]:
    """The HTTP status and message for what a read raised (the server's error mapping)."""
    from slicevlm.errors import ConfigError
    from slicevlm.inference.errors import InputError
    from slicevlm.io.errors import DataError, VolumeTooLarge

    if isinstance(error, PermissionError):
        return 403, str(error)
    out_of_memory = isinstance(error, MemoryError) or (isinstance(error, OSError) and error.errno == errno.ENOMEM)
    if isinstance(error, VolumeTooLarge) or out_of_memory or (isinstance(error, RuntimeError) and "can't allocate memory" in str(error)):
        return 413, str(error) if isinstance(error, VolumeTooLarge) and str(error) else "reading this volume needs more memory than this server allows per request (--decode-memory-mb)."
    if isinstance(error, (DataError, InputError, ConfigError)):
        return 400, str(error)
    if isinstance(error, OSError):
        return 400, f"the volume could not be read ({error.strerror or error})."
    log.error("reading a volume failed unexpectedly", exc_info=error)
    return 500, "internal error while reading the volume; the server log has the details."


def _rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as handle:
            return int(handle.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def _vm_bytes() -> int:
    with open("/proc/self/statm", "rb") as handle:
        return int(handle.read().split()[0]) * _PAGE


def _die_with_parent() -> None:
    """Ask Linux to kill this process when the thread that started it ends (best effort)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def reader_main(conn: Connection, memory_bytes: int, timeout_s: float, preload: Sequence[str], die_with_parent: bool) -> None:
    """A reader process: import ``preload``, report ready, then run reads until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the server's to handle; it stops readers itself
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if die_with_parent:
        _die_with_parent()
    import importlib

    for name in preload:
        importlib.import_module(name)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    if memory_bytes > 0:  # a backstop for sudden allocations; the parent watches resident memory
        limit = _vm_bytes() + 2 * memory_bytes
        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
    conn.send(("ready", _rss_bytes(os.getpid())))
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        function, args = task
        signal.setitimer(signal.ITIMER_REAL, timeout_s + 5.0)  # SIGALRM kills this reader if the parent cannot
        try:
            reply: tuple = ("ok", function(*args))
        except BaseException as error:  # noqa: BLE001 - every failure is answered, never raised
            reply = ("error", *classify(error), isinstance(error, MemoryError) or (isinstance(error, OSError) and error.errno == errno.ENOMEM))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        try:
            conn.send(reply)
        except MemoryError:
            conn.send(("error", *classify(MemoryError()), True))
        except (EOFError, OSError):
            return
        if reply[0] == "error" and reply[-1]:
            return  # after a MemoryError the heap may be fragmented: let the pool start a fresh reader


@dataclass
class Ticket:
    """One read: submitted, then running in a reader, then resolved with an :class:`Outcome`."""

    function: Callable[..., Any]
    args: tuple
    outcome: Outcome | None = None
    deadline: float = 0.0
    reader: _Reader | None = field(default=None, repr=False)


class _Reader:
    def __init__(self, context: Any, memory_bytes: int, timeout_s: float, preload: Sequence[str]) -> None:
        self.conn, child = context.Pipe()
        die = threading.current_thread() is threading.main_thread()
        self.process = context.Process(
            target=reader_main, args=(child, memory_bytes, timeout_s, tuple(preload), die), name="slicevlm-reader", daemon=True
        )
        self.process.start()
        child.close()
        self.started = time.monotonic()
        self.ready = False
        self.baseline = 0
        self.ticket: Ticket | None = None

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


class ReaderPool:
    """``size`` reader processes; :meth:`submit` queues reads, :meth:`collect` waits for them.

    Args:
        size: Reader processes.
        timeout_s: Seconds one read may take once a reader starts it (504 past it; the reader is killed).
        memory_mb: MiB of resident memory a reader may add to its idle size during one read (413 past
            it; the reader is killed). 0: no budget.
        preload: Modules each reader imports before it reports ready.
    """

    def __init__(self, size: int, timeout_s: float, memory_mb: float, preload: Sequence[str] = ()) -> None:
        self.size = size
        self.timeout_s = timeout_s
        self.memory_bytes = int(memory_mb * 1024 * 1024)
        self.preload = tuple(preload)
        self._context = multiprocessing.get_context("spawn")
        self._readers: list[_Reader] = []
        self._queue: list[Ticket] = []
        self._start_failures = 0
        self.replaced = 0  # readers killed or lost and replaced (for tests and logs)

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self, wait_ready: bool = False) -> ReaderPool:
        """Start the missing readers; with ``wait_ready`` block until every one is ready."""
        self._readers = [r for r in self._readers if r.process.is_alive() or not r.ready]
        while len(self._readers) < self.size:
            self._readers.append(_Reader(self._context, self.memory_bytes, self.timeout_s, self.preload))
        if wait_ready:
            deadline = time.monotonic() + START_TIMEOUT_S
            while self._readers and not all(r.ready for r in self._readers) and time.monotonic() < deadline:
                self._poll(0.1)
        return self

    def close(self) -> None:
        """Kill every reader (a busy read is abandoned with 503)."""
        for reader in self._readers:
            if reader.ticket is not None and reader.ticket.outcome is None:
                reader.ticket.outcome = Outcome(503, detail="the server is stopping; retry later.")
            reader.kill()
        self._readers = []

    def pids(self) -> list[int]:
        """Process ids of the readers (for tests)."""
        return [r.process.pid for r in self._readers if r.process.pid is not None]

    # -- reads -------------------------------------------------------------------------------------
    def submit(self, function: Callable[..., Any], *args: Any) -> Ticket:
        """Queue ``function(*args)`` for a reader; it starts as soon as one is free."""
        ticket = Ticket(function, args)
        self._queue.append(ticket)
        if len(self._readers) < self.size:
            self._start_failures = 0
            self.start()
        self._dispatch()
        return ticket

    def collect(self, tickets: Sequence[Ticket]) -> list[Outcome]:
        """Wait until every ticket is resolved (each within its own deadline once started)."""
        while any(t.outcome is None for t in tickets):
            self._poll(POLL_S)
        return [t.outcome for t in tickets]  # type: ignore[misc]

    def run(self, function: Callable[..., Any], *args: Any) -> Outcome:
        """One read, waited for."""
        return self.collect([self.submit(function, *args)])[0]

    # -- the loop ----------------------------------------------------------------------------------
    def _dispatch(self) -> None:
        for reader in self._readers:
            if not self._queue:
                return
            if reader.ready and reader.ticket is None:
                ticket = self._queue.pop(0)
                try:
                    reader.conn.send((ticket.function, ticket.args))
                except (OSError, EOFError, BrokenPipeError):
                    self._queue.insert(0, ticket)
                    self._replace(reader, None)
                    continue
                ticket.deadline = time.monotonic() + self.timeout_s
                ticket.reader, reader.ticket = reader, ticket

    def _poll(self, timeout: float) -> None:
        self._dispatch()
        if not self._readers:
            time.sleep(timeout)
            return
        by_conn = {r.conn: r for r in self._readers}
        for conn in wait(list(by_conn), timeout=timeout):
            reader = by_conn[conn]
            try:
                message = conn.recv()
            except (EOFError, OSError):
                self._lost(reader)
                continue
            if message[0] == "ready":
                reader.ready, reader.baseline = True, int(message[1])
                self._start_failures = 0
            elif reader.ticket is not None:
                ticket, reader.ticket = reader.ticket, None
                if message[0] == "ok":
                    ticket.outcome = Outcome(200, message[1])
                else:
                    ticket.outcome = Outcome(message[1], detail=message[2])
                    if message[3]:  # the reader stops after a MemoryError: start its successor now
                        self._replace(reader, None)
        now = time.monotonic()
        for reader in list(self._readers):
            ticket = reader.ticket
            if ticket is not None:
                if now > ticket.deadline:
                    log.warning("a volume read passed %.0f s; killing its reader (pid %s)", self.timeout_s, reader.process.pid)
                    self._replace(reader, Outcome(504, detail=f"reading the volume took longer than {self.timeout_s:g} s (--decode-timeout); it was stopped."))
                elif self.memory_bytes and _rss_bytes(reader.process.pid) - reader.baseline > self.memory_bytes:
                    log.warning("a volume read passed %d MiB; killing its reader (pid %s)", self.memory_bytes >> 20, reader.process.pid)
                    self._replace(reader, Outcome(413, detail=_memory_message(self.memory_bytes)))
            elif not reader.ready and now - reader.started > START_TIMEOUT_S:
                self._lost(reader)
        self._dispatch()

    def _lost(self, reader: _Reader) -> None:
        """A reader's pipe closed: it crashed, ran out of memory, or was killed from outside."""
        code = reader.process.exitcode if not reader.process.is_alive() else None
        if reader.ticket is not None:
            if code is not None and code < 0 and -code in (signal.SIGKILL, signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT):
                outcome = Outcome(413, detail=_memory_message(self.memory_bytes)) if -code == signal.SIGKILL else Outcome(
                    500, detail="the reader stopped while reading the volume; the server log has the details."
                )
            else:
                outcome = Outcome(500, detail="the reader stopped while reading the volume; the server log has the details.")
            log.warning("reader pid %s stopped (exit code %s) while reading a volume", reader.process.pid, code)
        else:
            outcome = None
            if not reader.ready:
                self._start_failures += 1
        self._replace(reader, outcome, respawn=self._start_failures < 3)
        if self._start_failures >= 3 and not self._readers:
            for ticket in self._queue:
                ticket.outcome = Outcome(500, detail="the server's reader processes fail to start; the server log has the details.")
            self._queue.clear()
            self._start_failures = 0

    def _replace(self, reader: _Reader, outcome: Outcome | None, respawn: bool = True) -> None:
        if reader.ticket is not None and outcome is not None:
            reader.ticket.outcome = outcome
        reader.ticket = None
        reader.kill()
        if reader in self._readers:
            self._readers.remove(reader)
        self.replaced += 1
        if respawn:
            self._readers.append(_Reader(self._context, self.memory_bytes, self.timeout_s, self.preload))


def _memory_message(budget: int) -> str:
    return f"reading this volume needs more than {budget >> 20} MiB of memory (--decode-memory-mb); it was stopped."


#: What a volume reader imports before it reports ready (so the first read is not slower).
VOLUME_PRELOAD: tuple[str, ...] = ("slicevlm.inference.volumes", "slicevlm.io.readers", "slicevlm.io.recipe", "slicevlm.io.geometry")


def read_volume(path: str, input_size: tuple[int, int, int], recipe: Any, limits: Any) -> dict[str, Any]:
    """Read and preprocess one volume (in a reader): ``PreparedVolume`` fields, the tensor as a NumPy array."""
    from slicevlm.inference.volumes import prepare_volume

    prepared = prepare_volume(path, input_size, recipe, limits)
    fields = dict(prepared.__dict__)
    fields["tensor"] = prepared.tensor.contiguous().numpy()
    return fields


def prepared_volume(fields: dict[str, Any]) -> Any:
    """The ``PreparedVolume`` a reader's :func:`read_volume` described (in the worker)."""
    import torch

    from slicevlm.inference.volumes import PreparedVolume

    return PreparedVolume(**{**fields, "tensor": torch.from_numpy(fields["tensor"])})
