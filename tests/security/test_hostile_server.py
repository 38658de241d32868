"""Hostile requests against the server: the request gate and the model worker, in-process.

The app under test is the real ``RequestGate`` in front of the real ``VolumeAPI`` (decode_request,
predict, encode_response) with the tiny checkpoint; only LitServe's queue between them is left out
(the end-to-end server is in ``tests/serving``). Every case asserts the status, the message, that
the upload folder is empty afterwards and that nothing outside the allowed folders was touched.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest
from conftest import Host
from hostile import (
    SECRET,
    good_volume,
    mha_header,
    nifti,
    nifti_gz_bomb,
    nrrd_header,
    png_slices,
    symlink_member,
    zip_bytes,
    zip_declaring,
)
from slicevlm.serve.request_gate import GateSettings, RequestGate
from slicevlm.serve.server_limits import ServerLimits
from starlette.testclient import TestClient
from slicevlm.serve.volume_api import ServeSettings, VolumeAPI

pytestmark = pytest.mark.filterwarnings("ignore:Duplicate name:UserWarning")  # zips built with duplicates on purpose

KEY = "hostile-test-key"
AUTH = {"X-API-Key": KEY}


class WorkerTwin:
    """The LitServe worker's steps in-process: decode_request → predict → encode_response."""

    def __init__(self, api: VolumeAPI) -> None:
        self.api = api

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        job = await anyio.to_thread.run_sync(self.api.decode_request, json.loads(body))
        result = await anyio.to_thread.run_sync(lambda: self.api.predict([job])[0])
        await self.api.encode_response(result)(scope, receive, send)


def _gate(host: Host, qa: Any, **limit_overrides: Any) -> tuple[RequestGate, VolumeAPI]:
    limits = ServerLimits(**limit_overrides)
    settings = GateSettings(upload_dir=host.uploads, limits=limits, data_dir=host.data, api_key=KEY)
    serve = ServeSettings(
        checkpoint="tiny", upload_dir=str(host.uploads), upload_token=settings.upload_token, data_dir=str(host.data), limits=limits
    )
    api = VolumeAPI(serve)
    api.qa = qa
    return RequestGate(WorkerTwin(api), settings), api


