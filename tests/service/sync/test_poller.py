"""The status poller: one leader at a time applies what the scheduler reports, and the rows of the
status table it applies (an idle proc queues its job; a removed proc terminates an active job and
leaves a finished one alone)."""

from __future__ import annotations

import pytest

from ee_retry import constants
from ee_retry.domain import status
from ee_retry.domain.model import Job, JobStatus, TerminatedCode
from ee_retry.domain.values import ProcState, SchedulerProc, Transition
from ee_retry.service.sync.callbacks import finish_job
from ee_retry.service.sync.poller import Poller
from tests.service.conftest import Env

INTERVAL_S = 1.0


@pytest.fixture
def quiet(env: Env) -> Env:
    """The scheduler's reports reach the service only through a poller."""
    env.sched.set_listener(None)
    return env


async def test_only_the_poller_holding_the_lease_applies_transitions(quiet: Env) -> None:
    env = quiet
    leader, follower = Poller(env.deps, INTERVAL_S), Poller(env.deps, INTERVAL_S)
    job_id = await env.run(method="Demo.succeed")
    await leader.run_once()  # takes the lease
    await env.sched.start(job_id)
    await env.sched.complete(job_id, exit_code=0)
    polls = env.sched.query_calls

    assert await follower.run_once() == 0
    assert env.sched.query_calls == polls  # the follower did not even ask the scheduler
    assert (await env.job(job_id)).status is JobStatus.QUEUED
    assert follower.last_pass is None

    assert await leader.run_once() == 1
    assert (await env.job(job_id)).status is JobStatus.COMPLETED


async def test_a_follower_takes_over_once_the_leaders_lease_has_lapsed(quiet: Env) -> None:
    env = quiet
    leader, follower = Poller(env.deps, INTERVAL_S), Poller(env.deps, INTERVAL_S)
    job_id = await env.run(method="Demo.succeed")
    await leader.run_once()
    await env.sched.start(job_id)
    env.clock.advance(constants.LEADER_LEASE_TTL_S + 1)  # the leader stopped renewing

    assert await follower.run_once() == 1
    assert (await env.job(job_id)).status is JobStatus.RUNNING
    await env.sched.complete(job_id, exit_code=0)
    assert await leader.run_once() == 0  # the old leader is now the follower
    assert (await env.job(job_id)).status is JobStatus.RUNNING


# ---------------------------------------------------------------- the status table, through a poller


async def test_an_idle_proc_queues_a_job_still_recorded_as_created(quiet: Env) -> None:
    """The submission recorded the proc but stopped before its queued transition (a crash)."""
    env = quiet
    job_id = await env.run()
    back = Transition(job_id, frozenset({JobStatus.QUEUED}), JobStatus.CREATED, {"queued": None})
    assert await env.deps.store.transition([back]) == {job_id}
    assert env.sched.proc(job_id).state is ProcState.IDLE  # type: ignore[union-attr]

    assert await Poller(env.deps, INTERVAL_S).run_once() == 1
    job = await env.job(job_id)
    assert job.status is JobStatus.QUEUED
    assert job.queued == env.clock.now()


async def test_an_idle_report_never_moves_a_running_job_back_to_queued(quiet: Env) -> None:
    env = quiet
    job_id = await env.run()
    await env.sched.start(job_id)
    await Poller(env.deps, INTERVAL_S).run_once()
    job = await env.job(job_id)
    assert job.status is JobStatus.RUNNING
    evicted = SchedulerProc(job_id, None, job.scheduler_id or "", ProcState.IDLE)  # waits to run again

    change = status.from_proc(job, evicted, env.clock.now())
    assert change is not None
    assert JobStatus.RUNNING not in change.expected
    assert await env.deps.store.transition([change]) == set()
    assert (await env.job(job_id)).status is JobStatus.RUNNING


@pytest.mark.parametrize("started", [False, True], ids=["queued", "running"])
async def test_a_removed_proc_terminates_an_active_job_by_automation(quiet: Env, started: bool) -> None:
    env = quiet
    poller = Poller(env.deps, INTERVAL_S)
    job_id = await env.run()
    if started:
        await env.sched.start(job_id)
        await poller.run_once()
    await env.sched.remove([(await env.job(job_id)).scheduler_id or ""], "removed by an operator")

    assert await poller.run_once() == 1
    job = await env.job(job_id)
    assert job.status is JobStatus.TERMINATED
    assert job.terminated_code == TerminatedCode.TERMINATED_BY_AUTOMATION.value
    assert job.errormsg == "Job was removed from the scheduler queue"
    assert job.finished == env.clock.now()


@pytest.mark.parametrize("outcome", [JobStatus.COMPLETED, JobStatus.ERROR])
async def test_a_removed_proc_leaves_a_finished_job_as_it_was(quiet: Env, outcome: JobStatus) -> None:
    """The runner reported first; the proc is removed afterwards (e.g. by the reaper or an operator)."""
    env = quiet
    poller = Poller(env.deps, INTERVAL_S)
    job_id = await env.run()
    error = "input file missing" if outcome is JobStatus.ERROR else None
    await finish_job(env.deps, env.alice, job_id, False, error, None, None, {"ok": 1})
    finished = await env.job(job_id)
    assert finished.status is outcome
    await env.sched.remove([finished.scheduler_id or ""], "removed by an operator")

    assert await poller.run_once() == 0
    assert await env.job(job_id) == finished
    removed = env.sched.proc(job_id)
    assert removed is not None and removed.state is ProcState.REMOVED
    assert status.from_proc(finished, removed, env.clock.now()) is None


def test_the_removed_row_only_ever_moves_an_active_job() -> None:
    """Even if the finished-job check were skipped, the transition expects an active status."""
    job = Job("66aa00000000000000000001", "alice", JobStatus.RUNNING, None, 1.0, 1.0, scheduler_id="3.0")
    removed = SchedulerProc(job.id, None, "3.0", ProcState.REMOVED)
    change = status.from_proc(job, removed, 2.0)
    assert change is not None
    assert change.new is JobStatus.TERMINATED
    assert not any(s.terminal for s in change.expected)
