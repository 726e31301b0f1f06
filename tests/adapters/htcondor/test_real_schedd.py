"""HTCondorScheduler against a real schedd: runs when EE_RETRY_TEST_SCHEDD is set, or when
CONDOR_CONFIG names an HTCondor configuration file (to pick a schedd by name, EE_RETRY_SCHEDD), e.g.
on a host configured with condor_config/personal-pool.config:

    EE_RETRY_TEST_SCHEDD=1 .venv/bin/pytest -m schedd tests/adapters/htcondor

It submits one held trivial job, finds it by operation id, releases it and removes it; and, where the
pool runs jobs, a job that exits 1 is held with a reason naming its exit code.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from condor_helpers import make_spec

from ee_retry.adapters.htcondor import HTCondorScheduler
from ee_retry.domain.ids import new_id
from ee_retry.domain.model import JobRequirements
from ee_retry.domain.values import ProcState, SchedulerProc
from ee_retry.settings import Settings

ENABLE_ENV = "EE_RETRY_TEST_SCHEDD"
WAIT_S = 60.0  # a real schedd moves a removed job to its history within seconds

RUN_TIMEOUT_S = 300.0  # a personal pool matches and runs a short job within a minute or two


def _enabled() -> bool:
    config = os.environ.get("CONDOR_CONFIG", "")
    return bool(os.environ.get(ENABLE_ENV)) or (bool(config) and Path(config).is_file())


pytestmark = [
    pytest.mark.schedd,
    pytest.mark.skipif(
        not _enabled(),
        reason=(
            f"neither {ENABLE_ENV} nor CONDOR_CONFIG is set: no real HTCondor schedd to test against "
            "(condor_config/README.md)"
        ),
    ),
]


@pytest.fixture
async def real_scheduler(tmp_path: Path) -> AsyncIterator[HTCondorScheduler]:
    async for made in _scheduler(tmp_path, "/bin/true"):
        yield made


@pytest.fixture
async def failing_scheduler(tmp_path: Path) -> AsyncIterator[HTCondorScheduler]:
    async for made in _scheduler(tmp_path, "/bin/false"):
        yield made


async def _scheduler(tmp_path: Path, runner: str) -> AsyncIterator[HTCondorScheduler]:
    settings = Settings.from_env()
    made = HTCondorScheduler(
        None,
        runner=runner,
        service_url="http://127.0.0.1:5000/",
        schedd_name=settings.schedd_name,
        log_dir=str(tmp_path / "condor_logs"),
        initial_dir=str(tmp_path),
    )
    await made.start()
    try:
        yield made
    finally:
        await made.close()


async def _wait_for(
    scheduler: HTCondorScheduler, op_id: str, states: set[ProcState], wait_s: float = WAIT_S
) -> SchedulerProc:
    deadline = time.monotonic() + wait_s
    while True:
        procs = await scheduler.procs_for_operation(op_id)
        if procs and procs[0].state in states:
            return procs[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"operation {op_id}: procs {procs} never reached {states}")
        await asyncio.sleep(0.5)


async def test_a_held_job_is_found_by_operation_released_and_removed(
    real_scheduler: HTCondorScheduler,
) -> None:
    op_id = new_id()
    spec = make_spec(requirements=JobRequirements(cpus=1, memory_mb=64, disk_gb=1), token=None)
    ids = await real_scheduler.submit(op_id, [spec], hold=True)
    sid = ids[spec.job_id]
    try:
        held = await _wait_for(real_scheduler, op_id, {ProcState.HELD})
        assert (held.job_id, held.scheduler_id, held.held_by_us) == (spec.job_id, sid, True)
        await real_scheduler.release([sid])
        released = await _wait_for(
            real_scheduler, op_id, {ProcState.IDLE, ProcState.RUNNING, ProcState.COMPLETED}
        )
        assert released.scheduler_id == sid
    finally:
        await real_scheduler.remove([sid], "ee-retry real-schedd test")
    gone = await _wait_for(real_scheduler, op_id, {ProcState.REMOVED, ProcState.COMPLETED})
    assert gone.job_id == spec.job_id


async def test_a_job_that_exits_non_zero_is_held_with_a_reason_naming_its_exit_code(
    failing_scheduler: HTCondorScheduler,
) -> None:
    """Needs a pool that runs jobs (the personal pool does): /bin/false exits 1, on_exit_hold holds it."""
    op_id = new_id()
    spec = make_spec(requirements=JobRequirements(cpus=1, memory_mb=64, disk_gb=1), token=None)
    sid = (await failing_scheduler.submit(op_id, [spec], hold=False))[spec.job_id]
    try:
        held = await _wait_for(failing_scheduler, op_id, {ProcState.HELD}, RUN_TIMEOUT_S)
        assert not held.held_by_us
        assert held.hold_reason is not None and "exited with code 1" in held.hold_reason
    finally:
        await failing_scheduler.remove([sid], "ee-retry real-schedd test")