class _LazyQA:
    """The tiny model, loaded only when a request gets as far as the worker."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self._request = request
        self._qa: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._qa is None:
            self._qa = self._request.getfixturevalue("tiny_qa")
        return getattr(self._qa, name)


@pytest.fixture
def client(host: Host, request: pytest.FixtureRequest) -> TestClient:
    gate, _ = _gate(host, _LazyQA(request), max_unpacked_mb=8, max_zip_files=50)
    return TestClient(gate)


def _upload(client: TestClient, name: str, data: bytes, **fields: str) -> Any:
    return client.post("/predict", files={"file": (name, data)}, data=fields, headers=AUTH)


def _check(response: Any, status: int, *fragments: str, host: Host) -> str:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    for fragment in fragments:
        assert fragment in detail, detail
    for folder in (host.uploads, host.data):
        assert str(folder) not in detail, "a server-side path leaked into the message"
    assert SECRET[:11].decode() not in response.text
    assert not list(host.uploads.iterdir()), "an upload outlived its request"
    host.assert_untouched()
    return detail


# -- uploads that try to read the host ---------------------------------------------------------------
UPLOADS = [
    ("mha-names-host-file", lambda h: ("ct.mha", mha_header(h.work / "x.mha", str(h.secret)).read_bytes()), 400, ("ct.mha", "carry their pixel data inside")),
    ("mha-names-relative-file", lambda h: ("ct.mha", mha_header(h.work / "x.mha", "../host/secret.bin").read_bytes()), 400, ("carry their pixel data inside",)),
    ("nrrd-names-host-file", lambda h: ("ct.nrrd", nrrd_header(h.work / "x.nrrd", f"data file: {h.secret}").read_bytes()), 400, ("ct.nrrd", "carry their pixel data inside")),
    ("nifti-gz-bomb", lambda h: ("bomb.nii.gz", nifti_gz_bomb(h.work / "b.nii.gz").read_bytes()), 413, ("bomb.nii.gz", "refusing to allocate", "--max-voxels")),
    ("nifti-pair-magic", lambda h: ("ct.nii", nifti(h.work / "x.nii", (16, 16, 16), magic=b"ni1\0").read_bytes()), 400, ("single-file NIfTI",)),
    ("nifti-truncated", lambda h: ("ct.nii", nifti(h.work / "x.nii", (16, 16, 16), data=b"\0" * 10).read_bytes()), 400, ("truncated",)),
    ("npy-garbage", lambda h: ("ct.npy", b"\x93NUMPY\x01\x00garbage"), 400, ("ct.npy", "not a readable .npy")),
    ("npy-nan", lambda h: ("ct.npy", _npy(np.full((8, 16, 16), np.nan, np.float32))), 400, ("NaN",)),
    ("npy-4d", lambda h: ("ct.npy", _npy(np.ones((2, 4, 16, 16), np.float32))), 400, ("4D input",)),
    ("dcm-not-dicom", lambda h: ("ct.dcm", mha_header(h.work / "x.dcm", str(h.secret)).read_bytes()), 400, ("no DICM preamble",)),
    ("zip-duplicate-members", lambda h: ("s.zip", zip_bytes(png_slices(2) + png_slices(1))), 400, ("two members named",)),
    ("zip-300-char-name", lambda h: ("s.zip", zip_bytes([("series/" + "a" * 300 + ".png", b"x")])), 400, ("longer than 200 bytes",)),
    ("zip-file-folder-clash", lambda h: ("s.zip", zip_bytes([("series", b"x"), ("series/1.png", b"y")])), 400, ("both a file and a folder",)),
    ("zip-climbs-out", lambda h: ("s.zip", zip_bytes([("../../evil.png", b"x")])), 400, ("points outside the archive",)),
    ("zip-absolute-member", lambda h: ("s.zip", zip_bytes([(f"{h.root}/evil.png", b"x")])), 400, ("points outside the archive",)),
    ("zip-backslash-climb", lambda h: ("s.zip", zip_bytes([("a\\..\\..\\evil.png", b"x")])), 400, ("points outside the archive",)),
    ("zip-drive-letter", lambda h: ("s.zip", zip_bytes([("C:/evil.png", b"x")])), 400, ("points outside the archive",)),
    ("zip-symlink-member", lambda h: ("s.zip", zip_bytes([symlink_member("series/1.png", str(h.secret))])), 400, ("symbolic link",)),
    ("zip-control-character", lambda h: ("s.zip", zip_bytes([("series/1\n.png", b"x")])), 400, ("control characters",)),
    ("zip-declares-1.9-GiB", lambda h: ("s.zip", zip_declaring(int(1.9 * 2**30))), 413, ("2,040,109,465 bytes", "--max-unpacked-mb")),
    ("zip-unpacks-past-cap", lambda h: ("s.zip", zip_bytes([(f"series/{i}.png", bytes(1 << 20)) for i in range(12)])), 413, ("--max-unpacked-mb",)),
    ("zip-too-many-files", lambda h: ("s.zip", zip_bytes([(f"series/{i}.png", b"x") for i in range(60)])), 400, ("60 files", "--max-zip-files")),
    ("zip-not-a-zip", lambda h: ("s.zip", b"PK\x03\x04 truncated"), 400, ("cannot be read",)),
    ("zip-slices-link-free-but-unreadable", lambda h: ("s.zip", zip_bytes([("series/1.png", b"not a png"), ("series/2.png", b"no")])), 400, ("not a readable image",)),
]


def _npy(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@pytest.mark.parametrize(("builder", "status", "fragments"), [c[1:] for c in UPLOADS], ids=[c[0] for c in UPLOADS])
def test_hostile_upload(host: Host, client: TestClient, builder: Any, status: int, fragments: tuple[str, ...]) -> None:
    name, data = builder(host)
    host.watch.events()
    host.watch.seen.clear()  # building the file wrote in work/; only the request counts
    response = _upload(client, name, data, task="preview")
    _check(response, status, *fragments, host=host)


def test_a_good_upload_still_answers(host: Host, client: TestClient) -> None:
    response = _upload(client, "ct.npy", _npy(good_volume()), question="Which organ?", choices="liver,spleen")
    assert response.status_code == 200, response.text
    assert response.json()["original_shape"] == [8, 16, 16]
    zipped = _upload(client, "series.zip", zip_bytes(png_slices(4)), task="preview")
    assert zipped.status_code == 200, zipped.text
    assert not list(host.uploads.iterdir())
    host.assert_untouched()


# -- paths under --data-dir ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("make", "status", "fragment"),
    [
        (lambda h: "../host/secret.bin", 403, "leaves the server's data folder"),
        (lambda h: str(h.secret), 403, "is absolute"),
        (lambda h: (h.data / "link.npy").symlink_to(h.secret) or "link.npy", 403, "leaves the server's data folder"),
        (lambda h: mha_header(h.data / "ct.mha", str(h.secret)).name, 400, "is an absolute path"),
        (lambda h: mha_header(h.data / "ct.mha", "../host/secret.bin").name, 400, "climbs out"),
    ],
    ids=["climb", "absolute", "link-out", "mha-names-host-file", "mha-climbs"],
)
def test_hostile_path(host: Host, client: TestClient, make: Any, status: int, fragment: str) -> None:
    path = make(host)
    host.watch.events()
    host.watch.seen.clear()
    response = client.post("/predict", json={"path": path, "task": "preview"}, headers=AUTH)
    _check(response, status, fragment, host=host)


@pytest.mark.parametrize("kind", ["path", "mha"])
def test_path_errors_do_not_reveal_what_exists_on_the_host(host: Host, client: TestClient, kind: str) -> None:
    details = []
    for target in (host.secret, host.host_dir / "missing.bin"):
        if kind == "path":
            path = f"../host/{target.name}"
        else:
            path = mha_header(host.data / "ct.mha", str(target)).name
        response = client.post("/predict", json={"path": path, "task": "preview"}, headers=AUTH)
        details.append((response.status_code, response.json()["detail"].replace(target.name, "NAME")))
    assert details[0] == details[1]
    host.assert_untouched()


# -- malformed requests --------------------------------------------------------------------------------
def _multipart(fields: dict[str, bytes], boundary: str = "B") -> tuple[bytes, dict[str, str]]:
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value + b"\r\n" for name, value in fields.items()
    )
    return body + f"--{boundary}--\r\n".encode(), {**AUTH, "Content-Type": f"multipart/form-data; boundary={boundary}"}


def _parts(parts: list[tuple[str, str | None, bytes]], closed: bool = True) -> dict[str, Any]:
    """A multipart body of ``(name, filename or None, data)`` parts, repeats allowed; ``closed=False``
    leaves out the closing boundary (a truncated upload)."""
    body = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--B\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    return {"content": body + (b"--B--\r\n" if closed else b""), "headers": {**AUTH, "Content-Type": "multipart/form-data; boundary=B"}}


REQUESTS = [
    ("json-100k-deep", lambda h: {"content": b"[" * 100_000 + b"]" * 100_000, "headers": {**AUTH, "Content-Type": "application/json"}}, 400, "nested too deeply"),
    ("json-lone-surrogate-question", lambda h: {"content": b'{"path": "ct.npy", "question": "What \\udcff?"}', "headers": {**AUTH, "Content-Type": "application/json"}}, 400, "not valid UTF-8"),
    ("json-not-utf8", lambda h: {"content": b'{"path": "ct.npy", "question": "\xff"}', "headers": {**AUTH, "Content-Type": "application/json"}}, 400, "not valid JSON"),
    ("multipart-question-not-utf8", lambda h: dict(zip(("content", "headers"), _multipart({"question": b"Which \xff organ?", "path": b"ct.npy"}))), 400, "not valid UTF-8"),
    ("form-question-not-utf8", lambda h: {"content": b"path=ct.npy&question=%FF%FE", "headers": {**AUTH, "Content-Type": "application/x-www-form-urlencoded"}}, 400, "cannot be parsed"),
    ("question-with-image-marker", lambda h: {"json": {"path": "ct.npy", "question": "Is <image> abnormal?"}}, 400, "reserved marker '<image>'"),
    ("choice-with-image-marker", lambda h: {"json": {"path": "ct.npy", "question": "Which?", "choices": ["liver", "<image>"]}}, 400, "reserved marker"),
    ("question-too-long", lambda h: {"json": {"path": "ct.npy", "question": "why " * 400}}, 400, "at most 1000"),
    ("json-body-over-cap", lambda h: {"content": b'{"question": "' + b"a" * 300_000 + b'"}', "headers": {**AUTH, "Content-Type": "application/json"}}, 413, "exceeds"),
    ("bad-content-length", lambda h: {"content": b"{}", "headers": {**AUTH, "Content-Type": "application/json", "Content-Length": "-5"}}, 400, "not a number"),
    ("path-with-lone-surrogate", lambda h: {"content": b'{"path": "ct\\udcff.npy", "task": "report"}', "headers": {**AUTH, "Content-Type": "application/json"}}, 403, "not UTF-8"),
    ("multipart-truncated", lambda h: _parts([("path", None, b"ct.npy"), ("task", None, b"report")], closed=False), 400, "truncated upload"),
    ("multipart-field-twice", lambda h: _parts([("path", None, b"ct.npy"), ("path", None, b"ct.npy")]), 400, "given twice"),
    ("multipart-unknown-field", lambda h: _parts([("path", None, b"ct.npy"), ("volume", None, b"x")]), 400, "unknown form field 'volume'"),
    ("multipart-file-in-other-field", lambda h: _parts([("path", "ct.npy", _npy(good_volume()))]), 400, "send the volume in the 'file' field"),
    ("multipart-file-without-filename", lambda h: _parts([("file", None, _npy(good_volume()))]), 400, "has no filename"),
    ("multipart-two-files", lambda h: _parts([("file", "a.npy", _npy(good_volume())), ("file", "b.npy", _npy(good_volume()))]), 400, "Too many files"),
    ("multipart-fields-over-cap", lambda h: _parts([("question", None, b"a" * 40_000), ("choices", None, b"b" * 40_000)]), 413, "form fields exceed"),
    ("forged-upload-reference", lambda h: {"json": {"path": "ct.npy", "volume": {"kind": "upload", "path": str(h.secret)}}}, 400, "unknown field"),
]


@pytest.mark.parametrize(("make", "status", "fragment"), [c[1:] for c in REQUESTS], ids=[c[0] for c in REQUESTS])
def test_malformed_request(host: Host, client: TestClient, make: Any, status: int, fragment: str) -> None:
    np.save(host.data / "ct.npy", good_volume())
    kwargs = make(host)
    kwargs.setdefault("headers", AUTH)
    response = client.post("/predict", **kwargs)
    _check(response, status, fragment, host=host)


def test_worker_refuses_a_forged_upload_reference(host: Host, tiny_qa: Any) -> None:
    """A request that reaches the worker without the gate's token never reads the file it names."""
    _, api = _gate(host, tiny_qa)
    failure = api.decode_request({"task": "preview", "volume": {"kind": "upload", "path": str(host.secret), "token": "guess"}})
    assert failure.status == 403 and "not issued by this server" in failure.detail
    host.assert_untouched()


