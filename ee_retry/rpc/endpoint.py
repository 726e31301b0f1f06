"""The JSON-RPC endpoint: read a bounded body, decode, dispatch to the method table, answer."""

from __future__ import annotations

import logging
import time
from typing import Any

import msgspec
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from ee_retry.api.body import read_body
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
    """Decode, dispatch, answer; every failure becomes a JSON-RPC error without internals."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self._per_method: dict[str, tuple[Any, Any]] = {}  # labelled metric children, looked up once

    def _count(self, label: str, seconds: float) -> None:
        children = self._per_method.get(label)
        if children is None:
            metrics = self.deps.metrics
            children = (metrics.requests.labels(label), metrics.latency.labels(label))
            self._per_method[label] = children
        children[0].inc()
        children[1].observe(seconds)

    async def handle(self, request: Request) -> Response:
        started = time.perf_counter()
        req_id: Any = None
        v2 = False
        label = "invalid"
        try:
            body = parse(await read_body(request))
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
            token = request.headers.get("authorization")
            result = await handler(Call(self.deps, token), rpc.params)
            return json_response(result_body(req_id, result, v2), 200)
        except EERetryError as exc:
            self.deps.metrics.errors.labels(label, str(exc.code)).inc()
            return json_response(error_body(req_id, exc, v2), 500)
        except ClientDisconnect:
            # Not a fault of the service: count it apart from errors, so alerts on -32099 stay quiet.
            self.deps.metrics.disconnects.labels(label).inc()
            log.info("client disconnected before its %s request was read", label)
            return Response(status_code=400)
        except Exception:
            log.exception("unexpected error in %s", label)
            self.deps.metrics.errors.labels(label, str(InternalError.code)).inc()
            return json_response(error_body(req_id, InternalError(), v2), 500)
        finally:
            self._count(label, time.perf_counter() - started)
