"""Recovery after a dead instance: kill_leftovers kills that instance's orphaned jobs (and their
children) but never a process that took a recycled pid, nor a job this executor runs."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ee_retry.adapters.local.executor import LocalExecutor
from ee_retry.domain.ids import new_id
from ee_retry.domain.values import ProcState
from tests.adapters.local.conftest import (
    DEADLINE_S,
    POLL_S,
    SLEEP_FOREVER,
    eventually,
    finished,
    gone,
    proc_of,
    py,
    read_pid,
    spec,
)

pytestmark = pytest.mark.slow


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
