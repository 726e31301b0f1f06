"""The local executor runs jobs as real subprocesses of this host: what a finished job reports (exit
code, signal, output tails), refused submissions, hold and release, the parallelism cap and the
job's environment."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import pytest

from ee_retry.adapters.local.executor import LocalExecutor
from ee_retry.constants import OUTPUT_TAIL_CHARS
from ee_retry.domain.values import ProcState, SchedulerProc
from ee_retry.errors import InvalidParams
from tests.adapters.local.conftest import WAIT_FOR_GO, eventually, finished, proc_of, py, spec

pytestmark = pytest.mark.slow


async def test_successful_job_completes_with_the_tail_of_its_output(executor: LocalExecutor) -> None:
    job = spec(py(f"print('x' * {OUTPUT_TAIL_CHARS} + 'END', end='')"))
    await executor.submit("op1", [job], hold=False)

    proc = await finished(executor, job.job_id)

    assert proc.state is ProcState.COMPLETED
    assert proc.exit_code == 0
    assert proc.exit_signal is None
    assert proc.output_tail is not None
    assert proc.output_tail.endswith("END")
    assert len(proc.output_tail) == OUTPUT_TAIL_CHARS
    assert proc.error_tail == ""
    assert proc.started is not None
    assert proc.finished is not None
    assert proc.started <= proc.finished


async def test_failing_job_reports_its_exit_code_and_stderr_tail(executor: LocalExecutor) -> None:
    job = spec(py("import sys; sys.stderr.write('boom: bad input'); sys.exit(3)"))
    await executor.submit("op1", [job], hold=False)

    proc = await finished(executor, job.job_id)

    assert proc.state is ProcState.COMPLETED
    assert proc.exit_code == 3
    assert proc.error_tail == "boom: bad input"


async def test_job_killed_by_a_signal_reports_the_signal(executor: LocalExecutor) -> None:
    job = spec(py("import os, signal; os.kill(os.getpid(), signal.SIGKILL)"))
    await executor.submit("op1", [job], hold=False)

    proc = await finished(executor, job.job_id)

    assert proc.state is ProcState.COMPLETED
    assert proc.exit_signal == signal.SIGKILL
    assert proc.exit_code is None


async def test_missing_executable_completes_with_127_and_the_reason(executor: LocalExecutor) -> None:
    job = spec(("/nonexistent/ee-retry-no-such-tool", "--flag"))
    await executor.submit("op1", [job], hold=False)

    proc = await finished(executor, job.job_id)

    assert proc.state is ProcState.COMPLETED
    assert proc.exit_code == 127
    assert proc.error_tail is not None
    assert "/nonexistent/ee-retry-no-such-tool" in proc.error_tail
    assert "No such file" in proc.error_tail


async def test_submit_refuses_the_whole_batch_when_one_spec_has_no_command(executor: LocalExecutor) -> None:
    good, bad = spec(py("pass")), spec(())

    with pytest.raises(InvalidParams, match="no command"):
        await executor.submit("op1", [good, bad], hold=False)

    assert await executor.poll() == []


async def test_held_job_waits_until_released(executor: LocalExecutor, tmp_path: Path) -> None:
    job = spec(py("print('ran')"))
    ids = await executor.submit("op1", [job], hold=True)
    for _ in range(10):
        await asyncio.sleep(0)

    held = await proc_of(executor, job.job_id)
    assert held.state is ProcState.HELD
    assert held.held_by_us
    assert held.scheduler_id == ids[job.job_id]
    assert not (tmp_path / "jobs" / job.job_id / "pid").exists()

    await executor.release([ids[job.job_id], "local.0", "no-such-id"])
    proc = await finished(executor, job.job_id)

    assert proc.state is ProcState.COMPLETED
    assert not proc.held_by_us
    assert proc.output_tail == "ran\n"


async def test_release_and_remove_of_a_finished_proc_change_nothing(executor: LocalExecutor) -> None:
    job = spec(py("pass"))
    ids = await executor.submit("op1", [job], hold=False)
    before = await finished(executor, job.job_id)

    await executor.release([ids[job.job_id]])
    await executor.remove([ids[job.job_id]], "late cancel")

    assert await proc_of(executor, job.job_id) == before


async def test_no_more_than_max_parallel_jobs_run_at_once_and_the_rest_wait_idle(tmp_path: Path) -> None:
    running: set[str] = set()
    most_running = 0

    async def listener(proc: SchedulerProc) -> None:
        nonlocal most_running
        if proc.state is ProcState.RUNNING:
            running.add(proc.job_id)
        else:
            running.discard(proc.job_id)
        most_running = max(most_running, len(running))

    ex = LocalExecutor(tmp_path, max_parallel=2, listener=listener)
    try:
        remaining = [j.job_id for j in [spec(py(WAIT_FOR_GO)) for _ in range(4)]]
        await ex.submit("op1", [spec(py(WAIT_FOR_GO), job_id=j) for j in remaining], hold=False)
        while remaining:
            want = min(2, len(remaining))

            async def slots_filled(want: int = want) -> bool:
                return [p.state for p in await ex.poll()].count(ProcState.RUNNING) == want

            await eventually(slots_filled, f"{want} jobs to run")
            states = {p.job_id: p.state for p in await ex.poll() if p.job_id in remaining}
            assert sorted(s.value for s in states.values()) == sorted(
                ["running"] * want + ["idle"] * (len(remaining) - want)
            )
            done = next(j for j, s in states.items() if s is ProcState.RUNNING)
            (tmp_path / "jobs" / done / "go").touch()
            await finished(ex, done)
            remaining.remove(done)
    finally:
        await ex.close()

    assert {p.state for p in await ex.poll()} == {ProcState.COMPLETED}
    assert most_running == 2


async def test_job_gets_its_identity_in_the_environment_but_never_the_token(
    executor: LocalExecutor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EE_RETRY_MONGO_URI", "mongodb://ee2:hunter2@db.example:27017")
    monkeypatch.setenv("KB_AUTH_TOKEN", "SERVICE-TOKEN-77a0")
    token = "SECRET-TOKEN-4f1e9c"
    params = [{"input_ref": "1/2/3", "n": 5}]
    job = spec(
        py("import json, os; json.dump(dict(os.environ), open('env.json', 'w'))"), params=params, token=token
    )
    await executor.submit("op1", [job], hold=False)
    await finished(executor, job.job_id)

    env = json.loads((tmp_path / "jobs" / job.job_id / "env.json").read_text())
    assert env["EE_RETRY_JOB_ID"] == job.job_id
    assert env["EE_RETRY_METHOD"] == job.method
    assert env["EE_RETRY_SERVICE_VER"] == job.service_ver
    assert json.loads(env["EE_RETRY_PARAMS"]) == params
    assert env["PATH"] == os.environ["PATH"]
    assert all(token not in value for value in env.values())
    assert "EE_RETRY_MONGO_URI" not in env and "KB_AUTH_TOKEN" not in env
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path
