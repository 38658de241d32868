"""The server's process-level defences, in-process where possible: reads under a deadline and a
memory budget (reader processes), the per-client connection cap, the Host check, the security
headers, API keys, stale upload folders."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import Host
from hostile import good_volume
from reader_hooks import PID_FILE_ENV, double, endless_read, resident_hog
from starlette.testclient import TestClient
from test_hostile_server import AUTH, KEY, _check, _gate

from slicevlm.serve.request_gate import GateSettings, RequestGate
from slicevlm.serve.server_limits import ServerLimits
from slicevlm.serve.volume_api import VolumeAPI


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _api_client(host: Host, qa: Any, **limits: Any) -> tuple[TestClient, VolumeAPI]:
    gate, api = _gate(host, qa, **limits)
    return TestClient(gate), api


def _upload(client: TestClient, name: str, data: bytes, **fields: str) -> Any:
    return client.post("/predict", files={"file": (name, data)}, data=fields, headers=AUTH)


def _gone(pid: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


# -- reading under a deadline and a memory budget --------------------------------------------------------
def test_a_read_past_the_deadline_is_504_its_reader_killed_and_the_next_request_answered(
    host: Host, tiny_qa: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid_file = host.work / "reader.pid"
    monkeypatch.setenv(PID_FILE_ENV, str(pid_file))
    client, api = _api_client(host, tiny_qa, decode_timeout_s=1.0)
    try:
        api.read_function = endless_read
        started = time.monotonic()
        late = _upload(client, "slow.npy", _npy(good_volume()), task="preview")
        _check(late, 504, "slow.npy", "--decode-timeout", host=host)
        assert time.monotonic() - started < 30
        assert _gone(int(pid_file.read_text())), "the reader of the late read is still running"
        api.read_function = VolumeAPI(api.settings).read_function  # the real read again
        after = _upload(client, "ct.npy", _npy(good_volume()), task="preview")
        assert after.status_code == 200, after.text
        assert api.readers.replaced >= 1
    finally:
        api.readers.close()


def test_a_read_past_the_memory_budget_is_413_and_the_next_request_answered(host: Host, tiny_qa: Any) -> None:
    client, api = _api_client(host, tiny_qa, decode_memory_mb=8)
    try:
        heavy = _npy(np.random.default_rng(0).random((64, 256, 256)))  # float64: 32 MiB to hold, more to convert
        refused = _upload(client, "heavy.npy", heavy, task="preview")
        _check(refused, 413, "--decode-memory-mb", host=host)
        after = _upload(client, "ct.npy", _npy(good_volume()), task="preview")
        assert after.status_code == 200, after.text
    finally:
        api.readers.close()


def test_a_reader_growing_past_its_resident_budget_is_killed_while_others_finish() -> None:
    """The resident-memory watch alone (the allocation stays under the address-space backstop of
    twice the budget): 413, a fresh reader replaces the killed one, the other read is answered."""
    from slicevlm.serve.reader_pool import ReaderPool

    pool = ReaderPool(2, timeout_s=30, memory_mb=64).start(wait_ready=True)
    try:
        hog, fine = pool.submit(resident_hog, 100), pool.submit(double, 21)
        outcomes = pool.collect([hog, fine])
        assert (outcomes[0].status, outcomes[1].status, outcomes[1].value) == (413, 200, 42), outcomes
        assert "--decode-memory-mb" in outcomes[0].detail and pool.replaced == 1
        assert pool.run(double, 2).value == 4
    finally:
        pool.close()


# -- per-client connection cap ---------------------------------------------------------------------------
def test_one_client_cannot_hold_more_than_its_connections(host: Host) -> None:
    """A real uvicorn server: cap 4, six connections trickling headers from 127.0.0.1; the extra two
    get 503 and are closed, the four are held; once they close, a prompt request is answered."""
    import uvicorn

    from slicevlm.serve.connection import header_deadline_protocol

    async def app(scope: dict, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, http=header_deadline_protocol(30.0, 4), log_level="error", lifespan="off", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    sockets: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        replies = []
        for _ in range(6):
            raw = socket.create_connection(("127.0.0.1", port), timeout=2)
            raw.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            sockets.append(raw)
            time.sleep(0.05)
        for raw in sockets:
            try:
                replies.append(raw.recv(4096))
            except TimeoutError:
                replies.append(None)  # held open, waiting for the rest of its headers
        assert replies[:4] == [None] * 4, replies
        assert all(r is not None and r.startswith(b"HTTP/1.1 503") and b"too many open connections" in r for r in replies[4:]), replies
        for raw in sockets:
            raw.close()
        time.sleep(0.3)
        for _ in range(5):  # the places are given back: more than the cap in a row, one at a time
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                raw.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                assert raw.recv(4096).startswith(b"HTTP/1.1 200")
    finally:
        for raw in sockets:
            raw.close()
        server.should_exit = True
        thread.join(timeout=10)
    host.assert_untouched()


def test_the_server_passes_the_per_client_cap_to_uvicorn() -> None:
    from slicevlm.serve.server import uvicorn_options

    assert uvicorn_options(ServerLimits(max_connections_per_client=3))["http"].max_connections_per_client == 3
    assert uvicorn_options(ServerLimits())["http"].max_connections_per_client == 32
    assert uvicorn_options(ServerLimits(max_connections_per_client=0))["http"].max_connections_per_client == 0
    with pytest.raises(ValueError, match="positive, or 0"):
        ServerLimits(max_connections_per_client=-1)


# -- Host check (DNS rebinding) and security headers -------------------------------------------------------
async def _ok(scope: dict, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.mark.parametrize(
    ("host_header", "status"),
    [
        ("127.0.0.1:8000", 200), ("localhost", 200), ("LOCALHOST:8000", 200), ("[::1]:8000", 200), ("ct.example.org", 200),
        ("evil.example", 421), ("127.0.0.1.evil.example:8000", 421), ("localhost.evil.example", 421), ("", 421),
    ],
)
def test_loopback_answers_only_its_own_host_names(host: Host, host_header: str, status: int) -> None:
    from slicevlm.serve.server import allowed_hosts

    allowed = allowed_hosts("127.0.0.1", ["ct.example.org"])
    client = TestClient(RequestGate(_ok, GateSettings(upload_dir=host.uploads, allowed_hosts=allowed)))
    response = client.get("/health", headers={"Host": host_header})
    assert response.status_code == status, response.text
    if status == 421:
        assert "--allowed-host" in response.json()["detail"]


def test_host_check_is_off_beyond_loopback_unless_names_are_given() -> None:
    from slicevlm.serve.server import allowed_hosts

    assert allowed_hosts("0.0.0.0", []) is None
    assert "ct.example.org" in allowed_hosts("0.0.0.0", ["ct.example.org,pacs.example.org"])  # type: ignore[operator]
    assert "127.0.0.1" in allowed_hosts("127.0.0.1", [])  # type: ignore[operator]
    with pytest.raises(ValueError, match="not a host name"):
        allowed_hosts("0.0.0.0", ["evil/path"])


def test_every_response_carries_the_security_headers_and_the_page_a_csp_allowing_only_its_script(host: Host) -> None:
    import base64
    import hashlib
    import re

    from fastapi import FastAPI

    from slicevlm.serve.web_page import STATIC, add_page

    app = FastAPI()
    app.add_api_route("/health", lambda: "ok", methods=["GET"])
    add_page(app)
    client = TestClient(RequestGate(app, GateSettings(upload_dir=host.uploads, api_key=KEY)))
    page, health, refused = client.get("/"), client.get("/health"), client.post("/predict", json={})
    assert (page.status_code, health.status_code, refused.status_code) == (200, 200, 401)
    for response in (page, health, refused):
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert health.headers["content-security-policy"].startswith("default-src 'none'")
    policy = page.headers["content-security-policy"]
    script = re.search(r"<script>(.*?)</script>", (STATIC / "index.html").read_text(encoding="utf-8"), flags=re.DOTALL).group(1)  # type: ignore[union-attr]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}';" in policy and "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    assert "img-src 'self' data:" in policy and "connect-src 'self'" in policy and "default-src 'none'" in policy


def test_a_json_integer_too_long_to_convert_is_400(host: Host) -> None:
    client = TestClient(RequestGate(_ok, GateSettings(upload_dir=host.uploads, data_dir=host.data, api_key=KEY)))
    np.save(host.data / "ct.npy", good_volume())
    body = b'{"path": "ct.npy", "question": "Which?", "choices": ' + b"9" * 5000 + b"}"
    response = client.post("/predict", content=body, headers={**AUTH, "Content-Type": "application/json"})
    _check(response, 400, "more than 4,300 digits", host=host)


# -- API keys -------------------------------------------------------------------------------------------
def test_api_key_on_the_command_line_is_refused(capsys: pytest.CaptureFixture) -> None:
    from slicevlm.serve.server import main

    with pytest.raises(SystemExit) as stopped:
        main(["--checkpoint", "x", "--api-key", "a-long-enough-secret-key"])
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert "--api-key is not accepted" in error and "SLICEVLM_API_KEY" in error and "--api-key-file" in error


def test_api_key_from_the_environment_or_a_private_file_and_at_least_16_characters(tmp_path: Path) -> None:
    from slicevlm.serve.server import read_api_key

    assert read_api_key(None, {}) is None
    assert read_api_key(None, {"SLICEVLM_API_KEY": "k" * 16}) == "k" * 16
    with pytest.raises(ValueError, match="at least 16"):
        read_api_key(None, {"SLICEVLM_API_KEY": "short-key"})
    key_file = tmp_path / "key"
    key_file.write_text("file-key-0123456789\nsecond line ignored\n", encoding="utf-8")
    key_file.chmod(0o600)
    assert read_api_key(key_file, {}) == "file-key-0123456789"
    with pytest.raises(ValueError, match="both"):
        read_api_key(key_file, {"SLICEVLM_API_KEY": "k" * 16})
    key_file.chmod(0o644)
    with pytest.raises(ValueError, match="readable by other users"):
        read_api_key(key_file, {})
    key_file.write_text("tiny\n", encoding="utf-8")
    key_file.chmod(0o600)
    with pytest.raises(ValueError, match="at least 16"):
        read_api_key(key_file, {})
    with pytest.raises(ValueError, match="cannot be read"):
        read_api_key(tmp_path / "missing", {})


# -- upload folders of killed servers ----------------------------------------------------------------------
def test_stale_upload_folders_of_dead_servers_are_removed_and_nothing_else(tmp_path: Path) -> None:
    from slicevlm.serve.server import UPLOAD_PREFIX, remove_stale_upload_dirs

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    temp, outside = tmp_path / "tmp", tmp_path / "outside"
    temp.mkdir()
    outside.mkdir()
    (outside / "keep.bin").write_bytes(b"keep")
    stale = temp / f"{UPLOAD_PREFIX}{dead.pid}-abc123"
    stale.mkdir()
    (stale / "upload.npy").write_bytes(b"x")
    (stale / "link").symlink_to(outside)  # removed as a link, its target untouched
    (stale / "nested").mkdir()
    live = temp / f"{UPLOAD_PREFIX}{os.getpid()}-def456"
    live.mkdir()
    linked = temp / f"{UPLOAD_PREFIX}{dead.pid}-lnk789"
    linked.symlink_to(outside)
    a_file = temp / f"{UPLOAD_PREFIX}{dead.pid}-file00"
    a_file.write_bytes(b"not ours")
    legacy = temp / f"{UPLOAD_PREFIX}q1w2e3"  # no pid in the name: whose it is cannot be told
    legacy.mkdir()
    other = temp / "someone-else"
    other.mkdir()
    removed = remove_stale_upload_dirs(temp)
    assert removed == [stale]
    assert not stale.exists()
    assert live.is_dir() and linked.is_symlink() and a_file.is_file() and legacy.is_dir() and other.is_dir()
    assert (outside / "keep.bin").read_bytes() == b"keep"
