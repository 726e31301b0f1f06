"""The JSON-RPC endpoint: read a bounded body, decode, dispatch to the method table, answer."""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ee_retry.constants import MAX_BODY_BYTES
from ee_retry.errors import EERetryError, InternalError, MethodNotFound, RequestTooLarge
from ee_retry.rpc.context import Call
from ee_retry.rpc.methods import METHODS
from ee_retry.rpc.protocol import error_body, frame, parse, peek_id, result_body
from ee_retry.service.deps import Deps

log = logging.getLogger(__name__)


async def _read_body(request: Request) -> bytes:
    """The body, refused as soon as it passes the size limit (never buffered past it)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise RequestTooLarge(f"The request body is {declared} bytes; the limit is {MAX_BODY_BYTES} (1 MiB)")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise RequestTooLarge(
                f"The request body is over {MAX_BODY_BYTES} bytes (1 MiB); split the request"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def json_response(body: dict[str, Any], status: int) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type="application/json")


class RpcEndpoint:
    """Decode, dispatch, answer; every failure becomes a JSON-RPC error without internals."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    async def handle(self, request: Request) -> Response:
        started = time.perf_counter()
        req_id: Any = None
        v2 = False
        label = "invalid"
        try:
            body = parse(await _read_body(request))
            req_id, v2 = peek_id(body)
            rpc = frame(body)
            handler = METHODS.get(rpc.method)
            if handler is None:
                raise MethodNotFound(f"Unknown method {rpc.method!r}; see the service's spec for its methods")
            label = rpc.method
            token = request.headers.get("authorization")
            result = await handler(Call(self.deps, token), rpc.params)
            return json_response(result_body(req_id, result, v2), 200)
        except EERetryError as exc:
            self.deps.metrics.errors.labels(label, str(exc.code)).inc()
            return json_response(error_body(req_id, exc, v2), 500)
        except Exception:
            log.exception("unexpected error in %s", label)
            self.deps.metrics.errors.labels(label, str(InternalError.code)).inc()
            return json_response(error_body(req_id, InternalError(), v2), 500)
        finally:
            self.deps.metrics.requests.labels(label).inc()
            self.deps.metrics.latency.labels(label).observe(time.perf_counter() - started)
