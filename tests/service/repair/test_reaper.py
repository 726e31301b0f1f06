"""The reaper: each rule with the fake scheduler, crash recovery, dry run, the lease, and idempotence."""

from __future__ import annotations

from typing import Any

import pytest

from ee_retry import constants
from ee_retry.domain.ids import new_id
from ee_retry.domain.model import (
    ErrorCode,
    Job,
    JobInput,
    JobStatus,
    Operation,
    OperationKind,
    OperationState,
    TerminatedCode,
)
from ee_retry.domain.values import JobQuery, OperationQuery, ProcState
from ee_retry.service.repair.reaper import LEASE_NAME, LOCAL_NOTE, ReapOptions, reap
from ee_retry.service.repair.reaper_report import EXIT_ACTION_FAILED, EXIT_LEASE_HELD, EXIT_OK, ReapReport
from ee_retry.service.submit.requests import RunRequest
from ee_retry.service.submit.run import run_job_batch
from ee_retry.testing.instrument import Crash
from tests.service.conftest import Env

DAY_S = 86_400
HOUR_S = 3_600
LEASE_CALLS = ("acquire_lease", "release_lease")
DEMO_COMMIT = "52ea58866b80a931944b028dd66b9b3a906be270"


async def insert_job(env: Env, status: JobStatus, age_s: float, **fields: Any) -> Job:
    """A job record written straight to the store, `age_s` old, as a crash or an old ee2 left it."""
    created = env.clock.now() - age_s
    job_input = JobInput(method="Demo.fail", service_ver=DEMO_COMMIT, wsid=1)
    job = Job(new_id(created), "alice", status, job_input, created, created, wsid=1, **fields)
    await env.deps.store.insert_jobs([job])
    return job


def state_of(env: Env, job_id: str) -> ProcState | None:
    proc = env.sched.proc(job_id)
    return None if proc is None else proc.state


def actions(report: ReapReport) -> list[tuple[str, str]]:
    return [(a.action, a.target) for a in report.actions]


def reset(env: Env) -> None:
    env.store.reset()
    env.sched_proxy.reset()


async def reap_again_changes_nothing(env: Env, options: ReapOptions | None = None) -> None:
    reset(env)
    report = await reap(env.deps, options or ReapOptions())
    assert report.actions == []
    assert report.exit_code == EXIT_OK
    assert env.writes() == 0, f"second run wrote: {env.store.calls} {env.sched_proxy.calls}"


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


# ---------------------------------------------------------------- orphans


async def test_scheduler_procs_without_a_job_record_are_removed(env: Env) -> None:
    known = await env.run()
    orphan = env.sched.add_orphan(new_id(), new_id(), ProcState.IDLE)
    finished = env.sched.add_orphan(new_id(), new_id(), ProcState.COMPLETED)
    report = await reap(env.deps, ReapOptions())
    assert actions(report) == [("remove-orphan", orphan)]
    states = {p.scheduler_id: p.state for p in env.sched.procs()}
    assert states[orphan] is ProcState.REMOVED
    assert states[finished] is ProcState.COMPLETED
    assert state_of(env, known) is ProcState.IDLE
    await reap_again_changes_nothing(env)


async def test_a_failed_orphan_removal_is_retried_by_the_next_run(env: Env) -> None:
    orphan = env.sched.add_orphan(new_id(), new_id(), ProcState.IDLE)
    env.sched.fail_next_remove()
    first = await reap(env.deps, ReapOptions())
    assert first.exit_code == EXIT_ACTION_FAILED
    second = await reap(env.deps, ReapOptions())
    assert actions(second) == [("remove-orphan", orphan)]
    assert second.exit_code == EXIT_OK


async def test_a_queued_cancel_whose_remove_failed_is_removed_by_a_later_run(env: Env) -> None:
    """The job is terminated at once; its proc, left queued, goes once the grace period has passed."""
    job_id = await env.run()
    env.clock.advance(14 * DAY_S + 1)
    env.sched.fail_next_remove()
    assert (await reap(env.deps, ReapOptions())).exit_code == EXIT_ACTION_FAILED
    assert state_of(env, job_id) is ProcState.IDLE
    assert (await reap(env.deps, ReapOptions())).actions == []  # within the grace period
    env.clock.advance(constants.SUBMIT_GRACE_S + 1)
    report = await reap(env.deps, ReapOptions())
    [action] = report.actions
    assert action.action == "remove-orphan" and "already terminated" in action.detail
    assert report.exit_code == EXIT_OK
    assert state_of(env, job_id) is ProcState.REMOVED
    await reap_again_changes_nothing(env)


async def test_a_duplicate_proc_of_a_job_is_removed_and_its_recorded_proc_kept(env: Env) -> None:
    job_id = await env.run()
    job = await env.job(job_id)
    assert job.operation_id is not None and job.scheduler_id is not None
    duplicate = env.sched.add_orphan(job_id, job.operation_id, ProcState.IDLE)
    report = await reap(env.deps, ReapOptions())
    assert actions(report) == [("remove-orphan", duplicate)]
    states = {p.scheduler_id: p.state for p in env.sched.procs()}
    assert states[duplicate] is ProcState.REMOVED
    assert states[job.scheduler_id] is ProcState.IDLE
    await reap_again_changes_nothing(env)


