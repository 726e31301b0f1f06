"""Bounds on HTTP clients: how long a request may take to arrive, how many connections stay open,
how many requests are handled at once. Slow, idle or piled-up clients cost a bounded amount of
memory and file descriptors, and the service keeps answering the others.

    limit              where                          beyond it
    header time        bounded_protocol (per socket)  the connection is closed
    body time          bounded_protocol (per socket)  408, connection closed; the app sees a disconnect
    keep-alive idle    uvicorn's timeout_keep_alive   the connection is closed
    connections        bounded_protocol               503 written, connection closed
    requests in flight RequestLimits (ASGI)           503 at once, with Retry-After

The header timer runs whenever a connection is between requests and has sent part of the next one
(or nothing yet, on a new connection); uvicorn's own keep-alive timer covers a connection that
sends nothing after a response. The body timer runs while a request's headers have arrived and its
body has not: a request that arrives whole (most of them) never starts one, so the limits cost a
request a few attribute reads and no timer.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from ee_retry import memory
from ee_retry.settings import HttpLimits

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Any  # async () -> Message
Send = Any  # async (Message) -> None

TRIM_EVERY_S = 1.0  # freed memory goes back to the system at most this often (malloc_trim, ~1 ms)


def _answer_bytes(status: str, message: str) -> bytes:
    """A whole HTTP answer that closes the connection, written to the socket without the app."""
    body = json.dumps({"error": message}).encode() + b"\n"
    head = f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\nconnection: close\r\n"
    return f"{head}content-length: {len(body)}\r\n\r\n".encode() + body


REFUSED = _answer_bytes("503 Service Unavailable", "too many open connections; try again shortly")


def bounded_protocol(base: Any, limits: HttpLimits) -> Any:
    """A subclass of uvicorn's HTTP protocol class `base` (h11 or httptools) with a header timeout, a
    body timeout and a cap on open connections."""
    body_late = _answer_bytes(
        "408 Request Timeout", f"the request body did not arrive within {limits.body_timeout_s:g} s"
    )

    class BoundedProtocol(base):  # type: ignore[misc]
        _header_timer: asyncio.TimerHandle | None = None
        _body_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            if len(self.connections) > limits.max_connections:
                transport.write(REFUSED)
                transport.close()
                return
            self._watch_headers()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self._watch_headers()
            self._watch_body()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_header_timer()
            self._stop_body_timer()
            super().connection_lost(exc)

        def _between_requests(self) -> bool:
            cycle = getattr(self, "cycle", None)
            return cycle is None or bool(cycle.response_complete)

        def _body_awaited(self) -> bool:
            """A request's headers arrived, its body has not, and its answer is not finished."""
            cycle = getattr(self, "cycle", None)
            return (
                cycle is not None
                and bool(cycle.more_body)
                and not cycle.response_complete
                and not cycle.disconnected
            )

        def _watch_headers(self) -> None:
            if not self._between_requests():
                self._stop_header_timer()
            elif self._header_timer is None and not self.transport.is_closing():
                self._header_timer = self.loop.call_later(limits.header_timeout_s, self._headers_late)

        def _watch_body(self) -> None:
            if not self._body_awaited():
                self._stop_body_timer()
            elif self._body_timer is None and not self.transport.is_closing():
                self._body_timer = self.loop.call_later(limits.body_timeout_s, self._body_late)

        def _stop_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _stop_body_timer(self) -> None:
            if self._body_timer is not None:
                self._body_timer.cancel()
                self._body_timer = None

        def _headers_late(self) -> None:
            self._header_timer = None
            if self._between_requests() and not self.transport.is_closing():
                self.transport.close()

        def _body_late(self) -> None:
            """408 unless the app already answered, then close: the app's receive sees a disconnect."""
            self._body_timer = None
            if self._body_awaited() and not self.transport.is_closing():
                if not self.cycle.response_started:
                    self.transport.write(body_late)
                self.transport.close()

    return BoundedProtocol


async def _answer(send: Send, status: int, message: str, headers: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps({"error": message}).encode() + b"\n"
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": head + headers})
    await send({"type": "http.response.body", "body": body})


class RequestLimits:
    """Pure ASGI middleware: a cap on requests in flight; memory given back when the service idles."""

    def __init__(self, app: Any, limits: HttpLimits) -> None:
        self.app = app
        self.limits = limits
        self.in_flight = 0
        self._trimmed_at = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limits.max_in_flight:
            text = f"the service is handling its limit of {self.limits.max_in_flight} requests; retry shortly"
            await _answer(send, 503, text, [(b"retry-after", b"1")])
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            if self.in_flight == 0:
                self._trim_now_and_then()

    def _trim_now_and_then(self) -> None:
        """When the service goes idle, give freed memory back, at most once per TRIM_EVERY_S."""
        now = time.monotonic()
        if now - self._trimmed_at >= TRIM_EVERY_S:
            self._trimmed_at = now
            memory.trim()
