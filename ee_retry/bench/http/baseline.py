"""The baseline: a bare Starlette app that reads and parses a JSON-RPC body and answers a constant.

It runs under uvicorn with exactly the options the service uses (`ee_retry.__main__.uvicorn_options`),
so the ratio of the service to it is the cost of the service's own work per request.
`python -m ee_retry.bench.http.baseline` serves it on EE_RETRY_HOST / EE_RETRY_PORT.
"""

from __future__ import annotations

import json
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ee_retry.__main__ import uvicorn_options
from ee_retry.settings import Settings

ANSWER = {"state": "OK", "message": "", "version": "0.0.1"}  # about the size of a status answer


async def rpc(request: Request) -> Response:
    body = json.loads(await request.body())
    req_id = body.get("id") if isinstance(body, dict) else None
    return JSONResponse({"version": "1.1", "id": req_id, "result": [ANSWER]})


async def index(request: Request) -> Response:
    return JSONResponse({"service": "baseline"})


def create_baseline() -> Starlette:
    return Starlette(routes=[Route("/", rpc, methods=["POST"]), Route("/", index, methods=["GET"])])


def main() -> int:
    settings = Settings.from_env()
    uvicorn.run(create_baseline(), **uvicorn_options(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
