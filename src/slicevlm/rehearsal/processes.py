"""Run one rehearsal phase as its own process group and measure it: wall time and peak memory.

Peak memory is the largest peak resident set (``VmHWM``) of any process of the group, polled from
``/proc`` while it runs, and the leader's own peak from ``wait4`` when it ends (nothing is missed
between polls for the leader). The resident set counts the pages of memory-mapped weight files
(safetensors are mapped, not copied), which the kernel may drop and read again; the largest
private (anonymous) resident memory seen by the polls is reported beside it. A phase can be killed with SIGKILL when a condition becomes true
(the rehearsal's crash-and-resume check), and is stopped with SIGKILL when it overruns its time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class PhaseResult:
    """How one phase ran.

    Attributes:
        name: The phase.
        command: The command line.
        wall_s: Seconds from start to exit.
        peak_rss_mb: Largest peak resident memory of any of its processes, MiB (mapped weight files included).
        peak_anon_mb: Largest private (anonymous) resident memory seen by the polls, MiB.
        returncode: Exit status (negative: the signal that ended it).
        killed: The rehearsal killed it on purpose (crash test) or for overrunning.
        log: The file holding its stdout and stderr.
    """

    name: str
    command: list[str]
    wall_s: float
    peak_rss_mb: float
    returncode: int
    killed: str | None
    log: str
    peak_anon_mb: float = 0.0

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def to_dict(self) -> dict:
        return {**asdict(self), "wall_s": round(self.wall_s, 1), "peak_rss_mb": round(self.peak_rss_mb), "peak_anon_mb": round(self.peak_anon_mb)}


def group_memory_kib(pgid: int) -> tuple[int, int]:
    """``(largest VmHWM, largest RssAnon)`` in KiB among live processes of process group ``pgid``."""
    peak = anonymous = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.getpgid(int(entry)) != pgid:
                continue
            with open(f"/proc/{entry}/status", encoding="ascii", errors="replace") as handle:
                for line in handle:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
                    elif line.startswith("RssAnon:"):
                        anonymous = max(anonymous, int(line.split()[1]))
        except (OSError, ValueError):
            continue
    return peak, anonymous


def run_phase(
    name: str,
    command: Sequence[str],
    log_dir: Path,
    env: dict[str, str] | None = None,
    kill_when: Callable[[int], bool] | None = None,
    timeout_s: float = 3600.0,
    poll_s: float = 0.5,
) -> PhaseResult:
    """Run ``command`` in a new process group, its output in ``log_dir/<name>.log``.

    Args:
        name: Phase name (also the log file's name).
        command: The command line.
        log_dir: Where the log goes.
        env: Environment (default: this process's).
        kill_when: Polled with the process group's id while it runs; when it returns True the group
            gets SIGKILL.
        timeout_s: The group gets SIGKILL after this many seconds.
        poll_s: Seconds between memory polls.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    start = time.perf_counter()
    peak_kib, anon_kib, killed = 0, 0, None
    with open(log, "w", encoding="utf-8") as sink:
        process = subprocess.Popen(list(command), stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if killed is None and kill_when is not None and kill_when(process.pid):  # before the (slow) memory poll
                killed = "killed on purpose (SIGKILL)"
                _kill_group(process.pid)
            elif killed is None and time.perf_counter() - start > timeout_s:
                killed = f"overran {timeout_s:.0f} s (SIGKILL)"
                _kill_group(process.pid)
            peak, anonymous = group_memory_kib(process.pid)
            peak_kib, anon_kib = max(peak_kib, peak), max(anon_kib, anonymous)
            time.sleep(poll_s)
        process.returncode = os.waitstatus_to_exitcode(status)
    _kill_group(process.pid)  # anything it left behind
    peak_kib = max(peak_kib, usage.ru_maxrss)
    return PhaseResult(name, list(command), time.perf_counter() - start, peak_kib / 1024, process.returncode, killed, str(log), anon_kib / 1024)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def log_tail(result: PhaseResult, lines: int = 15) -> str:
    """The last lines of a phase's log (for a failure message)."""
    try:
        text = Path(result.log).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])
