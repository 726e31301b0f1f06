"""The reaper after a crash at each step of retry and run_job: the operation is finished or rolled
back, and one that cannot be finished yet fails the run and is finished by the next."""

from __future__ import annotations

import pytest

from ee_retry import constants
from ee_retry.domain.model import JobStatus, OperationState
from ee_retry.domain.values import JobQuery, OperationQuery, ProcState
from ee_retry.service.repair.reaper import ReapOptions, reap
from ee_retry.service.repair.reaper_report import EXIT_ACTION_FAILED, EXIT_OK
from ee_retry.testing.instrument import Crash
from tests.service.conftest import Env
from tests.service.repair.conftest import actions, reap_again_changes_nothing, reset, state_of

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
