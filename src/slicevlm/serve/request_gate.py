"""The ASGI middleware in front of LitServe: API key, load shedding, limits, uploads to disk.

Every request passes here first (it is registered through ``LitServer(middlewares=...)``):

- with an API key configured, anything but the page, ``/health`` and ``/info`` needs ``X-API-Key``
  (401 otherwise);
- at most ``--max-queue`` ``POST /predict`` requests are admitted at once (uploading, queued or
  being answered); the next one is answered ``503`` with ``Retry-After`` at once, before its body
  is read (load shedding);
- a request body must arrive within ``--body-timeout`` seconds, with no pause over
  ``--idle-timeout`` (408 otherwise; slow headers are cut off by ``connection.py``);
- ``POST /predict`` is checked and rewritten before LitServe sees it: a multipart upload is parsed
  by Starlette's form parser (``uploads.UploadForm``) and its file streamed into the private upload
  folder (413 past ``--max-upload-mb``, 415 for an unknown suffix, 400 for a malformed body), a JSON
  or urlencoded body is read through Starlette's ``Request``, the question and choices are validated (400), a
  ``path`` must resolve inside ``--data-dir`` (403) and exist (404), the preprocessing fields
  (``window``, ``reorient``, ``axis``, ``crop``, ``depth``, ``slice_spacing``) must name valid choices (400); the volume's header is then
  checked by hand (413 past ``--max-voxels``, 400 for a header naming another file, a pair-file
  NIfTI, a truncated file ...), so a bad volume is refused before it is queued for the model;
  LitServe then receives a small JSON request naming the volume on disk, so no upload ever crosses a
  process queue;
- the upload (and a zip's unpacked folder) is deleted when the response has been sent, when the
  request fails, and when the client disconnects mid-upload.

A refused request's body is read and discarded (up to a cap, within the body timeouts) before the
error is sent, so a client that writes its whole body before reading gets the status instead of a
reset connection; a shed request (503) is answered at once and its connection closed. Messages
never name server-side paths: an upload is named by the client's file name, a path by the client's
own text.

The parsing is Starlette's; what stays here is what must happen before a route runs (the key and
the admission, before any body byte is read) and what Starlette's ``Request`` has no option for
(a cap on the whole body while it streams, body deadlines).
"""

from __future__ import annotations

import json
import logging
import secrets
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import anyio
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse

from slicevlm.serve.server_limits import MAX_SMALL_BODY, ServerLimits
from slicevlm.io.recipe import overrides_from_fields
from slicevlm.errors import ConfigError
from slicevlm.inference.errors import InputError
from slicevlm.io.errors import DataError, VolumeTooLarge, did_you_mean
from slicevlm.inference.instructions import parse_choices, resolve_request
from slicevlm.io.headers import check_header
from slicevlm.inference.paths import resolve_under
from slicevlm.serve.uploads import FORM_FIELDS, UploadForm, UploadRejected, extract_zip, public_message, remove_upload

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

TASKS: tuple[str, ...] = ("ask", "report", "preview")
#: A refused body is drained up to this many bytes before the error is sent; past it, the
#: connection is answered and closed.
DRAIN_LIMIT: int = 16 * 1024 * 1024


@dataclass(frozen=True)
class GateSettings:
    """What the gate enforces.

    Attributes:
        upload_dir: private folder uploads are written to (mode 0700, removed at shutdown).
        limits: sizes, timeouts and the admission bound (:class:`ServerLimits`).
        upload_token: secret the gate stamps on uploads, so the worker reads only files it wrote.
        data_dir: folder clients may name volumes in (``path``); None refuses paths.
        api_key: required ``X-API-Key``; None disables the check.
        allowed_hosts: Host header names answered (without the port); others get 421. None: no check.
        api_path: LitServe's prediction route.
        public_paths: routes reachable without the key (the page, health, info).
    """

    upload_dir: Path
    limits: ServerLimits = field(default_factory=ServerLimits)
    upload_token: str = field(default_factory=lambda: secrets.token_hex(16))
    data_dir: Path | None = None
    api_key: str | None = None
    allowed_hosts: tuple[str, ...] | None = None
    api_path: str = "/predict"
    public_paths: tuple[str, ...] = ("/", "/health", "/info", "/favicon.ico")


