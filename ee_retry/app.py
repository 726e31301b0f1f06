"""The ASGI app: JSON-RPC on POST /, Prometheus metrics on GET /metrics, built from passed-in ports."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ee_retry.api.body import read_body
from ee_retry.api.routes import api_routes
from ee_retry.constants import INSTANCE_CLAIM_RENEW_S
from ee_retry.domain.model import STARTABLE_STATUSES
from ee_retry.domain.storable import unstorable
from ee_retry.errors import EERetryError, InternalError, InvalidParams, MethodNotFound, shown
from ee_retry.rpc.context import Call
from ee_retry.rpc.methods import METHODS, READ_ONLY_METHODS
from ee_retry.rpc.protocol import error_body, frame, parse, peek_id, result_body
from ee_retry.service.deps import Deps
from ee_retry.service.instance import InstanceClaim
from ee_retry.service.loops import every
from ee_retry.service.policy.loop import AutoRetrier, policy_source
from ee_retry.service.poller import Poller
from ee_retry.service.reaper import reap_in_service
from ee_retry.service.status_sync import StatusFeed

log = logging.getLogger(__name__)


def _json(body: dict[str, Any], status: int) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type="application/json")


async def may_start(deps: Deps, job_id: str) -> bool:
    """The local executor's start gate: start a waiting proc only if its job still waits for it.

    Another process (the `ee-retry-reaper` cron command, another service instance) may have cancelled
    or finished the job in the store while its proc waited for a slot in this process's executor.
    """
    try:
        job = (await deps.store.get_jobs([job_id])).get(job_id)
    except Exception as exc:
        # Fail open. Refusing drops the proc as removed, and that report cancels the job once the store
        # answers again, so a store outage would cancel every job that reached a slot during it. A
        # start that should not have happened costs one run whose report cannot change a job that is
        # already finished or cancelled (every status change is conditional).
        log.warning("cannot read job %s before starting it; starting it anyway: %s", job_id, exc)
        return True
    return job is not None and job.status in STARTABLE_STATUSES


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
            return _json(result_body(req_id, result, v2), 200)
        except EERetryError as exc:
            self.deps.metrics.errors.labels(label, str(exc.code)).inc()
            return _json(error_body(req_id, exc, v2), 500)
        except ClientDisconnect:
            # Not a fault of the service: count it apart from errors, so alerts on -32099 stay quiet.
            self.deps.metrics.disconnects.labels(label).inc()
            log.info("client disconnected before its %s request was read", label)
            return Response(status_code=400)
        except Exception:
            log.exception("unexpected error in %s", label)
            self.deps.metrics.errors.labels(label, str(InternalError.code)).inc()
            return _json(error_body(req_id, InternalError(), v2), 500)
        finally:
            self._count(label, time.perf_counter() - started)


async def _reap_while_claimed(deps: Deps, claim: InstanceClaim | None, holder: str) -> None:
    """The in-service reaper pass, skipped while this instance does not hold the store's claim."""
    if claim is None or claim.held:
        await reap_in_service(deps, holder)


def create_app(deps: Deps, *, recover: bool | None = None, poll: bool = True) -> Starlette:
    """Build the app from its ports. `recover`: run local start-up recovery (default: local scheduler)."""
    feed = StatusFeed(deps)
    poller = Poller(deps, deps.settings.effective_poll_interval_s)
    source = policy_source(deps.settings, deps.scheduler.runs_with_owner_token, deps.clock.now())
    retrier = None
    if source is not None:
        interval = deps.settings.effective_poll_interval_s
        retrier = AutoRetrier(deps, source, interval, deps.settings.policy_token)
    deps.policy = source
    do_recover = deps.scheduler.scheduler_type == "local" if recover is None else recover
    # Recovery acts on every local job of the store: only the instance holding the claim may run it.
    claim = InstanceClaim(deps.store, deps.settings.data_dir, deps.clock.now) if do_recover else None

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        await deps.store.setup()
        if claim is not None:
            await claim.take()
        feed.start()
        set_listener = getattr(deps.scheduler, "set_listener", None)
        if set_listener is not None:
            set_listener(feed.push)
        set_start_gate = getattr(deps.scheduler, "set_start_gate", None)
        if set_start_gate is not None:
            set_start_gate(functools.partial(may_start, deps))
        await deps.scheduler.start()
        if do_recover:
            from ee_retry.service.recovery import recover_local

            kill: Callable[[Sequence[str]], Sequence[str]] = getattr(
                deps.scheduler, "kill_leftovers", lambda ids: []
            )
            await recover_local(deps, kill)
        tasks = [asyncio.create_task(poller.run_forever())] if poll else []
        if claim is not None:
            renew = every(INSTANCE_CLAIM_RENEW_S, claim.renew, "instance claim renewal")
            tasks.append(asyncio.create_task(renew))
        if poll and retrier is not None:
            tasks.append(asyncio.create_task(retrier.run_forever()))
        reap_every = deps.settings.effective_reaper_interval_s
        if poll and reap_every > 0:
            step = functools.partial(_reap_while_claimed, deps, claim, f"service-{poller.instance_id}")
            tasks.append(asyncio.create_task(every(reap_every, step, "reaper pass")))
        try:
            yield {"deps": deps, "feed": feed, "poller": poller, "retrier": retrier}
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await deps.scheduler.close()
            await feed.stop()
            if claim is not None:
                with contextlib.suppress(Exception):
                    await claim.release()
            with contextlib.suppress(Exception):
                await poller.stop()
                if retrier is not None:
                    await retrier.stop()
            for port in (deps.auth, deps.workspace, deps.catalog):
                close = getattr(port, "close", None)
                if close is not None:
                    await close()
            await deps.store.close()

    async def metrics(request: Request) -> Response:
        poller.export_metrics()
        return Response(deps.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    async def index(request: Request) -> Response:
        return _json({"service": "ee-retry", "rpc": "POST JSON-RPC 1.1 to this URL"}, 200)

    routes = [
        Route("/", RpcEndpoint(deps).handle, methods=["POST"]),
        Route("/", index, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        *api_routes(deps),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
