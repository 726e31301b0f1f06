"""The JSON-RPC endpoint: read a bounded body, decode, dispatch to the method table, answer."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

import msgspec
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ee_retry.api.body import receive_body
from ee_retry.domain.storable import unstorable
from ee_retry.errors import EERetryError, InternalError, InvalidParams, MethodNotFound, shown
from ee_retry.rpc.context import Call
from ee_retry.rpc.methods import METHODS, READ_ONLY_METHODS
from ee_retry.rpc.protocol import error_body, frame, parse, peek_id, result_body
from ee_retry.service.deps import Deps

log = logging.getLogger(__name__)


# msgspec writes what Starlette's JSONResponse writes (compact UTF-8 JSON; a lone surrogate fails),
# about ten times faster: the same values, with floats of 1e16 and up or under 1e-4 spelt without the
# exponent's "+" and leading zero. Subclasses of int, float and str (PyMongo's Int64) go through
# _as_json_scalar as json writes them. NaN and infinity, which the standard encoder refuses, would be
# written as null; no answer holds them: the request parser (protocol.parse) and the reader of a
# job's output (runner.job_output) refuse both, and the service's own floats are clock times.


def _as_json_scalar(value: Any) -> Any:
    for kind in (int, float, str):
        if isinstance(value, kind):
            return kind(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_ENCODER = msgspec.json.Encoder(enc_hook=_as_json_scalar)


def json_response(body: dict[str, Any], status: int) -> Response:
    return Response(_ENCODER.encode(body), status_code=status, media_type="application/json")


class RpcEndpoint:
    """Decode, dispatch, answer; every failure becomes a JSON-RPC error without internals.

    A plain ASGI app: every call pays for this path, and Starlette's Request and Response objects
    (a header mapping built per request, a response's header list built and copied) cost more than
    the few fields it reads and the two messages it sends."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        token, declared = _request_headers(scope["headers"])
        status, answer, label = await self._answer(receive, token, declared)
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", b"%d" % len(answer)),
                    ]
                    if answer
                    else [(b"content-length", b"0")],
                }
            )
            await send({"type": "http.response.body", "body": answer})
        finally:
            self.deps.metrics.rpc.record(label, time.perf_counter() - started)

    async def _answer(
        self, receive: Receive, token: str | None, declared: str | None
    ) -> tuple[int, bytes, str]:
        """(HTTP status, encoded answer, metric label) for one request."""
        req_id: Any = None
        v2 = False
        label = "invalid"
        try:
            body = parse(await receive_body(receive, declared))
            req_id, v2 = peek_id(body)
            rpc = frame(body)
            handler = METHODS.get(rpc.method)
            if handler is None:
                raise MethodNotFound(
                    f"Unknown method {shown(rpc.method)}; see the service's spec for its methods"
                )
            label = rpc.method
            problem = None if rpc.method in READ_ONLY_METHODS else unstorable(rpc.params, "params")
            if problem is not None:
                raise InvalidParams(f"Invalid params at {problem}")
            result = await handler(Call(self.deps, token), rpc.params)
            return 200, _ENCODER.encode(result_body(req_id, result, v2)), label
        except EERetryError as exc:
            self.deps.metrics.errors.labels(label, str(exc.code)).inc()
            return 500, _ENCODER.encode(error_body(req_id, exc, v2)), label
        except ClientDisconnect:
            # Not a fault of the service: count it apart from errors, so alerts on -32099 stay quiet.
            self.deps.metrics.disconnects.labels(label).inc()
            log.info("client disconnected before its %s request was read", label)
            return 400, b"", label
        except Exception:
            log.exception("unexpected error in %s", label)
            self.deps.metrics.errors.labels(label, str(InternalError.code)).inc()
            return 500, _ENCODER.encode(error_body(req_id, InternalError(), v2)), label


def _request_headers(headers: Iterable[tuple[bytes, bytes]]) -> tuple[str | None, str | None]:
    """The Authorization and Content-Length headers (the first of each, as Starlette reads them)."""
    token = declared = None
    for name, value in headers:
        if name == b"authorization":
            if token is None:
                token = value.decode("latin-1")
        elif name == b"content-length" and declared is None:
            declared = value.decode("latin-1")
    return token, declared
