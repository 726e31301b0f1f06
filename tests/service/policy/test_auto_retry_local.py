"""The Done-means scenarios of automatic retries with the example policy on the local executor: real
processes, the service's own loops (poller and automatic retrier), a real clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import ee_retry.demo
from ee_retry.adapters.clock import SystemClock
from ee_retry.adapters.local.executor import LocalExecutor
from ee_retry.adapters.store.sqlite import SqliteJobStore
from ee_retry.app import create_app
from ee_retry.domain.model import Job
from ee_retry.domain.policy.model import AutoRetry
from ee_retry.service.deps import Deps
from ee_retry.service.jobs import cancel_job
from ee_retry.service.submit.requests import RunRequest
from ee_retry.service.submit.run import run_job
from ee_retry.settings import Settings
from ee_retry.testing import harness

pytestmark = pytest.mark.slow

EXAMPLE = Path(ee_retry.demo.__file__).with_name("policy.toml")
DEADLINE_S = 60.0  # generous bound for a condition polled below; never reached when things work
POLL_S = 0.05


@dataclass
class Service:
    deps: Deps

    async def run(self, method: str, **params: object) -> str:
        user = await harness.user(self.deps, harness.ALICE_TOKEN)
        return await run_job(self.deps, user, RunRequest(method, params=[params], wsid=1))

    async def job(self, job_id: str) -> Job:
        return (await self.deps.store.get_jobs([job_id]))[job_id]

    async def auto(self, job_id: str) -> dict[str, Any] | None:
        job = await self.job(job_id)
        return AutoRetry.from_doc(job.auto_retry).to_wire() if job.auto_retry else None

    async def until(self, job_id: str, state: str) -> dict[str, Any]:
        deadline = time.monotonic() + DEADLINE_S
        while True:
            decision = await self.auto(job_id)
            if decision is not None and decision["state"] == state:
                return decision
            if time.monotonic() > deadline:
                pytest.fail(f"job {job_id}: automatic retry never reached {state!r}; last {decision}")
            await asyncio.sleep(POLL_S)


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    settings = Settings(data_dir=tmp_path, policy_file=EXAMPLE, poll_interval_s=POLL_S, reaper_interval_s=0)
    executor = LocalExecutor(tmp_path, max_parallel=4)
    deps = harness.service_deps(
        SqliteJobStore(tmp_path / "ee_retry.sqlite3"), executor, SystemClock(), settings
    )
    app = create_app(deps, recover=False)
    async with app.router.lifespan_context(app):
        yield Service(deps)


async def test_a_flaky_job_is_retried_by_itself_until_exhausted(service: Service) -> None:
    job = await service.run("Demo.fail", exit_code=3)
    final = await service.until(job, "exhausted")
    assert (final["rule"], final["attempts"], final["max_attempts"]) == ("flaky downloads", 5, 5)
    attempts = (await service.job(job)).retry_ids
    assert len(attempts) == 5
    for attempt in attempts:
        done = await service.job(attempt)
        assert done.status.value == "error" and done.failure is not None and done.failure["exit_code"] == 3


async def test_a_stop_rule_job_is_stopped_with_no_attempt(service: Service) -> None:
    job = await service.run("Demo.fail", exit_code=2, message="invalid input: no reads")
    decision = await service.until(job, "stopped")
    assert decision["rule"] == "bad input never heals"
    await asyncio.sleep(1.5)  # longer than any backoff of the example's rules for this app
    assert (await service.job(job)).retry_ids == ()


async def test_a_job_that_succeeds_on_its_second_automatic_attempt_ends_succeeded(
    service: Service, tmp_path: Path
) -> None:
    job = await service.run("Demo.fail_times", path=str(tmp_path / "count"), times=2, exit_code=3)
    decision = await service.until(job, "succeeded")
    assert decision["attempts"] == 2
    first, second = (await service.job(job)).retry_ids
    assert (await service.job(first)).status.value == "error"
    assert (await service.job(second)).status.value == "completed"


async def test_the_memory_rule_raises_memory_on_the_attempt(service: Service) -> None:
    job = await service.run("Demo.fail", signal=9)
    await service.until(job, "exhausted")
    original = await service.job(job)
    assert original.failure is not None and original.failure["signal"] == 9
    memory = []
    for attempt in original.retry_ids:
        ji = (await service.job(attempt)).job_input
        assert ji is not None
        memory.append(ji.requirements.memory_mb)
    assert memory == [768, 1152, 1728]  # 512 x 1.5, x 1.5, x 1.5


async def test_a_user_cancel_is_never_retried(service: Service) -> None:
    job = await service.run("Demo.sleep", seconds=30)
    user = await harness.user(service.deps, harness.ALICE_TOKEN)
    await asyncio.sleep(0.3)
    await cancel_job(service.deps, user, job, False)
    await asyncio.sleep(1.5)
    stored = await service.job(job)
    assert stored.status.value == "terminated" and stored.terminated_code == 0
    assert stored.auto_retry is None and stored.retry_ids == ()
