"""The baselines: minimal apps that read and parse a JSON-RPC body and answer a constant.

- `starlette` (the default): a bare Starlette app, a Route whose endpoint takes a Request and returns
  a JSONResponse.
- `asgi`: the same work as a plain ASGI app under Starlette's router, with no Request or Response
  object, the way the service's JSON-RPC route is written. Against it, the service's ratio is the cost
  of its own work alone, without what it saves by leaving those objects out.

Each runs under uvicorn with exactly the options the service uses (`ee_retry.__main__.uvicorn_options`).
`python -m ee_retry.bench.http.baseline` serves the one EE_RETRY_BENCH_BASELINE names on
EE_RETRY_HOST / EE_RETRY_PORT.
"""

from __future__ import annotations

import json
import os
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ee_retry.__main__ import uvicorn_options
from ee_retry.settings import Settings

ANSWER = {"state": "OK", "message": "", "version": "0.0.1"}  # about the size of a status answer
KINDS = ("starlette", "asgi")


async def rpc(request: Request) -> Response:
    body = json.loads(await request.body())
    req_id = body.get("id") if isinstance(body, dict) else None
    return JSONResponse({"version": "1.1", "id": req_id, "result": [ANSWER]})


class AsgiRpc:
    """`rpc` as a plain ASGI app (a class: Starlette's Route wraps a function as a Request handler)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chunks, more = [], True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = json.loads(b"".join(chunks))
        req_id = body.get("id") if isinstance(body, dict) else None
        answer = json.dumps(
            {"version": "1.1", "id": req_id, "result": [ANSWER]}, ensure_ascii=False, separators=(",", ":")
        ).encode()  # as JSONResponse writes it
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(answer))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})


async def index(request: Request) -> Response:
    return JSONResponse({"service": "baseline"})


def create_baseline(kind: str = "starlette") -> Starlette:
    endpoint = AsgiRpc() if kind == "asgi" else rpc
    return Starlette(routes=[Route("/", endpoint, methods=["POST"]), Route("/", index, methods=["GET"])])


def main() -> int:
    settings = Settings.from_env()
    kind = os.environ.get("EE_RETRY_BENCH_BASELINE", "starlette")
    if kind not in KINDS:
        print(f"EE_RETRY_BENCH_BASELINE must be one of {', '.join(KINDS)}, not {kind!r}", file=sys.stderr)
        return 2
    uvicorn.run(create_baseline(kind), **uvicorn_options(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