# -- one bad request fails alone -----------------------------------------------------------------------
def test_a_request_the_model_cannot_answer_fails_alone_in_its_batch(host: Host, tiny_qa: Any) -> None:
    """Even a request that slipped past every check (here: an instruction holding the image marker)
    gets its own 400 while its batch neighbours are answered."""
    _, api = _gate(host, tiny_qa)
    np.save(host.data / "ct.npy", good_volume())
    jobs = [api.decode_request({"task": "ask", "question": f"Question {i}?", "choices": [], "volume": {"kind": "path", "path": "ct.npy"}}) for i in range(3)]
    jobs[1].instruction = "What is <image> here?"
    results = api.predict(jobs)
    assert [r.status for r in results] == [200, 400, 200]
    assert "<image>" in results[1].content["detail"] and results[0].content["question"] == "Question 0?"
    host.assert_untouched()


# -- time and load limits (plain ASGI calls: the gate alone) -------------------------------------------
async def _call(gate: RequestGate, body_parts: list[tuple[float, bytes]], headers: list[tuple[bytes, bytes]]) -> list[dict]:
    """One POST /predict through the gate; body parts arrive after the given delays."""
    sent: list[dict] = []
    parts = list(body_parts)

    async def receive() -> dict:
        if not parts:
            await anyio.sleep(3600)
        delay, data = parts.pop(0)
        await anyio.sleep(delay)
        return {"type": "http.request", "body": data, "more_body": bool(parts)}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/predict", "headers": [(b"x-api-key", KEY.encode()), *headers]}
    await gate(scope, receive, send)
    return sent