class _Body:
    """The request's ``receive`` with the caps Starlette's ``Request`` lacks, which reads through it.

    Starlette's ``Request.stream`` / ``body`` and form parser have neither a cap on the whole body
    (``max_part_size`` bounds text fields, not a streamed file or a chunked body with no
    Content-Length) nor deadlines, so they are added here: past ``limit`` bytes 413, a pause over
    ``--idle-timeout`` or a body slower than ``--body-timeout`` 408. A disconnect passes through
    (Starlette raises ``ClientDisconnect``).
    """

    def __init__(self, receive: Receive, limit: int, limits: ServerLimits) -> None:
        self.raw = receive
        self.limit = limit
        self.idle_timeout = limits.idle_timeout_s
        self.total_timeout = limits.body_timeout_s
        self.received = 0
        self.done = False
        self.timed_out = False
        self._deadline: float | None = None

    async def receive(self) -> Message:
        """The next message; once the body is complete, waits for the disconnect as ASGI servers do."""
        if self.done:
            return await self.raw()
        message = await self._next()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            self.done = not message.get("more_body", False)
            if self.received > self.limit:
                raise UploadRejected(413, f"request body exceeds {self.limit:,} bytes; the server accepts at most {self.limit:,} (--max-upload-mb).")
        return message

    async def _next(self) -> Message:
        """The next message, or 408 when it is later than the idle or total deadline allows."""
        now = anyio.current_time()
        if self._deadline is None:
            self._deadline = now + self.total_timeout
        try:
            with anyio.fail_after(max(0.0, min(self.idle_timeout, self._deadline - now))):
                return await self.raw()
        except TimeoutError:
            self.timed_out = True
            raise UploadRejected(
                408,
                f"the request body arrived too slowly; send it within {self.total_timeout:g} s with no pause longer "
                f"than {self.idle_timeout:g} s (--body-timeout, --idle-timeout).",
            ) from None

    async def drain(self) -> bool:
        """Discard the rest of the body (up to DRAIN_LIMIT, within the timeouts); True when it was all read."""
        drained = 0
        try:
            while not self.done and not self.timed_out and drained < DRAIN_LIMIT:
                message = await self._next()
                if message["type"] == "http.disconnect":
                    raise ClientDisconnect()
                drained += len(message.get("body", b""))
                self.done = not message.get("more_body", False)
        except UploadRejected:
            return False
        return self.done


