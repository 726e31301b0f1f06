"""The ASGI app: JSON-RPC on POST /, Prometheus metrics on GET /metrics, built from passed-in ports.

Its lifespan wires the scheduler to the service (status listener, start gate), runs start-up
recovery and the background passes, and closes every port on the way out."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ee_retry.api.routes import api_routes
from ee_retry.constants import ABANDONED_RETRY_S, INSTANCE_CLAIM_RENEW_S
from ee_retry.domain.values import SchedulerKind
from ee_retry.rpc.endpoint import RpcEndpoint, json_response
from ee_retry.service.deps import Deps, close_clients
from ee_retry.service.policy.loop import AutoRetrier, policy_source
from ee_retry.service.repair.instance import InstanceClaim
from ee_retry.service.repair.reaper import reap_in_service
from ee_retry.service.repair.reconcile import reconcile_abandoned
from ee_retry.service.sync.loops import every
from ee_retry.service.sync.poller import Poller
from ee_retry.service.sync.start_gate import may_start
from ee_retry.service.sync.status_sync import StatusFeed
from ee_retry.web.routes import console_routes

log = logging.getLogger(__name__)


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
    do_recover = deps.scheduler.scheduler_type == SchedulerKind.LOCAL if recover is None else recover
    # Recovery acts on every local job of the store: only the instance holding the claim may run it.
    claim = InstanceClaim(deps.store, deps.settings.data_dir, deps.clock.now) if do_recover else None

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        await deps.store.setup()
        if claim is not None:
            await claim.take()
        feed.start()
        deps.scheduler.set_listener(feed.push)
        deps.scheduler.set_start_gate(functools.partial(may_start, deps))
        await deps.scheduler.start()
        if do_recover:
            from ee_retry.service.repair.recovery import recover_local

            await recover_local(deps, deps.scheduler.kill_leftovers)
        tasks = [asyncio.create_task(poller.run_forever())] if poll else []
        if poll:
            finish = functools.partial(reconcile_abandoned, deps)
            tasks.append(
                asyncio.create_task(every(ABANDONED_RETRY_S, finish, "finishing abandoned operations"))
            )
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
            await close_clients(deps)
            await deps.store.close()

    async def metrics(request: Request) -> Response:
        poller.export_metrics()
        return Response(deps.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    async def index(request: Request) -> Response:
        return json_response({"service": "ee-retry", "rpc": "POST JSON-RPC 1.1 to this URL"}, 200)

    rpc = RpcEndpoint(deps)
    routes = [
        Route("/", rpc, methods=["POST"]),
        Route("/", index, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        *api_routes(deps),
        *console_routes(deps),
    ]
    return ServiceApp(rpc, routes=routes, lifespan=lifespan)


class ServiceApp(Starlette):
    """Starlette, with JSON-RPC calls (POST /) handed straight to their endpoint.

    Nearly every request is a JSON-RPC call, and its endpoint turns every failure into an answer
    itself, so Starlette's error and exception middleware and the router's route matching do nothing
    for it but cost time: in-process, about 9 us of a 24 us `status` call. Every other request, and
    a call under a root path, goes through the router, which sends POST / to the same endpoint."""

    def __init__(self, rpc: RpcEndpoint, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._rpc = rpc

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _is_rpc_call(scope):
            await self._rpc(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def _is_rpc_call(scope: Scope) -> bool:
    return (
        scope["type"] == "http"
        and scope["path"] == "/"
        and scope["method"] == "POST"
        and not scope.get("root_path")
    )