def _status(sent: list[dict]) -> tuple[int, dict[bytes, bytes], dict]:
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), json.loads(body)


class _Blocking:
    """An app that holds every request until released (a busy model)."""

    def __init__(self) -> None:
        self.release: anyio.Event | None = None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        assert self.release is not None
        await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


def test_a_full_queue_sheds_load_with_503_and_retry_after(host: Host) -> None:
    app = _Blocking()
    gate = RequestGate(app, GateSettings(upload_dir=host.uploads, limits=ServerLimits(max_queue=2, retry_after_s=7), data_dir=host.data, api_key=KEY))
    np.save(host.data / "ct.npy", good_volume())
    body = [(0.0, b'{"path": "ct.npy", "task": "report"}')]
    json_type = [(b"content-type", b"application/json")]
    results: dict[str, list] = {"admitted": []}

    async def admitted() -> None:
        results["admitted"].append(await _call(gate, list(body), json_type))

    async def main() -> None:
        app.release = anyio.Event()
        async with anyio.create_task_group() as group:
            for _ in range(2):
                group.start_soon(admitted)
            await anyio.sleep(0.2)  # both admitted and waiting for the model
            with anyio.move_on_after(10):  # without a bound the gate would hold this one as well
                results["shed"] = await _call(gate, list(body), json_type)
            app.release.set()
        results["after"] = await _call(gate, list(body), json_type)  # places are given back

    anyio.run(main)
    assert "shed" in results, "a third request was admitted while two were in progress"
    status, headers, detail = _status(results["shed"])
    assert status == 503 and headers[b"retry-after"] == b"7" and "busy" in detail["detail"]
    assert [_status(r)[0] for r in [*results["admitted"], results["after"]]] == [200, 200, 200]
    assert gate.admission.active == 0
    host.assert_untouched()