# ---------------------------------------------------------------- reconcile after a crash

# (port, method, nth call): the retry lifecycle in order; a crash right after each step.
RETRY_STEPS = [
    ("store", "insert_operation", 1),
    ("store", "insert_jobs", 1),
    ("store", "update_operation", 1),
    ("sched", "submit", 1),
    ("store", "update_operation", 2),  # fence
    ("store", "set_fields", 1),
    ("store", "link", 1),
    ("sched", "release", 1),
    ("store", "transition", 1),
    ("store", "update_operation", 3),
]
ROLLED_BACK = {"insert_operation", "insert_jobs"}


@pytest.mark.parametrize(("port", "method", "nth"), RETRY_STEPS, ids=[f"{m}#{n}" for _, m, n in RETRY_STEPS])
async def test_a_reaper_run_after_a_crash_in_a_retry_leaves_it_finished_or_undone(
    env: Env, port: str, method: str, nth: int
) -> None:
    original = await env.failed_job()
    reset(env)
    (env.store if port == "store" else env.sched_proxy).crash_after(method, nth)
    with pytest.raises(Crash):
        await env.retry(original)
    env.clock.advance(constants.SUBMIT_GRACE_S + 1)
    report = await reap(env.deps, ReapOptions())
    assert report.exit_code == EXIT_OK
    attempts = await env.deps.store.find_jobs(JobQuery(retry_parent=original))
    assert (await env.job(original)).retry_ids == tuple(a.id for a in attempts)
    assert len(attempts) == (0 if method in ROLLED_BACK else 1)
    for attempt in attempts:
        assert attempt.status is JobStatus.QUEUED and attempt.retry_saved_toggle
        live = [p for p in env.sched.procs() if p.job_id == attempt.id and p.state is not ProcState.REMOVED]
        assert [p.scheduler_id for p in live] == [attempt.scheduler_id]
        assert live[0].state is ProcState.IDLE
    ops = await env.deps.store.find_operations(OperationQuery())
    assert all(op.state.finished for op in ops)
    await reap_again_changes_nothing(env)


async def test_an_operation_reconcile_cannot_finish_fails_the_run_and_the_next_run_finishes_it(
    env: Env,
) -> None:
    original = await env.failed_job()
    env.store.crash_after("update_operation")  # reserved, not yet submitted
    with pytest.raises(Crash):
        await env.retry(original)
    env.clock.advance(constants.SUBMIT_GRACE_S + 1)
    env.sched.fail_next_submit()
    first = await reap(env.deps, ReapOptions())
    [op] = await env.deps.store.find_operations(OperationQuery(states=[OperationState.RESERVED]))
    assert [(a.action, a.target, a.ok) for a in first.actions] == [("finish-operation", op.id, False)]
    assert first.exit_code == EXIT_ACTION_FAILED
    env.clock.advance(constants.SUBMIT_GRACE_S + 1)
    second = await reap(env.deps, ReapOptions())
    assert [(a.action, a.target, a.ok) for a in second.actions] == [("finish-operation", op.id, True)]
    [attempt] = await env.deps.store.find_jobs(JobQuery(retry_parent=original))
    assert attempt.status is JobStatus.QUEUED


# The run_job lifecycle in order (no links: a plain job has no original and no batch).
RUN_STEPS = [
    ("store", "insert_operation", 1),
    ("store", "insert_jobs", 1),
    ("store", "update_operation", 1),  # -> RESERVED
    ("sched", "submit", 1),
    ("store", "update_operation", 2),  # fence
    ("store", "set_fields", 1),
    ("sched", "release", 1),
    ("store", "transition", 1),  # -> queued
    ("store", "update_operation", 3),  # -> DONE
]


@pytest.mark.parametrize(("port", "method", "nth"), RUN_STEPS, ids=[f"{m}#{n}" for _, m, n in RUN_STEPS])
async def test_a_reaper_run_after_a_crash_in_run_job_reports_the_repair(
    env: Env, port: str, method: str, nth: int
) -> None:
    (env.store if port == "store" else env.sched_proxy).crash_after(method, nth)
    with pytest.raises(Crash):
        await env.run()
    env.clock.advance(constants.SUBMIT_GRACE_S + 1)
    report = await reap(env.deps, ReapOptions())
    [op] = await env.deps.store.find_operations(OperationQuery())
    rolled_back = method in ROLLED_BACK
    if (method, nth) == ("update_operation", 3):
        assert actions(report) == []  # the operation was done; only its answer was not sent
    else:
        assert actions(report) == [("rollback-operation" if rolled_back else "finish-operation", op.id)]
    jobs = await env.deps.store.find_jobs(JobQuery())
    assert [j.status for j in jobs] == ([] if rolled_back else [JobStatus.QUEUED])
    assert all(j.scheduler_id and state_of(env, j.id) is ProcState.IDLE for j in jobs)
    await reap_again_changes_nothing(env)


# ---------------------------------------------------------------- dry run, lease, idempotence


