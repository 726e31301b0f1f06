"""Start-up recovery with the local executor, whose queue dies with the service process: the jobs the
dead instance held (queued or running) are marked error, submissions it cut short are finished, job
processes it left behind are killed, batch containers follow their children, and a second pass
changes nothing."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from ee_retry.adapters.local.executor import LocalExecutor
from ee_retry.app import create_app
from ee_retry.domain.ids import new_id
from ee_retry.domain.model import ErrorCode, Job, JobInput, JobStatus
from ee_retry.domain.status import container_status
from ee_retry.domain.values import JobQuery, OperationQuery, ProcState, Transition
from ee_retry.errors import EERetryError
from ee_retry.ports import JobStore
from ee_retry.service.repair.recovery import recover_local
from ee_retry.service.submit.requests import RunRequest
from ee_retry.service.submit.run import run_job_batch
from ee_retry.testing.clock import FakeClock
from ee_retry.testing.harness import service_deps
from ee_retry.testing.instrument import Crash
from ee_retry.testing.scheduler import FakeScheduler
from tests.service.conftest import Env

DEMO_COMMIT = "52ea58866b80a931944b028dd66b9b3a906be270"
KILL_DEADLINE_S = 10.0  # a SIGKILLed process is gone long before this


class KillRecorder:
    """Stands in for `LocalExecutor.kill_leftovers`: remembers the job ids of each call, kills nothing."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, job_ids: Sequence[str]) -> list[str]:
        self.calls.append(sorted(job_ids))
        return []


def restart(env: Env) -> None:
    """A new service instance: its executor holds none of the procs the dead one had in memory."""
    for proc in env.sched.procs():
        env.sched.forget(proc.job_id)


async def queued_job(env: Env) -> str:
    job_id = await env.run()
    assert (await env.job(job_id)).status is JobStatus.QUEUED
    return job_id


async def running_job(env: Env) -> str:
    job_id = await env.run()
    await env.sched.start(job_id)
    assert (await env.job(job_id)).status is JobStatus.RUNNING
    return job_id


async def batch_of(env: Env, n: int) -> tuple[str, list[str]]:
    answer = await run_job_batch(
        env.deps, env.alice, [RunRequest("Demo.fail", params=[{"i": i}]) for i in range(n)], 1, False
    )
    return answer["batch_id"], answer["child_job_ids"]


def leftover_process(data_dir: Path, job_id: str) -> subprocess.Popen[bytes]:
    """A job process as the local executor leaves it: its own process group, the job id in its
    environment, its pid in `<data_dir>/jobs/<job_id>/pid`."""
    job_dir = data_dir / "jobs" / job_id
    job_dir.mkdir(parents=True)
    process = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)"],
        cwd=job_dir,
        env=dict(os.environ, EE_RETRY_JOB_ID=job_id),
        start_new_session=True,
    )
    (job_dir / "pid").write_text(str(process.pid), encoding="utf-8")
    marker = f"EE_RETRY_JOB_ID={job_id}".encode()
    deadline = time.monotonic() + KILL_DEADLINE_S
    while time.monotonic() < deadline:  # until the child has exec'd with its own environment
        with contextlib.suppress(OSError):
            if marker in Path(f"/proc/{process.pid}/environ").read_bytes():
                break
        time.sleep(0.01)
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait()


# ---------------------------------------------------------------- jobs lost with the dead instance


async def test_running_and_queued_jobs_lost_with_the_old_process_are_marked_error(env: Env) -> None:
    running = await running_job(env)
    queued = await queued_job(env)
    restart(env)

    marked = await recover_local(env.deps, KillRecorder())

    assert marked == sorted([running, queued])
    for job_id, was in ((running, "running"), (queued, "queued")):
        job = await env.job(job_id)
        assert job.status is JobStatus.ERROR
        assert job.error_code == ErrorCode.JOB_CRASHED
        assert job.errormsg is not None
        assert f"stopped while this job was {was}" in job.errormsg
        assert job.finished == env.clock.now()


async def test_finished_jobs_and_jobs_of_another_scheduler_are_left_alone(env: Env) -> None:
    completed = await running_job(env)
    await env.sched.complete(completed)
    failed = await env.failed_job()
    other = await running_job(env)
    await env.deps.store.set_fields({other: {"scheduler_type": "condor"}})
    before = await env.deps.store.get_jobs([completed, failed, other])
    restart(env)

    marked = await recover_local(env.deps, KillRecorder())

    assert marked == []
    assert await env.deps.store.get_jobs([completed, failed, other]) == before


