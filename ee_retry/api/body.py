"""Request bodies: bounded in size, parsed by the same JSON reader as JSON-RPC, one object."""

from __future__ import annotations

from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive

from ee_retry.constants import MAX_BODY_BYTES
from ee_retry.domain.storable import unstorable
from ee_retry.errors import InvalidParams, InvalidRequest, RequestTooLarge
from ee_retry.rpc.protocol import parse


async def read_body(request: Request) -> bytes:
    """The body, refused as soon as it passes the size limit (never buffered past it)."""
    return await receive_body(request.receive, request.headers.get("content-length"))


async def receive_body(receive: Receive, declared: str | None) -> bytes:
    """read_body on the ASGI receive channel, given the Content-Length header (None when absent)."""
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise RequestTooLarge(f"The request body is {declared} bytes; the limit is {MAX_BODY_BYTES} (1 MiB)")
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:  # the ASGI messages themselves: Request.stream's generator costs more than a body read
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise RequestTooLarge(
                f"The request body is over {MAX_BODY_BYTES} bytes (1 MiB); split the request"
            )
        chunks.append(chunk)
        more = message.get("more_body", False)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def read_json(request: Request) -> dict[str, Any]:
    """The body as a JSON object (an empty body is an empty object) holding only values both stores
    can hold: every REST call with a body stores part of it."""
    raw = await read_body(request)
    if not raw.strip():
        return {}
    body = parse(raw)
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object")
    problem = unstorable(body, "body")
    if problem is not None:
        raise InvalidParams(f"Invalid params at {problem}")
    return body
