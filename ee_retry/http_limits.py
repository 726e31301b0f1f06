"""Bounds on HTTP clients: how long a request may take to arrive, how many connections stay open,
how many requests are handled at once. Slow, idle or piled-up clients cost a bounded amount of
memory and file descriptors, and the service keeps answering the others.

    limit              where                          beyond it
    header time        bounded_protocol (per socket)  the connection is closed
    body time          RequestLimits (ASGI)           408, connection closed; the app sees a disconnect
    keep-alive idle    uvicorn's timeout_keep_alive   the connection is closed
    connections        bounded_protocol               503 written, connection closed
    requests in flight RequestLimits                  503 at once, with Retry-After

The header timer runs whenever a connection is between requests and has sent part of the next one
(or nothing yet, on a new connection); uvicorn's own keep-alive timer covers a connection that
sends nothing after a response.
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
_REFUSED_BODY = b'{"error": "too many open connections; try again shortly"}\n'
REFUSED = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nconnection: close\r\n"
    b"content-length: " + str(len(_REFUSED_BODY)).encode() + b"\r\n\r\n" + _REFUSED_BODY
)


def bounded_protocol(base: Any, limits: HttpLimits) -> Any:
    """A subclass of uvicorn's HTTP protocol class `base` (h11 or httptools) with a header timeout
    and a cap on open connections."""

    class BoundedProtocol(base):  # type: ignore[misc]
        _header_timer: asyncio.TimerHandle | None = None

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

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_header_timer()
            super().connection_lost(exc)

        def _between_requests(self) -> bool:
            cycle = getattr(self, "cycle", None)
            return cycle is None or bool(cycle.response_complete)

        def _watch_headers(self) -> None:
            if not self._between_requests():
                self._stop_header_timer()
            elif self._header_timer is None and not self.transport.is_closing():
                self._header_timer = self.loop.call_later(limits.header_timeout_s, self._headers_late)

        def _stop_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_late(self) -> None:
            self._header_timer = None
            if self._between_requests() and not self.transport.is_closing():
                self.transport.close()

    return BoundedProtocol


async def _answer(send: Send, status: int, message: str, headers: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps({"error": message}).encode() + b"\n"
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": head + headers})
    await send({"type": "http.response.body", "body": body})


class _BodyDeadline:
    """The app's receive and send for one request: the body must arrive before the deadline, or the
    client gets 408 (connection closed) and the app a disconnect, whose answer goes nowhere."""

    def __init__(self, receive: Receive, send: Send, timeout_s: float) -> None:
        self._receive = receive
        self._send = send
        self._timeout_s = timeout_s
        self._deadline = asyncio.get_running_loop().time() + timeout_s
        self._body_done = False
        self._started = False
        self._expired = False

    async def receive(self) -> Message:
        if self._expired:
            return {"type": "http.disconnect"}
        if self._body_done:
            message: Message = await self._receive()
            return message
        try:
            async with asyncio.timeout_at(self._deadline):
                message = await self._receive()
        except TimeoutError:
            self._expired = True
            if not self._started:
                text = f"the request body did not arrive within {self._timeout_s:g} s"
                await _answer(self._send, 408, text, [(b"connection", b"close")])
            return {"type": "http.disconnect"}
        if message["type"] != "http.request" or not message.get("more_body", False):
            self._body_done = True
        return message

    async def send(self, message: Message) -> None:
        if self._expired:
            return
        if message["type"] == "http.response.start":
            self._started = True
        await self._send(message)


class RequestLimits:
    """Pure ASGI middleware: a cap on requests in flight and a deadline for each request's body."""

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
            guarded = _BodyDeadline(receive, send, self.limits.body_timeout_s)
            await self.app(scope, guarded.receive, guarded.send)
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
