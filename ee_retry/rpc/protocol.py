"""KBase JSON-RPC 1.1 (and 2.0) framing: decode one request, encode a result or an error."""

from __future__ import annotations

import json
import math
from typing import Any, NamedTuple

import msgspec

from ee_retry.errors import InvalidRequest, ParseError, to_error_object

SERVICE_PREFIX = "execution_engine2."


class RpcRequest(NamedTuple):
    method: str  # without the service prefix
    params: list[Any]
    id: Any
    v2: bool  # answered in JSON-RPC 2.0 form


def peek_id(body: Any) -> tuple[Any, bool]:
    """The id and dialect of a parsed body, as far as they can be read (for error answers); a batch
    array of 2.0 requests is answered in 2.0 form."""
    if isinstance(body, dict):
        return body.get("id"), body.get("jsonrpc") == "2.0"
    if isinstance(body, list) and body:
        return None, all(isinstance(b, dict) and b.get("jsonrpc") == "2.0" for b in body)
    return None, False


def _no_constant(name: str) -> Any:
    raise ParseError(f"The request body holds {name}, which is not valid JSON; send numbers only")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ParseError(f"The number {text[:40]} is too large to store; send a smaller number")
    return value


# Built once: json.loads with hooks builds a decoder per call.
_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite)
# msgspec reads a subset of what _DECODER reads, into the same values, several times faster: UTF-8
# only, and it refuses NaN, Infinity, floats that overflow, lone surrogates and integers of more than
# 4,300 digits. Whatever it refuses is read again by _DECODER, which accepts it or gives the error.
_FAST = msgspec.json.Decoder()


def parse(raw: bytes) -> Any:
    """The body as JSON; raises ParseError with what to fix."""
    try:
        body = _FAST.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        body = _parse_exactly(raw)
    # Nesting deeper than MAX_DEPTH needs more than MAX_DEPTH brackets: most bodies skip the walk.
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and _depth(body) > MAX_DEPTH:
        raise ParseError(_TOO_DEEP)
    return body


def _parse_exactly(raw: bytes) -> Any:
    """The body as json.loads reads it, with NaN, Infinity and overflowing floats refused."""
    try:
        # What json.loads does with bytes: UTF-8, -16 or -32 by their first bytes.
        return _DECODER.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParseError(
            f"The request body is not valid JSON ({exc.__class__.__name__}); send a JSON object"
        ) from None
    except RecursionError:
        raise ParseError(_TOO_DEEP) from None
    except ValueError:  # an integer literal longer than Python converts (4,300 digits)
        raise ParseError("The request body holds a number too long to read; send a shorter number") from None


MAX_DEPTH = 64  # job params nest a few levels; anything deeper is refused before it is stored
_TOO_DEEP = f"The request body is nested more than {MAX_DEPTH} levels deep; send a flatter JSON object"


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in a parsed body (iteratively: no recursion limit)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


def frame(body: Any) -> RpcRequest:
    """A parsed body as one request; raises InvalidRequest with what to fix."""
    if isinstance(body, list):
        raise InvalidRequest("Batch requests are not supported; send one JSON-RPC request object per call")
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object with 'method', 'params' and 'id'")
    method = body.get("method")
    if not isinstance(method, str) or not method:
        raise InvalidRequest("The request needs a 'method' string such as 'execution_engine2.check_job'")
    params = body.get("params", [])
    if isinstance(params, dict):
        params = [params]
    if not isinstance(params, list):
        raise InvalidRequest('\'params\' must be a list holding one object, e.g. [{"job_id": "..."}]')
    name = method[len(SERVICE_PREFIX) :] if method.startswith(SERVICE_PREFIX) else method
    return RpcRequest(name, params, body.get("id"), body.get("jsonrpc") == "2.0")


def result_body(req_id: Any, result: Any, v2: bool) -> dict[str, Any]:
    head: dict[str, Any] = {"jsonrpc": "2.0"} if v2 else {"version": "1.1"}
    return {**head, "id": req_id, "result": [result]}


def error_body(req_id: Any, exc: BaseException, v2: bool) -> dict[str, Any]:
    err = to_error_object(exc)
    if v2:
        return {
            "jsonrpc": "2.0",
            "id": req_id,
            "error": {"code": err["code"], "message": err["message"], "data": {"name": err["name"]}},
        }
    return {"version": "1.1", "id": req_id, "error": err}
