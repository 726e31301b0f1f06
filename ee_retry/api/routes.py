"""REST handlers under /api/v1: parse the request, call the service function, shape the answer.

Every failure becomes an RFC 9457 problem (api/problems.py). Reads use the caller's admin role when
they have one (admins see every job); a write names `as_admin` only for another user's job.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ee_retry.api import shapes
from ee_retry.api.body import read_json
from ee_retry.api.openapi import document
from ee_retry.api.problems import problem_response
from ee_retry.api.query import job_list_request, log_range
from ee_retry.errors import EERetryError, InvalidParams
from ee_retry.rpc import params as rpc_params
from ee_retry.rpc.context import Call
from ee_retry.rpc.methods import retry_jobs
from ee_retry.rpc.methods_ops import job_stats
from ee_retry.rpc.views import job_state, log_page
from ee_retry.service import browse, jobs
from ee_retry.service.deps import Deps
from ee_retry.service.ops.retry_failed import retry_failed_jobs
from ee_retry.service.policy.admin import reset_breaker, retry_policy
from ee_retry.service.submit.idempotency import check_key
from ee_retry.service.sync import callbacks

log = logging.getLogger(__name__)

PREFIX = "/api/v1"
Handler = Callable[[Deps, Call, Request], Awaitable[Response]]


def bearer(request: Request) -> str | None:
    """The token of `Authorization: Bearer <token>` or of a bare `Authorization: <token>`."""
    value = request.headers.get("authorization", "").strip()
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer":
        value = rest.strip()
    return value or None


def _json(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


def _endpoint(deps: Deps, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    @functools.wraps(handler)
    async def run(request: Request) -> Response:
        try:
            return await handler(deps, Call(deps, bearer(request)), request)
        except EERetryError as exc:
            return problem_response(exc)
        except ClientDisconnect:
            deps.metrics.disconnects.labels(f"REST {request.method}").inc()
            log.info(
                "client disconnected before its %s %s request was read", request.method, request.url.path
            )
            return Response(status_code=400)
        except Exception as exc:
            log.exception("unexpected error in %s %s", request.method, request.url.path)
            return problem_response(exc)

    return run


async def list_jobs(deps: Deps, call: Call, request: Request) -> Response:
    page = await browse.list_jobs(deps, await call.user(), job_list_request(request))
    return _json({"jobs": [job_state(j) for j in page.jobs], "next_cursor": page.next_cursor})


async def get_job(deps: Deps, call: Call, request: Request) -> Response:
    detail = await browse.job_detail(deps, await call.user(), request.path_params["job_id"])
    return _json(shapes.job_detail(detail))


async def get_logs(deps: Deps, call: Call, request: Request) -> Response:
    user = await call.user()
    offset, limit = log_range(request)
    lines, total = await callbacks.get_job_logs(
        deps, user, request.path_params["job_id"], offset, limit, user.is_read_admin
    )
    return _json(log_page(lines, offset, total))


def _idempotency_key(request: Request) -> str | None:
    return check_key(request.headers.get("idempotency-key"))


async def retry_one(deps: Deps, call: Call, request: Request) -> Response:
    user = await call.user()
    answer = await browse.retry_one(deps, user, request.path_params["job_id"], _idempotency_key(request))
    return _json(answer, 201)


async def cancel_one(deps: Deps, call: Call, request: Request) -> Response:
    user = await call.user()
    job_id = request.path_params["job_id"]
    await browse.cancel_one(deps, user, job_id)
    [job] = await jobs.check_jobs(deps, user, [job_id], user.is_read_admin)
    return _json(job_state(job))


async def retry_many(deps: Deps, call: Call, request: Request) -> Response:
    body = await read_json(request)
    key = _idempotency_key(request)
    if key is not None:
        body = {**body, "idempotency_key": key}
    return _json(await retry_jobs(call, [body]))


async def retry_failed(deps: Deps, call: Call, request: Request) -> Response:
    body = await read_json(request)
    key = _idempotency_key(request)
    if key is not None:
        body = {**body, "idempotency_key": key}
    req = rpc_params.retry_failed_request(body)
    user = await call.user()
    if req.dry_run:
        return _json(shapes.preview(await browse.preview_failed(deps, user, req)))
    result = await retry_failed_jobs(deps, user, req)
    return _json(shapes.retried(result.answer or []))


async def stats(deps: Deps, call: Call, request: Request) -> Response:
    query = request.query_params
    params: dict[str, Any] = {"as_admin": query.get("as_admin", "false")}
    for key in ("user", "since"):
        if key in query:
            params[key] = query[key]
    if params["as_admin"] not in ("true", "false"):
        raise InvalidParams("'as_admin' is true or false")
    params["as_admin"] = params["as_admin"] == "true"
    return _json(await job_stats(call, [params]))


async def policy(deps: Deps, call: Call, request: Request) -> Response:
    return _json(await retry_policy(deps, await call.user()))


async def breaker_reset(deps: Deps, call: Call, request: Request) -> Response:
    """reset_retry_breaker for the app named in the path: the same checks, the same answer."""
    return _json(await reset_breaker(deps, await call.user(), request.path_params["app"]))


async def openapi(deps: Deps, call: Call, request: Request) -> Response:
    return _json(document())


# Each path under PREFIX and the handler of each method it serves.
ROUTES: dict[str, dict[str, Handler]] = {
    "/jobs": {"GET": list_jobs},
    "/jobs/{job_id}": {"GET": get_job},
    "/jobs/{job_id}/logs": {"GET": get_logs},
    "/jobs/{job_id}/retry": {"POST": retry_one},
    "/jobs/{job_id}/cancel": {"POST": cancel_one},
    "/retries": {"POST": retry_many},
    "/retries/failed": {"POST": retry_failed},
    "/stats": {"GET": stats},
    "/policy": {"GET": policy},
    "/policy/breakers/{app}/reset": {"POST": breaker_reset},
    "/openapi.json": {"GET": openapi},
}


def api_routes(deps: Deps) -> list[Route]:
    return [
        Route(PREFIX + path, _endpoint(deps, handler), methods=[method])
        for path, handlers in ROUTES.items()
        for method, handler in handlers.items()
    ]
