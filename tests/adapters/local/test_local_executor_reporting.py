"""What the local executor reports: the listener sees every transition in order and a failing listener
stops nothing; finished procs are forgotten once recorded and the unrecorded ones kept up to a cap."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from ee_retry.adapters.local import executor as executor_module
from ee_retry.adapters.local.executor import LocalExecutor
from ee_retry.domain.values import ProcState, SchedulerProc
from tests.adapters.local.conftest import GRACE_S, SLEEP_FOREVER, WAIT_FOR_GO, finished, in_state, py, spec

pytestmark = pytest.mark.slow


async def test_listener_sees_every_transition_in_order(tmp_path: Path) -> None:
    seen: list[tuple[str, ProcState]] = []

    async def listener(proc: SchedulerProc) -> None:
        seen.append((proc.job_id, proc.state))

    ex = LocalExecutor(tmp_path, listener=listener)
    try:
        ok, cancelled = spec(py("pass")), spec(py("pass"))
        ids = await ex.submit("op1", [ok, cancelled], hold=True)
        await ex.remove([ids[cancelled.job_id]], "cancelled by user")
        await ex.release([ids[ok.job_id]])
        await finished(ex, ok.job_id)
    finally:
        await ex.close()

    assert [s for j, s in seen if j == ok.job_id] == [ProcState.IDLE, ProcState.RUNNING, ProcState.COMPLETED]
    assert [s for j, s in seen if j == cancelled.job_id] == [ProcState.REMOVED]


async def test_a_job_removed_while_running_reports_its_removal_and_then_its_exit(tmp_path: Path) -> None:
    seen: list[SchedulerProc] = []

    async def listener(proc: SchedulerProc) -> None:
        seen.append(proc)

    ex = LocalExecutor(tmp_path, listener=listener, kill_grace_s=GRACE_S)
    try:
        job = spec(py(SLEEP_FOREVER))
        ids = await ex.submit("op1", [job], hold=False)
        await in_state(ex, job.job_id, ProcState.RUNNING)
        await ex.remove([ids[job.job_id]], "cancelled by user")
        await finished(ex, job.job_id)
    finally:
        await ex.close()

    assert [(p.state, p.in_queue) for p in seen] == [
        (ProcState.RUNNING, True),
        (ProcState.REMOVED, True),
        (ProcState.REMOVED, False),
    ]
    assert seen[-1].exit_signal == signal.SIGTERM


async def test_a_finished_proc_is_forgotten_once_recorded_and_an_unfinished_one_is_kept(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    done = [spec(py("pass")) for _ in range(3)]
    running, held = spec(py(WAIT_FOR_GO)), spec(py("pass"))
    ids = await executor.submit("op1", [*done, running], hold=False)
    ids |= await executor.submit("op2", [held], hold=True)
    for job in done:
        await finished(executor, job.job_id)
    await in_state(executor, running.job_id, ProcState.RUNNING)

    executor.forget_recorded([*ids.values(), "local.0"])

    assert {p.job_id for p in await executor.poll()} == {running.job_id, held.job_id}
    assert await executor.procs_for_jobs([j.job_id for j in done]) == []
    assert [p.job_id for p in await executor.procs_for_operation("op1")] == [running.job_id]
    (tmp_path / "jobs" / running.job_id / "go").touch()
    proc = await finished(executor, running.job_id)
    assert proc.state is ProcState.COMPLETED  # kept while it ran, so its end is still reported
    executor.forget_recorded([ids[running.job_id]])
    assert [p.job_id for p in await executor.poll()] == [held.job_id]


async def test_finished_procs_not_recorded_are_kept_up_to_a_cap_oldest_dropped_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(executor_module, "HISTORY_MAX_PROCS", 3)
    ex = LocalExecutor(tmp_path, max_parallel=1)
    try:
        jobs = [spec(py("pass")) for _ in range(5)]
        for job in jobs:
            await ex.submit("op1", [job], hold=False)
            await finished(ex, job.job_id)
        kept = await ex.poll()
    finally:
        await ex.close()

    assert [p.job_id for p in kept] == [j.job_id for j in jobs[2:]]


async def test_a_failing_listener_does_not_stop_the_executor(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[ProcState] = []

    async def listener(proc: SchedulerProc) -> None:
        seen.append(proc.state)
        if proc.state is ProcState.RUNNING:
            raise RuntimeError("store is down")

    ex = LocalExecutor(tmp_path)
    ex.set_listener(listener)
    try:
        first, second = spec(py("pass")), spec(py("pass"))
        await ex.submit("op1", [first], hold=False)
        await finished(ex, first.job_id)
        await ex.submit("op2", [second], hold=False)
        await finished(ex, second.job_id)
    finally:
        await ex.close()

    assert seen == [ProcState.RUNNING, ProcState.COMPLETED] * 2
    assert "status listener failed" in caplog.text