@pytest.mark.parametrize(
    ("parts", "limits"),
    [([(0.0, b'{"path": '), (1.0, b'"ct.npy"}')], {"idle_timeout_s": 0.2}), ([(0.15, b"{")] * 5 + [(0.0, b"}")], {"body_timeout_s": 0.5})],
    ids=["pause-over-idle-timeout", "trickle-past-body-timeout"],
)
def test_a_slow_body_gets_408(host: Host, parts: list, limits: dict) -> None:
    gate = RequestGate(_Blocking(), GateSettings(upload_dir=host.uploads, limits=ServerLimits(**limits), data_dir=host.data, api_key=KEY))
    sent = anyio.run(_call, gate, parts, [(b"content-type", b"application/json")])
    status, headers, detail = _status(sent)
    assert status == 408 and headers[b"connection"] == b"close" and "too slowly" in detail["detail"]
    assert gate.admission.active == 0
    host.assert_untouched()


def test_slow_headers_and_silent_connections_are_cut_off(host: Host) -> None:
    """A real uvicorn server with the header-deadline protocol: slowloris clients get 408 and a close."""
    import uvicorn
    from slicevlm.serve.connection import header_deadline_protocol

    async def slow_app(scope: dict, receive: Any, send: Any) -> None:
        await anyio.sleep(1.0)  # answering takes longer than the header deadline
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    gate = RequestGate(slow_app, GateSettings(upload_dir=host.uploads, data_dir=host.data, api_key=KEY))
    config = uvicorn.Config(
        gate, host="127.0.0.1", port=0, http=header_deadline_protocol(0.5), log_level="error", lifespan="off", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        for opening in (b"POST /predict HTTP/1.1\r\nHost: x\r\nX-Slow: ", b""):  # trickling headers; nothing at all
            with socket.create_connection(("127.0.0.1", port), timeout=20) as raw:
                raw.sendall(opening)
                reply = b""
                while chunk := raw.recv(4096):
                    reply += chunk
                assert reply.startswith(b"HTTP/1.1 408"), reply
        with socket.create_connection(("127.0.0.1", port), timeout=20) as raw:  # a prompt client is unaffected
            raw.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert raw.recv(4096).startswith(b"HTTP/1.1 200")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    host.assert_untouched()


def test_api_key_is_on_by_default_beyond_loopback(capsys: pytest.CaptureFixture) -> None:
    from slicevlm.serve import server as server_module

    parser = server_module.build_parser()
    public = parser.parse_args(["--checkpoint", "x", "--host", "0.0.0.0"])
    public.api_key = None
    key = server_module.resolve_api_key(public)
    assert key and len(key) >= 24 and key in capsys.readouterr().err
    loopback = parser.parse_args(["--checkpoint", "x"])
    loopback.api_key = None
    assert server_module.resolve_api_key(loopback) is None
    opted_out = parser.parse_args(["--checkpoint", "x", "--host", "0.0.0.0", "--no-api-key"])
    opted_out.api_key = None
    assert server_module.resolve_api_key(opted_out) is None


def test_docs_limits_table_is_the_server_limits() -> None:
    from slicevlm.serve.server_limits import limits_table

    repo = Path(__file__).resolve().parents[2]
    serving = (repo / "docs" / "serving.md").read_text(encoding="utf-8")
    assert limits_table() in serving, "docs/serving.md's limits table differs from server_limits.limits_table(); paste the new one"
    header = limits_table().splitlines()[0]
    copies = [p.relative_to(repo).as_posix() for p in [repo / "README.md", *sorted((repo / "docs").glob("*.md"))]
              if header in p.read_text(encoding="utf-8")]
    assert copies == ["docs/serving.md"], f"the limits table belongs in docs/serving.md alone, found in {copies}"
