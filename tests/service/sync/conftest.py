"""A running service on the local executor (one job at a time) over a SQLite file, for the tests of
what the executor and the status sync do with real job processes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ee_retry.adapters.local.executor import LocalExecutor
from ee_retry.adapters.store.sqlite import SqliteJobStore
from ee_retry.app import create_app
from ee_retry.domain.model import Job, JobStatus
from ee_retry.domain.values import SchedulerProc
from ee_retry.service.deps import Deps
from ee_retry.service.jobs import cancel_job
from ee_retry.service.submit.requests import RunRequest
from ee_retry.service.submit.run import run_job
from ee_retry.service.sync.status_sync import StatusFeed
from ee_retry.settings import Settings
from ee_retry.testing import harness
from ee_retry.testing.clock import FakeClock

DEADLINE_S = 20.0  # generous bound for a condition polled below; never reached when things work
POLL_S = 0.01


@dataclass
class Service:
    """A running service on the local executor (one job at a time) over a SQLite file."""

    deps: Deps
    executor: LocalExecutor
    feed: StatusFeed
    jobs_dir: Path
    db: Path
    reports: list[SchedulerProc] = field(default_factory=list)  # every state change the executor sent

    async def run(self, method: str, **params: object) -> str:
        user = await harness.user(self.deps, harness.ALICE_TOKEN)
        return await run_job(self.deps, user, RunRequest(method, params=[params], wsid=1))

    async def cancel(self, job_id: str) -> None:
        user = await harness.user(self.deps, harness.ALICE_TOKEN)
        await cancel_job(self.deps, user, job_id, as_admin=False)

    async def job(self, job_id: str) -> Job:
        await self.feed.drain()
        return (await self.deps.store.get_jobs([job_id]))[job_id]

    async def proc(self, job_id: str) -> SchedulerProc:
        """The executor's proc of the job, or its last report once the executor let go of it."""
        held = await self.executor.procs_for_jobs([job_id])
        return held[0] if held else [r for r in self.reports if r.job_id == job_id][-1]

    async def record(self, proc: SchedulerProc) -> None:
        self.reports.append(proc)
        await self.feed.push(proc)

    async def wait_for(self, job_id: str, status: JobStatus) -> None:
        deadline = time.monotonic() + DEADLINE_S
        while (await self.job(job_id)).status is not status:
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for job {job_id} to be {status.value}")
            await asyncio.sleep(POLL_S)


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    db = tmp_path / "ee_retry.sqlite3"
    executor = LocalExecutor(tmp_path, max_parallel=1)
    settings = Settings(data_dir=tmp_path, local_max_parallel=1)
    deps = harness.service_deps(SqliteJobStore(db), executor, FakeClock(1_700_000_000.0), settings)
    app = create_app(deps, recover=False, poll=False)
    async with app.router.lifespan_context(app) as state:
        assert state is not None
        service = Service(deps, executor, state["feed"], tmp_path / "jobs", db)
        executor.set_listener(service.record)
        yield service
