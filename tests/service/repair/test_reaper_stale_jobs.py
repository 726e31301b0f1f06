"""The reaper's rules for stale jobs, with the fake scheduler: a created job never submitted is
cancelled, a job queued fourteen days is cancelled, and a running job the scheduler lost is marked
error; a second run changes nothing."""

from __future__ import annotations

from ee_retry.domain.ids import new_id
from ee_retry.domain.model import (
    ErrorCode,
    JobStatus,
    Operation,
    OperationKind,
    OperationState,
    TerminatedCode,
)
from ee_retry.domain.values import ProcState
from ee_retry.service.repair.reaper import ReapOptions, reap
from ee_retry.service.repair.reaper_report import EXIT_ACTION_FAILED
from ee_retry.service.submit.requests import RunRequest
from ee_retry.service.submit.run import run_job_batch
from tests.service.conftest import Env
from tests.service.repair.conftest import (
    DAY_S,
    HOUR_S,
    actions,
    insert_job,
    reap_again_changes_nothing,
    state_of,
)

# ---------------------------------------------------------------- created


async def test_a_created_job_past_the_limit_with_no_proc_is_cancelled_by_automation(env: Env) -> None:
    stale = await insert_job(env, JobStatus.CREATED, HOUR_S + 60)
    report = await reap(env.deps, ReapOptions())
    assert actions(report) == [("cancel-created", stale.id)]
    job = await env.job(stale.id)
    assert job.status is JobStatus.TERMINATED
    assert job.terminated_code == TerminatedCode.TERMINATED_BY_AUTOMATION.value
    assert job.errormsg is not None and "never received" in job.errormsg
    await reap_again_changes_nothing(env)


async def test_a_slow_submission_the_scheduler_holds_is_not_cancelled(env: Env) -> None:
    """ee2 cancelled created jobs after 5 minutes without asking; the reaper asks first."""
    held = await insert_job(env, JobStatus.CREATED, 2 * HOUR_S)
    env.sched.add_orphan(held.id, new_id())
    young = await insert_job(env, JobStatus.CREATED, HOUR_S - 60)
    report = await reap(env.deps, ReapOptions())
    assert report.actions == []
    assert (await env.job(held.id)).status is JobStatus.CREATED
    assert (await env.job(young.id)).status is JobStatus.CREATED


async def test_a_created_job_whose_operation_is_unfinished_is_left_to_reconcile(env: Env) -> None:
    now = env.clock.now()
    op = Operation(
        new_id(now), OperationKind.RUN, "alice", OperationState.RESERVED, now - 2 * HOUR_S, now, ()
    )
    await env.deps.store.insert_operation(op)
    job = await insert_job(env, JobStatus.CREATED, 2 * HOUR_S, operation_id=op.id)
    report = await reap(env.deps, ReapOptions())  # the operation was touched just now: within grace
    assert report.actions == []
    assert (await env.job(job.id)).status is JobStatus.CREATED


async def test_the_created_age_limit_is_an_option(env: Env) -> None:
    job = await insert_job(env, JobStatus.CREATED, 10 * 60)
    assert (await reap(env.deps, ReapOptions())).actions == []
    report = await reap(env.deps, ReapOptions(created_max_age_s=5 * 60))
    assert actions(report) == [("cancel-created", job.id)]


# ---------------------------------------------------------------- queued


async def test_queued_jobs_are_cancelled_after_exactly_fourteen_days(env: Env) -> None:
    older = await env.run()
    env.clock.advance(120)
    younger = await env.run()
    env.clock.advance(14 * DAY_S - 120 + 1)  # older: 14 days and 1 s; younger: 13 days 23:58:01
    report = await reap(env.deps, ReapOptions())
    assert actions(report) == [("cancel-queued", older)]
    job = await env.job(older)
    assert job.status is JobStatus.TERMINATED
    assert job.terminated_code == TerminatedCode.TERMINATED_BY_AUTOMATION.value
    assert job.errormsg is not None and "14d 0h" in job.errormsg
    assert state_of(env, older) is ProcState.REMOVED
    assert (await env.job(younger)).status is JobStatus.QUEUED
    assert state_of(env, younger) is ProcState.IDLE
    await reap_again_changes_nothing(env)


async def test_queued_age_counts_from_when_the_job_was_queued_not_created(env: Env) -> None:
    job = await insert_job(env, JobStatus.QUEUED, 20 * DAY_S, queued=env.clock.now() - DAY_S)
    assert (await reap(env.deps, ReapOptions())).actions == []
    assert (await env.job(job.id)).status is JobStatus.QUEUED


async def test_cancelling_queued_batch_children_updates_their_batch(env: Env) -> None:
    answer = await run_job_batch(
        env.deps, env.alice, [RunRequest("Demo.fail"), RunRequest("Demo.fail")], 1, False
    )
    env.clock.advance(14 * DAY_S + 1)
    report = await reap(env.deps, ReapOptions())
    assert sorted(t for _, t in actions(report)) == sorted(answer["child_job_ids"])
    assert (await env.job(answer["batch_id"])).status is JobStatus.TERMINATED


async def test_a_failed_scheduler_remove_fails_the_run(env: Env) -> None:
    job_id = await env.run()
    env.clock.advance(14 * DAY_S + 1)
    env.sched.fail_next_remove()
    report = await reap(env.deps, ReapOptions())
    [action] = report.actions
    assert not action.ok and "did not remove" in action.detail
    assert report.exit_code == EXIT_ACTION_FAILED
    assert (await env.job(job_id)).status is JobStatus.TERMINATED


# ---------------------------------------------------------------- running


async def test_a_running_job_the_scheduler_lost_is_marked_error(env: Env) -> None:
    lost, kept = await env.run(), await env.run()
    await env.sched.start(lost)
    await env.sched.start(kept)
    env.sched.forget(lost)
    report = await reap(env.deps, ReapOptions())
    assert actions(report) == [("fail-running", lost)]
    job = await env.job(lost)
    assert job.status is JobStatus.ERROR
    assert job.error_code == ErrorCode.JOB_CRASHED.value
    assert job.errormsg is not None and "no longer knows this job" in job.errormsg
    assert (await env.job(kept)).status is JobStatus.RUNNING
    await reap_again_changes_nothing(env)


async def test_a_running_job_found_only_in_scheduler_history_is_left_alone(env: Env) -> None:
    """Completed in the scheduler but not yet synced: the status poller owns it, not the reaper."""
    job_id = await env.run()
    await env.sched.start(job_id)
    env.sched.set_listener(None)
    await env.sched.complete(job_id)
    assert (await reap(env.deps, ReapOptions())).actions == []
    assert (await env.job(job_id)).status is JobStatus.RUNNING


async def test_a_running_job_that_ee2_submitted_is_not_marked_lost(env: Env) -> None:
    """ee2's procs carry no ee_job_id, so the scheduler query cannot see them; such a job is not lost."""
    legacy = await insert_job(env, JobStatus.RUNNING, age_s=HOUR_S)
    assert legacy.operation_id is None
    assert (await reap(env.deps, ReapOptions())).actions == []
    assert (await env.job(legacy.id)).status is JobStatus.RUNNING


async def test_an_unreachable_scheduler_fails_the_run_and_changes_nothing(env: Env) -> None:
    job_id = await env.run()
    await env.sched.start(job_id)
    env.sched.forget(job_id)
    env.sched.unavailable = True
    report = await reap(env.deps, ReapOptions())
    assert report.exit_code == EXIT_ACTION_FAILED
    assert any(not a.ok and a.action == "fail-running" for a in report.actions)
    assert (await env.job(job_id)).status is JobStatus.RUNNING
