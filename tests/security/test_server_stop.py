"""The real server process: one SIGINT to its group (Ctrl+C) or one SIGTERM to its main process stops
every process of it within seconds, frees the port, and leaves no traceback or leaked-semaphore
warning; the upload folder a killed server leaves is removed by the next server."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import pytest

from slicevlm.serve.server_process import ServerProcess

STOP_WITHIN_S = 10.0


def _group(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": state ppid pgrp ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(entry))
    return found


@pytest.fixture(scope="module")
def checkpoint(tiny_checkpoint: Path) -> Path:
    return tiny_checkpoint


def _start(checkpoint: Path, tmp: Path, log: Path) -> ServerProcess:
    args = ["--checkpoint", checkpoint, "--max-new-tokens", "4", "--log-level", "warning", "--decode-workers", "1"]
    return ServerProcess(args, log_path=log, env={"TMPDIR": str(tmp)}).start()


def _check_host_and_headers(server: ServerProcess) -> None:
    """The running server on 127.0.0.1 refuses another site's Host name and sends the security headers."""
    import requests

    rebound = requests.get(server.url + "/health", headers={"Host": f"attacker.example:{server.port}"}, timeout=5)
    assert rebound.status_code == 421, rebound.text
    health = requests.get(server.url + "/health", timeout=5)
    assert health.status_code == 200 and health.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in health.headers["content-security-policy"]


@pytest.mark.parametrize("how", ["sigint-to-group", "sigterm-to-main"])
def test_one_signal_stops_every_process(checkpoint: Path, tmp_path: Path, how: str) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    server = _start(checkpoint, tmp, tmp_path / "server.log")
    pgid = server.process.pid  # type: ignore[union-attr]
    try:
        assert len(_group(pgid)) >= 4, "expected the main process, LitServe's processes and a reader"
        _check_host_and_headers(server)
        if how == "sigint-to-group":
            os.killpg(pgid, signal.SIGINT)
        else:
            os.kill(pgid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_WITHIN_S
        while _group(pgid) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = _group(pgid)
        assert not left, f"still running {STOP_WITHIN_S:g} s after the signal: {left}\n{server.log_tail()}"
        assert server.process.wait(timeout=5) == 0  # type: ignore[union-attr]
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
        log = server.log_tail(200_000)
        assert "Traceback" not in log and "leaked semaphore" not in log, log
        assert not list(tmp.glob("slicevlm-uploads-*")), "the upload folder outlived the server"
    finally:
        server.stop(grace=2)


def test_the_upload_folder_of_a_killed_server_is_removed_by_the_next(checkpoint: Path, tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    killed = _start(checkpoint, tmp, tmp_path / "killed.log")
    pgid = killed.process.pid  # type: ignore[union-attr]
    os.killpg(pgid, signal.SIGKILL)
    killed.process.wait(timeout=10)  # type: ignore[union-attr]
    left = list(tmp.glob("slicevlm-uploads-*"))
    assert len(left) == 1 and left[0].name.startswith(f"slicevlm-uploads-{pgid}-"), left
    (left[0] / "half-written.npy").write_bytes(b"x")
    deadline = time.monotonic() + 10
    while _group(pgid) and time.monotonic() < deadline:  # its readers and workers die with it
        time.sleep(0.1)
    following = _start(checkpoint, tmp, tmp_path / "next.log")
    try:
        assert not left[0].exists(), "the killed server's upload folder was not removed"
        names = [p.name for p in tmp.glob("slicevlm-uploads-*")]
        assert [n.split("-")[2] for n in names] == [str(following.process.pid)], names  # type: ignore[union-attr]
    finally:
        following.stop()
