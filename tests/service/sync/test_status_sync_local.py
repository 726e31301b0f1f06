"""The status sync and the local executor: every job's end is recorded once, and then the executor lets
go of its proc, so its memory and each poll stay the size of its queue, not of every job it ran."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence

import pytest

from ee_retry.domain.model import JobStatus
from ee_retry.domain.values import ProcState, Transition
from ee_retry.errors import StoreUnavailable
from ee_retry.service.sync.poller import Poller
from tests.service.sync.conftest import DEADLINE_S, POLL_S, Service

pytestmark = pytest.mark.slow


async def until_empty(service: Service) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while await service.executor.poll():
        if time.monotonic() > deadline:
            pytest.fail(f"the executor still holds {await service.executor.poll()}")
        await asyncio.sleep(POLL_S)


async def test_the_executor_lets_go_of_every_job_once_its_end_is_recorded(service: Service) -> None:
    succeeded = [await service.run("Demo.succeed", x=i) for i in range(4)]
    failed = [await service.run("Demo.fail") for _ in range(2)]
    cancelled = await service.run("Demo.sleep", seconds=30)
    await service.wait_for(cancelled, JobStatus.RUNNING)
    await service.cancel(cancelled)
    for job_id in succeeded:
        await service.wait_for(job_id, JobStatus.COMPLETED)
    for job_id in failed:
        await service.wait_for(job_id, JobStatus.ERROR)

    await until_empty(service)

    assert await service.executor.procs_for_jobs([*succeeded, *failed, cancelled]) == []
    ends = Counter(r.job_id for r in service.reports if not r.in_queue)
    assert ends == Counter([*succeeded, *failed, cancelled])  # each end reported once
    assert (await service.job(cancelled)).status is JobStatus.TERMINATED


async def test_a_finished_job_whose_end_could_not_be_written_stays_until_the_poller_records_it(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = await service.run("Demo.sleep", seconds=0.5)
    await service.wait_for(job_id, JobStatus.RUNNING)
    write = service.deps.store.transition

    async def store_down(changes: Sequence[Transition]) -> set[str]:
        raise StoreUnavailable("the job store did not answer")

    monkeypatch.setattr(service.deps.store, "transition", store_down)
    deadline = time.monotonic() + DEADLINE_S
    while not [r for r in service.reports if r.job_id == job_id and not r.in_queue]:
        assert time.monotonic() < deadline, "the job never ended"
        await asyncio.sleep(POLL_S)
    await service.feed.drain()

    assert (await service.job(job_id)).status is JobStatus.RUNNING
    [kept] = await service.executor.poll()
    assert (kept.job_id, kept.state) == (job_id, ProcState.COMPLETED)

    monkeypatch.setattr(service.deps.store, "transition", write)
    assert await Poller(service.deps, 1.0).run_once() == 1

    assert (await service.job(job_id)).status is JobStatus.COMPLETED
    assert await service.executor.poll() == []