class Admission:
    """At most ``capacity`` requests in progress at once (one event loop: no lock needed)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.active = 0

    def enter(self) -> bool:
        """Take a place; False when all are taken."""
        if self.active >= self.capacity:
            return False
        self.active += 1
        return True

    def leave(self) -> None:
        """Give a place back."""
        self.active -= 1


class RequestGate:
    """ASGI middleware enforcing :class:`GateSettings` (see the module docstring).

    Args:
        app: the wrapped ASGI app (LitServe's FastAPI app).
        settings: the limits.
    """

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], settings: GateSettings) -> None:
        self.app = app
        self.settings = settings
        self.admission = Admission(settings.limits.max_queue)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {key.lower(): value for key, value in scope.get("headers", [])}
        body = _Body(receive, self.settings.limits.max_upload_bytes, self.settings.limits)
        admitted = False
        send = _with_security_headers(send, scope["path"])
        try:
            self._check_host(headers)
            if not self._authorized(scope["path"], headers):
                raise UploadRejected(401, "missing or wrong API key; send it in the X-API-Key header.")
            if scope["method"] == "POST" and scope["path"] == self.settings.api_path:
                admitted = self.admission.enter()
                if not admitted:
                    wait = self.settings.limits.retry_after_s
                    raise UploadRejected(
                        503,
                        f"the server is busy ({self.admission.capacity} requests in progress); retry after {wait} s.",
                        {"Retry-After": str(wait)},
                    )
                await self._predict(scope, headers, body, send)
            else:
                await self.app(scope, receive, send)
        except UploadRejected as rejected:
            log.info("%s %s refused: %d %s", scope["method"], scope["path"], rejected.status, rejected.detail)
            try:  # a shed request is answered at once: draining would spend what shedding saves
                complete = body.done if rejected.status == 503 else await body.drain()
            except ClientDisconnect:
                return
            extra = rejected.headers if complete else {**rejected.headers, "Connection": "close"}
            await JSONResponse({"detail": rejected.detail}, rejected.status, extra)(scope, receive, send)
        except ClientDisconnect:
            log.info("%s %s: client disconnected before the body was complete", scope["method"], scope["path"])
        finally:
            if admitted:
                self.admission.leave()

    def _check_host(self, headers: dict[bytes, bytes]) -> None:
        """Refuse (421) a Host header that names another server: a page of another site whose name was
        re-pointed at this machine (DNS rebinding) must not reach a server bound to 127.0.0.1."""
        allowed = self.settings.allowed_hosts
        if allowed is None:
            return
        raw = headers.get(b"host", b"").decode("latin-1").strip().lower()
        name = raw[: raw.index("]") + 1] if raw.startswith("[") and "]" in raw else raw.rsplit(":", 1)[0] if raw.count(":") == 1 else raw
        if name not in allowed:
            shown = raw[:100] or "missing"
            raise UploadRejected(
                421,
                f"this server does not answer to the Host {shown!r}; use one of {', '.join(allowed)} "
                "(a server operator can add names with --allowed-host).",
            )

    def _authorized(self, path: str, headers: dict[bytes, bytes]) -> bool:
        """Whether the request may pass: the key is checked here, before any body byte is read.

        LitServe's own key (``LIT_SERVER_API_KEY`` or ``LitAPI.authorize``) is a FastAPI dependency
        of its routes: it would run only after this gate has stored and unpacked the upload, it
        covers ``/``, ``/health`` and ``/info`` (public here, for the page and health checks) but
        not ``/docs`` and ``/openapi.json``, and it compares keys with ``!=`` (not constant-time).
        """
        if not self.settings.api_key or path in self.settings.public_paths:
            return True
        given = headers.get(b"x-api-key", b"")
        return secrets.compare_digest(given, self.settings.api_key.encode())

    async def _predict(self, scope: Scope, headers: dict[bytes, bytes], body: _Body, send: Send) -> None:
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit():
                raise UploadRejected(400, f"Content-Length {length.decode(errors='replace')!r} is not a number.")
            if int(length) > self.settings.limits.max_upload_bytes:
                raise UploadRejected(
                    413,
                    f"request body of {int(length):,} bytes exceeds the limit of {self.settings.limits.max_upload_bytes:,} bytes "
                    "(--max-upload-mb).",
                )
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        kind = content_type.split(";")[0].strip().lower()
        request = Request(scope, body.receive)
        upload: UploadForm | None = None
        cleanup: list[Path] = []
        try:
            if kind == "multipart/form-data":
                upload = UploadForm(request.headers, request.stream(), self.settings.upload_dir)
                try:
                    fields: dict[str, Any] = await upload.fields()
                finally:
                    if upload.path is not None:
                        cleanup.append(upload.path)
            elif kind in ("application/json", "application/x-www-form-urlencoded"):
                body.limit = min(body.limit, MAX_SMALL_BODY)
                fields = _parse_small_body(kind, await request.body())
            else:
                raise UploadRejected(
                    415,
                    f"Content-Type {kind or 'missing'!r} is not accepted; send multipart/form-data (a volume file in field "
                    "'file') or application/json ({\"path\": ..., \"question\": ...}).",
                )
            payload = self._payload(fields, upload)
            if payload["volume"]["kind"] == "upload" and payload["volume"]["path"].endswith(".zip"):
                archive = Path(payload["volume"]["path"])
                unpacked = archive.with_suffix(".d")
                cleanup.append(unpacked)
                limits = self.settings.limits
                folder = await anyio.to_thread.run_sync(extract_zip, archive, unpacked, limits.max_unpacked_bytes, limits.max_zip_files)
                payload["volume"]["path"] = str(folder)
            await self._check_volume(payload["volume"])
            await self._forward(scope, payload, body, send, before_last_message=lambda: anyio.to_thread.run_sync(_remove_all, cleanup))
        finally:
            _remove_all(cleanup)  # a rejected or failed request: nothing was forwarded, or it broke off

    def _payload(self, fields: dict[str, Any], upload: UploadForm | None) -> dict[str, Any]:
        """Validate the request fields; return the JSON LitServe's worker receives."""
        unknown = sorted(set(fields) - set(FORM_FIELDS))
        if unknown:
            hint = did_you_mean(unknown[0], FORM_FIELDS)
            raise UploadRejected(400, f"unknown field(s) {unknown}; expected {list(FORM_FIELDS)} (+ a 'file' upload).{hint}")
        question = _text(fields.get("question"), "question")
        task = _text(fields.get("task"), "task").strip().lower() or None
        if task is not None and task not in TASKS:
            raise UploadRejected(400, f"task {task!r} is not one of {list(TASKS)}.{did_you_mean(task, TASKS)}")
        raw_choices = fields.get("choices")
        try:
            choices = raw_choices if isinstance(raw_choices, list) else parse_choices(_text(raw_choices, "choices"))
            request = resolve_request(question, choices, task)
        except InputError as error:
            raise UploadRejected(400, str(error)) from error
        task, choices = request.task, list(request.choices)
        try:
            preprocessing = overrides_from_fields(fields)
        except ConfigError as error:
            raise UploadRejected(400, f"preprocessing: {error}") from error
        path = _text(fields.get("path"), "path").strip()
        has_file = upload is not None and upload.path is not None
        if has_file and path:
            raise UploadRejected(400, "both a file and a path were sent; send one volume: a file upload or a path.")
        if has_file:
            volume = {"kind": "upload", "path": str(upload.path), "filename": upload.filename, "token": self.settings.upload_token}
        elif path:
            volume = {"kind": "path", "path": path, "filename": path}
            self._check_path(path)
        else:
            raise UploadRejected(400, "no volume; upload one in the 'file' field (multipart) or name a 'path' under the server's data folder.")
        return {"task": task, "question": question.strip(), "choices": choices, "volume": volume, "preprocessing": preprocessing}

    async def _check_volume(self, volume: dict[str, Any]) -> None:
        """Check a volume file's header by hand before it is queued (folders are left to the worker).

        Raises:
            UploadRejected: 413 beyond a cap, 400 for any other header problem; the message names
                the volume as the client knows it.
        """
        upload = volume["kind"] == "upload"
        root = self.settings.upload_dir if upload else self.settings.data_dir
        if root is None:
            return
        path = Path(volume["path"]) if upload else self._check_path(volume["path"])
        if not path.is_file():
            return
        shown = {str(path): str(volume["filename"]), str(root): "upload folder" if upload else "data folder"}
        try:
            await anyio.to_thread.run_sync(check_header, path, self.settings.limits.read_limits(root, detached=not upload))
        except VolumeTooLarge as error:
            raise UploadRejected(413, public_message(str(error), shown)) from error
        except DataError as error:
            raise UploadRejected(400, public_message(str(error), shown)) from error

    def _check_path(self, path: str) -> Path:
        if self.settings.data_dir is None:
            raise UploadRejected(403, "this server reads no paths (started without --data-dir); upload the volume instead.")
        try:
            resolved = resolve_under(self.settings.data_dir, path)
        except InputError as error:
            raise UploadRejected(403, str(error)) from error
        if not resolved.exists():
            raise UploadRejected(404, f"no volume at {path!r} in the server's data folder; check the path (relative to --data-dir).")
        return resolved

    async def _forward(
        self, scope: Scope, payload: dict[str, Any], body: _Body, send: Send, before_last_message: Callable[[], Awaitable[Any]]
    ) -> None:
        """Hand the rewritten JSON request to LitServe; run `before_last_message` (removing the upload)
        before the response's last body message goes out, so a client that has its answer never
        finds the upload still on disk."""
        data = json.dumps(payload).encode()
        headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() not in (b"content-type", b"content-length")]
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": data, "more_body": False}
            return await body.raw()  # after the body: waits for the disconnect, as ASGI servers do

        async def send_after_cleanup(message: Message) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                await before_last_message()
            await send(message)

        await self.app({**scope, "headers": headers}, replay, send_after_cleanup)


