"""The Scheduler port's contract, run on every scheduler: the fake one the service tests use, the
local executor, and the HTCondor adapter over the fake schedd. Held submissions wait for release,
removal is by explicit id, procs are found by operation and by job, a job submitted twice has two
procs (the service, not the scheduler, removes duplicates), unknown ids change nothing, and forgetting
procs that have not finished keeps them."""

from __future__ import annotations

import asyncio
import functools
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from ee_retry.adapters.htcondor import HTCondorScheduler
from ee_retry.adapters.local.executor import LocalExecutor
from ee_retry.domain.ids import new_id
from ee_retry.domain.values import ProcState, SchedulerProc, SubmitSpec
from ee_retry.ports import Scheduler
from ee_retry.testing.scheduler import FakeScheduler
from tests.adapters.htcondor.conftest import FAKE_FACTORY, RUNNER, SERVICE_URL
from tests.builders import make_spec

pytestmark = pytest.mark.slow  # the local executor runs processes, HTCondor's workers are processes

DEADLINE_S = 20.0  # bound on polling for an asynchronous change; never reached when things work
SLEEP = (sys.executable, "-c", "import time; time.sleep(120)")  # a local job that waits to be removed


@dataclass
class Under:
    """A scheduler under test, how to make a spec it accepts, and an id it never issued."""

    scheduler: Scheduler
    spec: Callable[[], SubmitSpec]
    unknown_id: str

    async def procs(self, job_id: str) -> list[SchedulerProc]:
        return await self.scheduler.procs_for_jobs([job_id])

    async def settled(self, job_id: str, done: Callable[[SchedulerProc], bool]) -> SchedulerProc:
        """The job's proc once `done` holds (the local executor acts in the background)."""
        deadline = time.monotonic() + DEADLINE_S
        while True:
            [proc] = await self.procs(job_id)
            if done(proc) or time.monotonic() > deadline:
                return proc
            await asyncio.sleep(0.01)


@pytest.fixture(params=["fake", "local", "htcondor"])
async def under(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Under]:
    made: Scheduler
    spec: Callable[[], SubmitSpec]
    if request.param == "fake":
        made, spec, unknown = FakeScheduler(), make_spec, "999.0"
    elif request.param == "local":
        made = LocalExecutor(tmp_path, max_parallel=4, kill_grace_s=0.3)
        spec, unknown = functools.partial(make_spec, command=SLEEP), "local.999999"
    else:
        made = HTCondorScheduler(
            FAKE_FACTORY,
            runner=RUNNER,
            service_url=SERVICE_URL,
            log_dir=str(tmp_path / "logs"),
            factory_kwargs={"state_dir": str(tmp_path / "schedd")},
            timeout_s=5.0,
        )
        spec, unknown = make_spec, "999.0"
    await made.start()
    try:
        yield Under(made, spec, unknown)
    finally:
        await made.close()


async def test_a_held_submission_is_found_by_its_operation_held_by_us(under: Under) -> None:
    op_id = new_id()
    specs = [under.spec(), under.spec()]
    ids = await under.scheduler.submit(op_id, specs, hold=True)
    await under.scheduler.submit(new_id(), [under.spec()], hold=True)

    procs = await under.scheduler.procs_for_operation(op_id)

    assert set(ids) == {s.job_id for s in specs}
    assert len(set(ids.values())) == 2
    assert {p.job_id: p.scheduler_id for p in procs} == ids
    assert all(p.state is ProcState.HELD and p.held_by_us and p.operation_id == op_id for p in procs)


async def test_release_lets_a_held_proc_go_and_a_second_release_changes_nothing(under: Under) -> None:
    spec = under.spec()
    ids = await under.scheduler.submit(new_id(), [spec], hold=True)

    await under.scheduler.release([ids[spec.job_id]])
    await under.scheduler.release([ids[spec.job_id]])
    proc = await under.settled(spec.job_id, lambda p: p.state is not ProcState.HELD)

    assert proc.state in (ProcState.IDLE, ProcState.RUNNING)
    assert not proc.held_by_us
    assert proc.scheduler_id == ids[spec.job_id]


async def test_remove_ends_only_the_named_procs_and_again_changes_nothing(under: Under) -> None:
    gone, kept = under.spec(), under.spec()
    ids = await under.scheduler.submit(new_id(), [gone, kept], hold=True)

    await under.scheduler.remove([ids[gone.job_id]], "cancelled in a test")
    await under.scheduler.remove([ids[gone.job_id]], "cancelled in a test")
    removed = await under.settled(gone.job_id, lambda p: p.state is ProcState.REMOVED)

    assert removed.state is ProcState.REMOVED
    [still] = await under.procs(kept.job_id)
    assert still.state is ProcState.HELD


async def test_a_job_submitted_twice_has_two_procs_both_found_by_job(under: Under) -> None:
    spec = under.spec()
    first = await under.scheduler.submit(new_id(), [spec], hold=True)
    second = await under.scheduler.submit(new_id(), [spec], hold=True)

    procs = await under.procs(spec.job_id)

    assert first[spec.job_id] != second[spec.job_id]
    assert {p.scheduler_id for p in procs} == {first[spec.job_id], second[spec.job_id]}


async def test_unknown_ids_and_operations_find_nothing_and_change_nothing(under: Under) -> None:
    spec = under.spec()
    ids = await under.scheduler.submit(new_id(), [spec], hold=True)

    await under.scheduler.release([under.unknown_id])
    await under.scheduler.remove([under.unknown_id], "no such proc")

    assert await under.scheduler.procs_for_operation(new_id()) == []
    assert await under.scheduler.procs_for_jobs([new_id()]) == []
    [proc] = await under.procs(spec.job_id)
    assert (proc.scheduler_id, proc.state) == (ids[spec.job_id], ProcState.HELD)


async def test_forgetting_procs_that_have_not_finished_keeps_them(under: Under) -> None:
    held, released = under.spec(), under.spec()
    ids = await under.scheduler.submit(new_id(), [held, released], hold=True)
    await under.scheduler.release([ids[released.job_id]])
    await under.settled(released.job_id, lambda p: p.state is not ProcState.HELD)

    under.scheduler.forget_recorded([*ids.values(), under.unknown_id])

    [still_held] = await under.procs(held.job_id)
    assert (still_held.scheduler_id, still_held.state) == (ids[held.job_id], ProcState.HELD)
    [still_queued] = await under.procs(released.job_id)
    assert still_queued.in_queue
    await under.scheduler.release([ids[held.job_id]])
    assert (await under.settled(held.job_id, lambda p: p.state is not ProcState.HELD)).in_queue
