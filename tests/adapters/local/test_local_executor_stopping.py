"""Stopping local jobs: removal kills a running job's whole process group (SIGKILL after the grace if
SIGTERM is ignored); a waiting job that was removed, or that the start gate refuses, never starts (a
gate that fails lets it start); close leaves no job process behind."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from ee_retry.adapters.local.executor import LocalExecutor
from ee_retry.domain.values import ProcState, SchedulerProc
from ee_retry.errors import SchedulerUnavailable
from tests.adapters.local.conftest import (
    GRACE_S,
    SPAWN_CHILD_AND_SLEEP,
    WAIT_FOR_GO,
    eventually,
    finished,
    gone,
    in_state,
    proc_of,
    py,
    read_pid,
    spec,
    started_with_child,
)

pytestmark = pytest.mark.slow


async def test_removing_a_running_job_kills_its_whole_process_group(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    job = spec(py(SPAWN_CHILD_AND_SLEEP))
    ids = await executor.submit("op1", [job], hold=False)
    job_dir = tmp_path / "jobs" / job.job_id
    await eventually(lambda: started_with_child(job_dir), "the job to start its child")
    leader, child = read_pid(job_dir / "pid"), read_pid(job_dir / "child")

    await executor.remove([ids[job.job_id]], "cancelled by user")

    assert (await proc_of(executor, job.job_id)).state is ProcState.REMOVED
    await eventually(lambda: gone(leader) and gone(child), "the job and its child to exit")
    proc = await finished(executor, job.job_id)
    assert proc.state is ProcState.REMOVED
    assert proc.exit_signal == signal.SIGTERM


async def test_a_job_that_ignores_sigterm_is_killed_after_the_grace(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    code = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "open('ready', 'w').close()\n"
        "time.sleep(120)"
    )
    job = spec(py(code))
    ids = await executor.submit("op1", [job], hold=False)
    await eventually(lambda: (tmp_path / "jobs" / job.job_id / "ready").exists(), "the job to ignore SIGTERM")

    await executor.remove([ids[job.job_id]], "cancelled by admin")

    proc = await finished(executor, job.job_id)
    assert proc.state is ProcState.REMOVED
    assert proc.exit_signal == signal.SIGKILL


async def test_removing_a_waiting_job_means_it_never_starts(executor: LocalExecutor, tmp_path: Path) -> None:
    job = spec(py("open('started', 'w').close()"))
    ids = await executor.submit("op1", [job], hold=True)

    await executor.remove([ids[job.job_id]], "cancelled by user")
    await executor.release([ids[job.job_id]])
    await executor.close()

    proc = await proc_of(executor, job.job_id)
    assert proc.state is ProcState.REMOVED
    assert not proc.in_queue
    assert not (tmp_path / "jobs" / job.job_id / "started").exists()


async def test_a_waiting_job_the_start_gate_refuses_never_starts_and_is_reported_removed(
    tmp_path: Path,
) -> None:
    """The gate is asked when a slot frees, not at submit: a job cancelled while it waits never runs."""
    cancelled: set[str] = set()
    asked: list[str] = []
    seen: list[tuple[str, ProcState]] = []

    async def gate(job_id: str) -> bool:
        asked.append(job_id)
        return job_id not in cancelled

    async def listener(proc: SchedulerProc) -> None:
        seen.append((proc.job_id, proc.state))

    ex = LocalExecutor(tmp_path, max_parallel=1, listener=listener)
    ex.set_start_gate(gate)
    try:
        first, waiting = spec(py(WAIT_FOR_GO)), spec(py("open('started', 'w').close()"))
        await ex.submit("op1", [first, waiting], hold=False)
        await in_state(ex, first.job_id, ProcState.RUNNING)
        assert (await proc_of(ex, waiting.job_id)).state is ProcState.IDLE
        cancelled.add(waiting.job_id)

        (tmp_path / "jobs" / first.job_id / "go").touch()
        proc = await finished(ex, waiting.job_id)
    finally:
        await ex.close()

    assert asked == [first.job_id, waiting.job_id]
    assert proc.state is ProcState.REMOVED
    assert proc.started is None
    assert (await proc_of(ex, first.job_id)).state is ProcState.COMPLETED
    assert [s for j, s in seen if j == waiting.job_id] == [ProcState.REMOVED]
    assert not (tmp_path / "jobs" / waiting.job_id).exists()


async def test_a_start_gate_that_fails_lets_the_job_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def gate(job_id: str) -> bool:
        raise RuntimeError("store is down")

    ex = LocalExecutor(tmp_path)
    ex.set_start_gate(gate)
    try:
        job = spec(py("print('ran')"))
        await ex.submit("op1", [job], hold=False)
        proc = await finished(ex, job.job_id)
    finally:
        await ex.close()

    assert proc.state is ProcState.COMPLETED
    assert proc.output_tail == "ran\n"
    assert "start gate failed" in caplog.text


async def test_close_leaves_no_job_process_behind(tmp_path: Path) -> None:
    ex = LocalExecutor(tmp_path, kill_grace_s=GRACE_S)
    job = spec(py(SPAWN_CHILD_AND_SLEEP))
    await ex.submit("op1", [job], hold=False)
    job_dir = tmp_path / "jobs" / job.job_id
    await eventually(lambda: started_with_child(job_dir), "the job to start its child")
    leader, child = read_pid(job_dir / "pid"), read_pid(job_dir / "child")

    await ex.close()

    assert gone(leader)
    await eventually(lambda: gone(child), "the job's child to exit")
    with pytest.raises(SchedulerUnavailable):
        await ex.submit("op2", [spec(py("pass"))], hold=False)
