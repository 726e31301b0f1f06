"""The start gate: the local executor starts a waiting job only if the store still has it waiting."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import pytest

from ee_retry.adapters.store.sqlite import SqliteJobStore
from ee_retry.domain.model import Job, JobStatus, TerminatedCode
from ee_retry.domain.values import ProcState, Transition
from ee_retry.errors import StoreUnavailable
from ee_retry.service.sync.start_gate import may_start
from tests.service.sync.conftest import DEADLINE_S, POLL_S, Service

pytestmark = pytest.mark.slow

LONG_JOB_S = 2.0  # the running job's length: the waiting job is cancelled well within it
REAPER_NOTE = "queued too long; cancelled by the ee-retry reaper"
UNKNOWN_JOB_ID = "0123456789abcdef01234567"


async def test_a_queued_job_another_process_cancels_never_starts(service: Service) -> None:
    """max_parallel=1: while one job runs, the reaper (another process) cancels the job waiting for
    the slot; when the slot frees, that job is dropped and its folder stays empty."""
    running = await service.run("Demo.sleep", seconds=LONG_JOB_S)
    await service.wait_for(running, JobStatus.RUNNING)
    waiting = await service.run("Demo.succeed")
    await service.wait_for(waiting, JobStatus.QUEUED)
    assert (await service.proc(waiting)).state is ProcState.IDLE

    reaper = SqliteJobStore(service.db)
    try:
        fields = {
            "finished": 1_700_000_001.0,
            "updated": 1_700_000_001.0,
            "terminated_code": TerminatedCode.TERMINATED_BY_AUTOMATION.value,
            "errormsg": REAPER_NOTE,
        }
        cancel = Transition(waiting, frozenset({JobStatus.QUEUED}), JobStatus.TERMINATED, fields)
        assert await reaper.transition([cancel]) == {waiting}
    finally:
        await reaper.close()
    assert (await service.proc(running)).state is ProcState.RUNNING

    await service.wait_for(running, JobStatus.COMPLETED)
    deadline = time.monotonic() + DEADLINE_S
    while (await service.proc(waiting)).in_queue and time.monotonic() < deadline:
        await asyncio.sleep(POLL_S)

    proc = await service.proc(waiting)
    assert proc.state is ProcState.REMOVED and not proc.in_queue
    assert proc.started is None
    job = await service.job(waiting)
    assert job.status is JobStatus.TERMINATED
    assert job.errormsg == REAPER_NOTE
    assert job.running is None
    folder = service.jobs_dir / waiting
    assert not folder.exists() or not any(folder.iterdir())
    assert (service.jobs_dir / running / "stdout").read_text()


async def test_the_gate_allows_only_jobs_still_waiting_and_starts_them_when_the_store_fails(
    service: Service, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """max_parallel=1: a job that waits for the slot a running job holds may start; the running job
    and an unknown id may not; with the store away, the gate lets a start through."""
    running = await service.run("Demo.sleep", seconds=LONG_JOB_S)
    await service.wait_for(running, JobStatus.RUNNING)
    waiting = await service.run("Demo.succeed")
    await service.wait_for(waiting, JobStatus.QUEUED)
    assert (await service.proc(waiting)).state is ProcState.IDLE

    assert await may_start(service.deps, waiting)
    assert not await may_start(service.deps, running)
    assert not await may_start(service.deps, UNKNOWN_JOB_ID)

    async def store_down(ids: Sequence[str]) -> dict[str, Job]:
        raise StoreUnavailable("the job store did not answer")

    monkeypatch.setattr(service.deps.store, "get_jobs", store_down)
    assert await may_start(service.deps, UNKNOWN_JOB_ID)
    assert "starting it anyway" in caplog.text
