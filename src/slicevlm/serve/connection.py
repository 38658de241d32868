"""A deadline for request headers, which uvicorn does not have: slow-header clients are cut off.

uvicorn's ``timeout_keep_alive`` only covers idle time between requests and is reset by every byte,
so a client that connects and trickles its headers (or sends nothing) holds a connection for as
long as it likes, and ASGI middleware never sees it (the app is called once headers are complete).
:func:`header_deadline_protocol` returns uvicorn's own HTTP protocol class (httptools or h11, as
uvicorn would pick) with one addition: from the moment a connection opens, or bytes of a new
request arrive, the headers must be complete within ``seconds``; otherwise the client gets
``408 Request Timeout`` and the connection is closed. Pass it as ``uvicorn.Config(http=...)``
(``LitServer.run`` forwards the keyword). Body timeouts are the request gate's (``request_gate.py``).

The same class caps the connections one client address may hold open at once
(``--max-connections-per-client``): past the cap a new connection is answered ``503`` and closed
at once, so one client trickling headers on many connections cannot take every place of
``--max-connections``. Behind a reverse proxy every client has the proxy's address: raise the cap
or turn it off (0) there.
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)

_TIMEOUT_BODY = b"request headers took too long; the server closed the connection.\n"
_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: " + str(len(_TIMEOUT_BODY)).encode() + b"\r\nconnection: close\r\n\r\n" + _TIMEOUT_BODY
)


_BUSY_BODY = b"too many open connections from your address; close some and retry.\n"
_BUSY_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\nretry-after: 5\r\n"
    b"content-length: " + str(len(_BUSY_BODY)).encode() + b"\r\nconnection: close\r\n\r\n" + _BUSY_BODY
)


def header_deadline_protocol(seconds: float, max_per_client: int = 0) -> type[asyncio.Protocol]:
    """uvicorn's auto-selected HTTP protocol with a ``seconds`` deadline on request headers and a
    cap on the connections one client address holds open.

    Args:
        seconds: Time from connecting (or from the first byte of a later request on a kept-alive
            connection) until the request headers are complete.
        max_per_client: Open connections one client address may hold; the next gets 503 and is
            closed. 0: no cap.
    """
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    if seconds <= 0:
        raise ValueError(f"header timeout must be positive, got {seconds!r}.")
    if max_per_client < 0:
        raise ValueError(f"connections per client must be >= 0, got {max_per_client!r}.")
    open_by_address: dict[str, int] = {}  # one uvicorn server, one event loop: no lock needed

    class HeaderDeadlineProtocol(AutoHTTPProtocol):  # type: ignore[valid-type, misc]
        header_timeout: float = seconds
        max_connections_per_client: int = max_per_client

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            self._header_timer: asyncio.TimerHandle | None = None
            self._address: str | None = None
            super().connection_made(transport)
            if max_per_client:
                peer = transport.get_extra_info("peername")
                address = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
                if open_by_address.get(address, 0) >= max_per_client:
                    log.info("%s: already %d connections open from this address; refusing another", address, max_per_client)
                    transport.write(_BUSY_RESPONSE)
                    transport.close()
                    return
                self._address = address
                open_by_address[address] = open_by_address.get(address, 0) + 1
            self._arm()

        def data_received(self, data: bytes) -> None:
            if self._awaiting_headers():
                self._arm()
            super().data_received(data)
            if not self._awaiting_headers():
                self._disarm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            if self._address is not None:
                left = open_by_address.get(self._address, 1) - 1
                if left > 0:
                    open_by_address[self._address] = left
                else:
                    open_by_address.pop(self._address, None)
                self._address = None
            super().connection_lost(exc)

        def _awaiting_headers(self) -> bool:
            """No request in progress: the next bytes belong to headers not yet complete."""
            return self.cycle is None or self.cycle.response_complete

        def _arm(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(self.header_timeout, self._expired)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _expired(self) -> None:
            self._header_timer = None
            if self._awaiting_headers() and not self.transport.is_closing():
                log.info("%s: request headers not complete after %.0f s; closing", self.client, self.header_timeout)
                self.transport.write(_TIMEOUT_RESPONSE)
                self.transport.close()

    return HeaderDeadlineProtocol
