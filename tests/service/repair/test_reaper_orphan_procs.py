"""The reaper's orphan rule, with the fake scheduler: scheduler procs without a job record, a proc left
behind by a cancel whose remove failed, and a job's duplicate proc are removed, a failed removal is
retried by the next run, and a second run changes nothing."""

from __future__ import annotations

from ee_retry import constants
from ee_retry.domain.ids import new_id
from ee_retry.domain.values import ProcState
from ee_retry.service.repair.reaper import ReapOptions, reap
from ee_retry.service.repair.reaper_report import EXIT_ACTION_FAILED, EXIT_OK
from tests.service.conftest import Env
from tests.service.repair.conftest import DAY_S, actions, reap_again_changes_nothing, state_of


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