async def test_every_lost_job_and_no_other_is_offered_to_kill_leftovers(env: Env) -> None:
    running = await running_job(env)
    queued = await queued_job(env)
    await env.failed_job()
    _, children = await batch_of(env, 2)
    restart(env)
    kill = KillRecorder()

    await recover_local(env.deps, kill)

    assert kill.calls == [sorted([running, queued, *children])]


async def test_a_job_process_left_by_the_dead_instance_is_killed(env: Env, tmp_path: Path) -> None:
    job_id = await running_job(env)
    restart(env)
    data_dir = tmp_path / "local"
    process = leftover_process(data_dir, job_id)
    try:
        await recover_local(env.deps, LocalExecutor(data_dir).kill_leftovers)

        assert process.wait(timeout=KILL_DEADLINE_S) == -signal.SIGKILL
        assert (await env.job(job_id)).status is JobStatus.ERROR
    finally:
        stop(process)


async def test_a_retry_attempt_lost_with_the_old_process_frees_its_original_for_a_new_retry(env: Env) -> None:
    original = await env.failed_job()
    [first] = await env.retry(original)
    await env.sched.start(first["retry_id"])
    restart(env)

    assert await recover_local(env.deps, KillRecorder()) == [first["retry_id"]]

    [second] = await env.retry(original)
    assert second["job_id"] == original
    assert second.get("retry_id") not in (None, first["retry_id"])
    assert (await env.job(second["retry_id"])).status is JobStatus.QUEUED


# ---------------------------------------------------------------- submissions cut short


@pytest.mark.parametrize(
    ("port", "method"),
    [("sched", "submit"), ("store", "set_fields")],
    ids=["after-submit", "after-scheduler-ids-recorded"],
)
async def test_a_retry_the_crash_cut_short_is_submitted_again_not_marked_error(
    env: Env, port: str, method: str
) -> None:
    original = await env.failed_job()
    (env.store if port == "store" else env.sched_proxy).crash_after(method)
    with pytest.raises(Crash):
        await env.retry(original)
    restart(env)

    marked = await recover_local(env.deps, KillRecorder())

    [attempt] = await env.deps.store.find_jobs(JobQuery(retry_parent=original))
    assert marked == []
    assert attempt.status is JobStatus.QUEUED
    assert (await env.job(original)).retry_ids == (attempt.id,)
    proc = env.sched.proc(attempt.id)
    assert proc is not None
    assert proc.state is ProcState.IDLE
    assert attempt.scheduler_id == proc.scheduler_id


# ---------------------------------------------------------------- batch containers


async def test_a_batch_whose_children_were_lost_is_marked_error_with_them(env: Env) -> None:
    batch_id, children = await batch_of(env, 2)
    await env.sched.start(children[0])
    assert (await env.job(batch_id)).status is JobStatus.RUNNING
    restart(env)

    marked = await recover_local(env.deps, KillRecorder())

    assert marked == sorted(children)
    batch = await env.job(batch_id)
    assert batch.status is JobStatus.ERROR
    assert batch.finished == env.clock.now()


async def test_a_batch_with_a_finished_child_follows_its_lost_sibling(env: Env) -> None:
    batch_id, (done, lost) = await batch_of(env, 2)
    await env.sched.complete(done)
    await env.sched.start(lost)
    restart(env)

    assert await recover_local(env.deps, KillRecorder()) == [lost]

    assert (await env.job(done)).status is JobStatus.COMPLETED
    assert (await env.job(batch_id)).status is JobStatus.ERROR


async def test_a_batch_whose_children_ended_as_the_service_died_follows_them(env: Env) -> None:
    """The children's last report was written, the container's refresh after it was not (SIGKILL)."""
    batch_id, children = await batch_of(env, 2)
    await env.sched.start(children[0])
    now = env.clock.now()
    ended = [
        Transition(
            c, frozenset({JobStatus.QUEUED, JobStatus.RUNNING}), JobStatus.COMPLETED, {"finished": now}
        )
        for c in children
    ]
    assert await env.deps.store.transition(ended) == set(children)
    assert (await env.job(batch_id)).status is JobStatus.RUNNING
    restart(env)

    assert await recover_local(env.deps, KillRecorder()) == []

    assert (await env.job(batch_id)).status is JobStatus.COMPLETED


# ---------------------------------------------------------------- writes the database lost