#: The page's scripts are allowed by hash (``web_page``); every other response allows nothing.
STRICT_CSP: str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
#: FastAPI's interactive docs load Swagger UI from a CDN: they keep only the framing and sniffing rules.
DOCS_PATHS: tuple[str, ...] = ("/docs", "/redoc", "/docs/oauth2-redirect")
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)


def _with_security_headers(send: Send, path: str) -> Send:
    """``send`` that adds the framing, sniffing and referrer headers to every response, and a
    Content-Security-Policy unless the response has its own (the page) or is the interactive docs."""

    async def secured(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            present = {key.lower() for key, _ in headers}
            headers += [(key, value) for key, value in SECURITY_HEADERS if key not in present]
            if b"content-security-policy" not in present:
                policy = "frame-ancestors 'none'" if path in DOCS_PATHS else STRICT_CSP
                headers.append((b"content-security-policy", policy.encode()))
            message = {**message, "headers": headers}
        await send(message)

    return secured


def _remove_all(paths: list[Path]) -> None:
    """Delete every upload in `paths` (idempotent); a failure is logged, never raised."""
    for path in paths:
        try:
            remove_upload(path)
        except OSError as error:
            log.warning("could not remove upload %s: %s", path, error)


def _text(value: Any, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise UploadRejected(400, f"field {name!r} must be a string, got {type(value).__name__}.")
    return value


def _parse_small_body(kind: str, raw: bytes) -> dict[str, Any]:
    """A JSON object or an urlencoded form → fields.

    Not Starlette's urlencoded parser: it decodes bytes that are not UTF-8 as replacement
    characters, where a question in another encoding must be refused (400).
    """
    if kind == "application/json":
        try:
            fields = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise UploadRejected(400, f"the body is not valid JSON ({error}); send an object like {{\"path\": ..., \"question\": ...}}.") from error
        except RecursionError as error:
            raise UploadRejected(400, "the JSON body is nested too deeply; send a flat object like {\"path\": ..., \"question\": ...}.") from error
        except ValueError as error:  # an integer longer than Python converts (sys.get_int_max_str_digits())
            raise UploadRejected(
                400, f"the JSON body holds a number with more than {sys.get_int_max_str_digits():,} digits; no field takes one that long."
            ) from error
        if not isinstance(fields, dict):
            raise UploadRejected(400, f"the JSON body is a {type(fields).__name__}; expected an object with 'path' and 'question'.")
        choices = fields.get("choices")
        if isinstance(choices, list) and not all(isinstance(c, str) for c in choices):
            raise UploadRejected(400, "'choices' must be a list of strings or one comma-separated string.")
        return fields
    try:
        parsed = parse_qs(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False, errors="strict")
    except (UnicodeDecodeError, ValueError) as error:
        raise UploadRejected(400, f"the form body cannot be parsed ({error}).") from error
    return {key: values[-1] for key, values in parsed.items()}
