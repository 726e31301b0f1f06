"""The local executor runs jobs as real subprocesses of this host."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from ee_retry.adapters.local import executor as executor_module
from ee_retry.adapters.local.executor import LocalExecutor
from ee_retry.constants import OUTPUT_TAIL_CHARS
from ee_retry.domain.ids import new_id
from ee_retry.domain.values import ProcState, SchedulerProc, SubmitSpec
from ee_retry.errors import InvalidParams, SchedulerUnavailable
from tests.builders import make_spec

pytestmark = pytest.mark.slow

DEADLINE_S = 20.0  # generous bound for a condition polled below; never reached when things work
POLL_S = 0.01
GRACE_S = 0.3  # kill grace used in these tests, so a SIGTERM-ignoring job is killed quickly
SLEEP_FOREVER = "import time; time.sleep(120)"
WAIT_FOR_GO = "import os, time\nwhile not os.path.exists('go'): time.sleep(0.01)"
SPAWN_CHILD_AND_SLEEP = (
    "import subprocess, sys, time\n"
    f"c = subprocess.Popen([sys.executable, '-c', {SLEEP_FOREVER!r}])\n"
    "open('child.tmp', 'w').write(str(c.pid)); __import__('os').rename('child.tmp', 'child')\n"
    "time.sleep(120)"
)


def py(code: str) -> tuple[str, ...]:
    return (sys.executable, "-c", code)


def spec(
    command: tuple[str, ...], *, job_id: str | None = None, params: object = None, token: str | None = None
) -> SubmitSpec:
    return make_spec(job_id=job_id or new_id(), params=params, command=command, token=token)


async def eventually(check: Callable[[], Awaitable[bool]] | Callable[[], bool], what: str) -> None:
    """Poll `check` until it holds; fail with `what` after DEADLINE_S."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for: {what}")
        await asyncio.sleep(POLL_S)


async def proc_of(ex: LocalExecutor, job_id: str) -> SchedulerProc:
    (proc,) = await ex.procs_for_jobs([job_id])
    return proc


async def finished(ex: LocalExecutor, job_id: str) -> SchedulerProc:
    async def done() -> bool:
        return not (await proc_of(ex, job_id)).in_queue

    await eventually(done, f"job {job_id} to finish")
    return await proc_of(ex, job_id)


async def in_state(ex: LocalExecutor, job_id: str, state: ProcState) -> None:
    async def reached() -> bool:
        return (await proc_of(ex, job_id)).state is state

    await eventually(reached, f"job {job_id} to be {state.value}")


def gone(pid: int) -> bool:
    """True once the process has exited (a zombie awaiting its reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def read_pid(path: Path) -> int:
    return int(path.read_text())


@pytest.fixture
async def executor(tmp_path: Path) -> AsyncIterator[LocalExecutor]:
    ex = LocalExecutor(tmp_path, max_parallel=4, kill_grace_s=GRACE_S)
    await ex.start()
    yield ex
    await ex.close()


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


def started_with_child(job_dir: Path) -> bool:
    """The executor has written the job's pid file in full (after it spawned the job), and the job
    its child's."""
    pid_file = job_dir / "pid"
    return pid_file.exists() and pid_file.read_text().endswith("\n") and (job_dir / "child").exists()


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


ORPHAN_LAUNCHER = """
import os, subprocess, sys
job_dir, job_id = sys.argv[1], sys.argv[2]
code = (
    "import subprocess, sys, time\\n"
    "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\\n"
    "open('child.tmp', 'w').write(str(c.pid)); __import__('os').rename('child.tmp', 'child')\\n"
    "time.sleep(120)"
)
env = dict(os.environ, EE_RETRY_JOB_ID=job_id)
p = subprocess.Popen(
    [sys.executable, '-c', code], cwd=job_dir, env=env, start_new_session=True,
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
)
open(os.path.join(job_dir, 'pid'), 'w').write(str(p.pid))
"""


def test_kill_leftovers_kills_orphaned_jobs_but_never_a_recycled_pid(tmp_path: Path) -> None:
    orphan_id, recycled_id, missing_id, no_pid_id = new_id(), new_id(), new_id(), new_id()
    orphan_dir = tmp_path / "jobs" / orphan_id
    orphan_dir.mkdir(parents=True)
    subprocess.run([sys.executable, "-c", ORPHAN_LAUNCHER, str(orphan_dir), orphan_id], check=True)
    # A live process that is not the job whose folder names its pid: another job now has that pid.
    stranger = subprocess.Popen(
        py(SLEEP_FOREVER), env=dict(os.environ, EE_RETRY_JOB_ID=new_id()), start_new_session=True
    )
    (tmp_path / "jobs" / recycled_id).mkdir()
    (tmp_path / "jobs" / recycled_id / "pid").write_text(str(stranger.pid))
    (tmp_path / "jobs" / missing_id).mkdir()
    (tmp_path / "jobs" / missing_id / "pid").write_text("999999999")
    try:
        deadline = time.monotonic() + DEADLINE_S
        while not (orphan_dir / "child").exists() and time.monotonic() < deadline:
            time.sleep(POLL_S)
        leader, child = read_pid(orphan_dir / "pid"), read_pid(orphan_dir / "child")

        killed = LocalExecutor(tmp_path).kill_leftovers([no_pid_id, recycled_id, orphan_id, missing_id])

        assert killed == [orphan_id]
        while not (gone(leader) and gone(child)) and time.monotonic() < deadline:
            time.sleep(POLL_S)
        assert gone(leader)
        assert gone(child)
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()
        with contextlib.suppress(OSError, ValueError):
            os.killpg(read_pid(orphan_dir / "pid"), signal.SIGKILL)


async def test_kill_leftovers_never_kills_a_job_this_executor_runs(executor: LocalExecutor) -> None:
    """Recovery meant for a dead instance's processes must not touch the live instance's own."""
    job = spec(py(SLEEP_FOREVER))
    await executor.submit("op1", [job], hold=False)

    async def running() -> bool:
        return (await proc_of(executor, job.job_id)).state is ProcState.RUNNING

    await eventually(running, "the job to start")
    assert executor.kill_leftovers([job.job_id]) == []
    assert (await proc_of(executor, job.job_id)).state is ProcState.RUNNING
    await executor.remove([(await proc_of(executor, job.job_id)).scheduler_id], "test over")
    await finished(executor, job.job_id)
