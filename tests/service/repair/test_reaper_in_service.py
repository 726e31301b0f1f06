"""With the local executor the service reaps on its own (only it can see its procs); the cron reaper
there applies only the queued rule. The interval comes from EE_RETRY_REAPER_INTERVAL_S."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from ee_retry.app import create_app
from ee_retry.domain.ids import new_id
from ee_retry.domain.model import Job, JobInput, JobStatus
from ee_retry.service.deps import Deps
from ee_retry.service.repair.reaper import ReapOptions, reap
from ee_retry.settings import Settings
from ee_retry.testing.clock import FakeClock

HOUR_S = 3_600
DEMO_COMMIT = "52ea58866b80a931944b028dd66b9b3a906be270"
WAIT_S = 5.0  # upper bound for the service's first pass to land; it normally takes milliseconds


async def created_job(deps: Deps, clock: FakeClock, age_s: float) -> str:
    """A `created` job no scheduler proc carries, `age_s` old: what a crash mid-submission leaves."""
    created = clock.now() - age_s
    job_input = JobInput(method="Demo.succeed", service_ver=DEMO_COMMIT, wsid=1)
    job = Job(new_id(created), "alice", JobStatus.CREATED, job_input, created, created, wsid=1)
    await deps.store.insert_jobs([job])
    return job.id


async def status_of(deps: Deps, job_id: str) -> JobStatus:
    return (await deps.store.get_jobs([job_id]))[job_id].status


async def test_the_service_cancels_a_stale_created_job_without_cron(deps: Deps, clock: FakeClock) -> None:
    """A job left `created` for 2 h is cancelled by the service's own pass; a 1-minute-old one is not."""
    stale = await created_job(deps, clock, 2 * HOUR_S)
    young = await created_job(deps, clock, 60)
    settings = Settings(reaper_interval_s=0.05, poll_interval_s=0.05)
    app = create_app(dataclasses.replace(deps, settings=settings), recover=False)

    async with app.router.lifespan_context(app):  # the service stops (and closes the store) after this
        async with asyncio.timeout(WAIT_S):
            while await status_of(deps, stale) is not JobStatus.TERMINATED:
                await asyncio.sleep(0.02)
        assert await status_of(deps, young) is JobStatus.CREATED
        plan = await reap(deps, ReapOptions(dry_run=True))
        assert plan.actions == [], "a cron run right after the service's pass finds nothing to do"


@pytest.mark.parametrize(
    ("env", "interval_s"),
    [
        ({}, 600.0),
        ({"EE_RETRY_SCHEDULER": "htcondor"}, 0.0),
        ({"EE_RETRY_REAPER_INTERVAL_S": "0"}, 0.0),
        ({"EE_RETRY_SCHEDULER": "htcondor", "EE_RETRY_REAPER_INTERVAL_S": "300"}, 300.0),
    ],
    ids=["local-default-10-min", "htcondor-default-off-cron-runs-it", "turned-off", "htcondor-turned-on"],
)
def test_reaper_interval_follows_the_scheduler_unless_set(env: dict[str, str], interval_s: float) -> None:
    assert Settings.from_env(env).effective_reaper_interval_s == interval_s
