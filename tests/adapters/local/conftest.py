"""The local executor tests' helpers: jobs as `python -c` commands, polling a condition until a
deadline, reading a job's procs and pids, and the `executor` fixture (started, closed after the test)."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from ee_retry.adapters.local.executor import LocalExecutor
from ee_retry.domain.ids import new_id
from ee_retry.domain.values import ProcState, SchedulerProc, SubmitSpec
from tests.builders import make_spec

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


def started_with_child(job_dir: Path) -> bool:
    """The executor has written the job's pid file in full (after it spawned the job), and the job
    its child's."""
    pid_file = job_dir / "pid"
    return pid_file.exists() and pid_file.read_text().endswith("\n") and (job_dir / "child").exists()
