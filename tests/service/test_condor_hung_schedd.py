"""A hung schedd stalls nothing: the service answers other calls while a submit hangs, the caller then
gets 'scheduler unavailable' naming what happens next, and reconcile leaves no half-done request.

The real app over the real HTCondor adapter (worker processes) and the fake schedd.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from ee_retry.adapters.clock import SystemClock
from ee_retry.app import create_app
from ee_retry.domain.values import JobQuery
from ee_retry.service.deps import Deps
from ee_retry.service.repair.reconcile import reconcile
from ee_retry.testing import harness
from ee_retry.testing.mongo import open_test_store
from ee_retry.testing.schedd import FakeSchedd
from tests.service.conftest import condor_over_fake_schedd

pytestmark = pytest.mark.slow

SUBMIT_TIMEOUT_S = 3.0


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[tuple[Deps, FakeSchedd, httpx2.AsyncClient]]:
    state = tmp_path / "schedd"
    scheduler = condor_over_fake_schedd(state, SUBMIT_TIMEOUT_S)
    async with open_test_store("sqlite", tmp_path) as store:
        deps = harness.service_deps(store, scheduler, SystemClock())
        await store.setup()
        await scheduler.start()
        app = create_app(deps, recover=False, poll=False)
        try:
            transport = httpx2.ASGITransport(app)
            async with httpx2.AsyncClient(transport=transport, base_url="http://ee.test") as client:
                yield deps, FakeSchedd(state_dir=state), client
        finally:
            await scheduler.close()


async def call(client: httpx2.AsyncClient, method: str, params: Any) -> dict[str, Any]:
    body = {"version": "1.1", "method": f"execution_engine2.{method}", "params": params, "id": "1"}
    response = await client.post("/", json=body, headers={"Authorization": harness.ALICE_TOKEN})
    answer: dict[str, Any] = response.json()
    return answer


async def test_status_answers_while_a_submit_hangs_and_the_hung_request_is_rolled_back(
    service: tuple[Deps, FakeSchedd, httpx2.AsyncClient],
) -> None:
    deps, schedd, client = service
    schedd.set_fault("submit", "hang")
    run = asyncio.create_task(call(client, "run_job", [{"method": "Demo.succeed", "wsid": 1}]))
    await asyncio.sleep(0.3)  # the submit is now hanging in its worker process

    status = await call(client, "status", [])
    ver = await call(client, "ver", [])

    assert not run.done(), "the hung submit should still be waiting for its worker"
    assert status["result"][0]["scheduler"] == "condor" and "result" in ver
    answer = await run
    assert answer["error"]["code"] == -32009
    assert "recorded as operation" in answer["error"]["message"]
    [job] = await deps.store.find_jobs(JobQuery())
    assert job.status.value == "created"  # nothing lost: the record waits for reconcile

    [action] = await reconcile(deps, grace_s=0)

    assert action.action == "rolled_back"  # the schedd never got it; the token is gone with the request
    assert await deps.store.find_jobs(JobQuery()) == []
    assert schedd.ads() == []