# A MongoDB server killed with writes not yet in its journal loses writes it had acknowledged: one
# lifecycle write of run_job_batch is answered as done and never made, the request goes on.
LOST_WRITES: list[tuple[str, int, object]] = [
    ("update_operation", 1, True),  # -> RESERVED
    ("update_operation", 2, True),  # the request's fence
    ("set_fields", 1, None),  # scheduler ids recorded
    ("transition", 1, set()),  # -> queued
    ("update_operation", 3, True),  # -> DONE
]


@pytest.mark.parametrize(
    ("method", "nth", "answer"), LOST_WRITES, ids=[f"{m}#{n}" for m, n, _ in LOST_WRITES]
)
async def test_after_a_lost_write_and_a_restart_no_job_is_left_without_a_proc(
    env: Env, method: str, nth: int, answer: object
) -> None:
    """Every job ends terminal, or active under a live proc that carries its recorded scheduler id;
    containers follow their children; no operation stays incomplete."""
    env.store.reset()
    env.store.lose(method, nth, answer)
    with contextlib.suppress(EERetryError):
        await batch_of(env, 2)
    restart(env)

    await recover_local(env.deps, KillRecorder())

    jobs = await env.deps.store.find_jobs(JobQuery())
    live = {p.scheduler_id for p in env.sched.procs() if p.state is not ProcState.REMOVED}
    stranded = [j for j in jobs if not j.status.terminal and not j.batch_job and j.scheduler_id not in live]
    assert stranded == [], f"left {[(j.id, j.status.value, j.scheduler_id) for j in stranded]}"
    by_id = {j.id: j for j in jobs}
    for container in (j for j in jobs if j.batch_job):
        children = [by_id[c] for c in container.child_jobs if c in by_id]
        assert container.status is (container_status(children) or container.status)
    ops = await env.deps.store.find_operations(OperationQuery())
    assert all(op.state.finished for op in ops)


# ---------------------------------------------------------------- a second pass


async def test_a_second_recovery_changes_nothing(env: Env) -> None:
    await running_job(env)
    await queued_job(env)
    _, children = await batch_of(env, 2)
    await env.sched.start(children[0])
    original = await env.failed_job()
    env.store.crash_after("set_fields")
    with pytest.raises(Crash):
        await env.retry(original)
    restart(env)
    assert await recover_local(env.deps, KillRecorder())
    before = await env.deps.store.find_jobs(JobQuery())
    procs = env.sched.procs()
    env.store.reset()
    env.sched_proxy.reset()

    assert await recover_local(env.deps, KillRecorder()) == []

    assert env.writes() == 0, f"second recovery wrote: {env.store.calls} {env.sched_proxy.calls}"
    assert await env.deps.store.find_jobs(JobQuery()) == before
    assert env.sched.procs() == procs


# ---------------------------------------------------------------- the app runs it at start-up


async def insert_running_local_job(store: JobStore, clock: FakeClock) -> str:
    now = clock.now()
    job_input = JobInput(method="Demo.succeed", service_ver=DEMO_COMMIT, wsid=1)
    job = Job(
        new_id(now),
        "alice",
        JobStatus.RUNNING,
        job_input,
        now,
        now,
        wsid=1,
        scheduler_type="local",
        scheduler_id="1.0",
    )
    await store.insert_jobs([job])
    return job.id


async def test_the_app_recovers_at_start_up_with_the_local_executor(store: JobStore, tmp_path: Path) -> None:
    clock = FakeClock(1_700_000_000.0)
    data_dir = tmp_path / "local"
    job_id = await insert_running_local_job(store, clock)
    process = leftover_process(data_dir, job_id)
    deps = service_deps(store, LocalExecutor(data_dir), clock)
    try:
        with TestClient(create_app(deps, poll=False)):
            assert process.wait(timeout=KILL_DEADLINE_S) == -signal.SIGKILL
            job = (await store.get_jobs([job_id]))[job_id]
            assert job.status is JobStatus.ERROR
            assert job.error_code == ErrorCode.JOB_CRASHED
    finally:
        stop(process)


async def test_the_app_leaves_running_jobs_alone_with_a_scheduler_that_outlives_it(
    store: JobStore,
) -> None:
    clock = FakeClock(1_700_000_000.0)
    job_id = await insert_running_local_job(store, clock)
    await store.set_fields({job_id: {"scheduler_type": FakeScheduler.scheduler_type}})
    deps = service_deps(store, FakeScheduler(clock=clock), clock)
    with TestClient(create_app(deps, poll=False)):
        assert (await store.get_jobs([job_id]))[job_id].status is JobStatus.RUNNING