async def make_one_of_each(env: Env) -> dict[str, str]:
    """One case for every rule; returns action -> target."""
    env.sched_proxy.crash_after("submit")
    with pytest.raises(Crash):
        await env.run()
    [op] = await env.deps.store.find_operations(OperationQuery())
    queued = await env.run()
    env.clock.advance(14 * DAY_S + 1)
    running = await env.run()
    await env.sched.start(running)
    env.sched.forget(running)
    created = await insert_job(env, JobStatus.CREATED, 2 * HOUR_S)
    orphan = env.sched.add_orphan(new_id(), new_id(), ProcState.IDLE)
    return {
        "finish-operation": op.id,
        "cancel-created": created.id,
        "cancel-queued": queued,
        "fail-running": running,
        "remove-orphan": orphan,
    }


async def test_a_dry_run_reports_every_planned_action_and_writes_nothing(env: Env) -> None:
    planned = await make_one_of_each(env)
    reset(env)
    report = await reap(env.deps, ReapOptions(dry_run=True))
    assert sorted(actions(report)) == sorted((f"would-{a}", t) for a, t in planned.items())
    assert env.writes() == 0, f"dry run wrote: {env.store.calls} {env.sched_proxy.calls}"
    assert not any(env.store.calls[m] for m in LEASE_CALLS)
    assert "dry run" in report.summary()


async def test_a_run_does_what_the_dry_run_planned_and_a_second_run_changes_nothing(env: Env) -> None:
    planned = await make_one_of_each(env)
    dry = await reap(env.deps, ReapOptions(dry_run=True))
    report = await reap(env.deps, ReapOptions())
    assert sorted(actions(report)) == sorted(planned.items())
    assert sorted((a.removeprefix("would-"), t) for a, t in actions(dry)) == sorted(actions(report))
    assert report.exit_code == EXIT_OK
    await reap_again_changes_nothing(env)


async def test_a_run_does_nothing_while_another_reaper_holds_the_lease(env: Env) -> None:
    await insert_job(env, JobStatus.CREATED, 2 * HOUR_S)
    now = env.clock.now()
    assert await env.deps.store.acquire_lease(LEASE_NAME, "other-reaper", constants.REAPER_LEASE_TTL_S, now)
    reset(env)
    report = await reap(env.deps, ReapOptions())
    assert report.lease_held_elsewhere
    assert report.actions == []
    assert report.exit_code == EXIT_LEASE_HELD
    assert env.writes() == 0
    assert "another reaper holds the lease" in report.summary()


async def test_the_lease_is_taken_over_once_its_holder_stops_renewing_it(env: Env) -> None:
    job = await insert_job(env, JobStatus.CREATED, 2 * HOUR_S)
    now = env.clock.now()
    await env.deps.store.acquire_lease(LEASE_NAME, "crashed-reaper", constants.REAPER_LEASE_TTL_S, now)
    env.clock.advance(constants.REAPER_LEASE_TTL_S + 1)
    report = await reap(env.deps, ReapOptions())
    assert actions(report) == [("cancel-created", job.id)]


async def test_a_run_renews_its_lease_and_stops_once_another_reaper_took_it(env: Env) -> None:
    """Each rule renews the lease; a run so slow that its lease lapsed and was taken stops there."""
    job = await insert_job(env, JobStatus.CREATED, 2 * HOUR_S)
    store = env.deps.store
    take = store.acquire_lease
    holders: list[str] = []

    async def lapsing(name: str, holder: str, ttl_s: float, now: float) -> bool:
        holders.append(holder)
        if len(holders) == 3:  # before the second rule: the lease lapsed and another reaper took it
            env.clock.advance(ttl_s + 1)
            assert await take(name, "second", ttl_s, env.clock.now())
        return bool(await take(name, holder, ttl_s, env.clock.now()))

    store.acquire_lease = lapsing  # type: ignore[method-assign]
    report = await reap(env.deps, ReapOptions(holder="first"))

    assert holders[:3] == ["first"] * 3
    assert report.exit_code == EXIT_ACTION_FAILED
    assert any("another reaper took it" in a.detail for a in report.actions)
    assert (await env.job(job.id)).status is JobStatus.CREATED  # the created rule never ran
    assert not await take(LEASE_NAME, "third", 60, env.clock.now())  # still the second reaper's


async def test_a_run_releases_its_lease_when_it_ends(env: Env) -> None:
    await reap(env.deps, ReapOptions(holder="first"))
    assert await env.deps.store.acquire_lease(LEASE_NAME, "second", 60, env.clock.now())


# ---------------------------------------------------------------- local executor


async def test_with_the_local_executor_only_the_queued_rule_runs_and_the_report_says_why(env: Env) -> None:
    planned = await make_one_of_each(env)
    reset(env)
    report = await reap(env.deps, ReapOptions(scheduler_visible=False))
    assert actions(report) == [("cancel-queued", planned["cancel-queued"])]
    assert report.notes == [LOCAL_NOTE]
    assert env.sched_proxy.total == 0
    assert (await env.job(planned["fail-running"])).status is JobStatus.RUNNING
    assert (await env.job(planned["cancel-created"])).status is JobStatus.CREATED
