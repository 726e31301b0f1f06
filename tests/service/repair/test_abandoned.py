"""A request whose store went away after its submit: the instance finishes the operation itself as
soon as the store answers again, instead of leaving the jobs `created` for the grace period."""

from __future__ import annotations

import logging

import pytest

from ee_retry.domain.model import JobStatus, OperationState
from ee_retry.domain.values import JobQuery, OperationQuery, ProcState
from ee_retry.errors import OperationTakenOver, SchedulerUnavailable, StoreUnavailable
from ee_retry.service.repair.reconcile import Outcome, reconcile, reconcile_abandoned
from tests.service.conftest import Env

AWAY = StoreUnavailable("the job store did not answer")


async def operation_states(env: Env) -> list[OperationState]:
    return [op.state for op in await env.deps.store.find_operations(OperationQuery())]


# (method, nth call within the request): the store writes after the submit, as in test_retry_crash.
AFTER_SUBMIT = [("update_operation", 2), ("set_fields", 1), ("link", 1), ("update_operation", 3)]


@pytest.mark.parametrize(("method", "nth"), AFTER_SUBMIT, ids=[f"{m}#{n}" for m, n in AFTER_SUBMIT])
async def test_the_operation_is_finished_once_the_store_answers_again(
    env: Env, method: str, nth: int
) -> None:
    original = await env.failed_job()
    env.store.reset()
    env.store.fail(method, AWAY, nth)
    with pytest.raises(StoreUnavailable):
        await env.retry(original)
    [attempt] = await env.deps.store.find_jobs(JobQuery(retry_parent=original))
    assert OperationState.RESERVED in await operation_states(env)
    assert await reconcile(env.deps) == []  # the grace period has not passed

    [action] = await reconcile_abandoned(env.deps)

    attempt = await env.job(attempt.id)
    assert action.op_id == attempt.operation_id
    assert attempt.status is JobStatus.QUEUED
    assert (await env.job(original)).retry_ids == (attempt.id,)
    [proc] = [p for p in env.sched.procs() if p.job_id == attempt.id]
    assert proc.state is ProcState.IDLE
    assert OperationState.RESERVED not in await operation_states(env)
    assert env.deps.abandoned == set()
    assert await reconcile_abandoned(env.deps) == []


async def test_while_the_store_is_still_away_the_operation_is_kept_for_the_next_try(env: Env) -> None:
    original = await env.failed_job()
    env.store.fail("link", AWAY)
    with pytest.raises(StoreUnavailable):
        await env.retry(original)
    [attempt] = await env.deps.store.find_jobs(JobQuery(retry_parent=original))
    env.store.fail("get_jobs", AWAY)

    [failed] = await reconcile_abandoned(env.deps)
    assert failed.action is Outcome.FAILED
    assert env.deps.abandoned == {attempt.operation_id}

    env.clock.advance(1.0)
    await reconcile_abandoned(env.deps)
    assert (await env.job(attempt.id)).status is JobStatus.QUEUED
    assert env.deps.abandoned == set()


async def test_a_submit_without_an_answer_waits_out_the_grace_period(env: Env) -> None:
    """The scheduler may still be taking that submit in: only reconcile, after the grace, looks."""
    original = await env.failed_job()
    env.sched.fail_next_submit()
    with pytest.raises(SchedulerUnavailable):
        await env.retry(original)

    assert env.deps.abandoned == set()
    assert await reconcile_abandoned(env.deps) == []
    [attempt] = await env.deps.store.find_jobs(JobQuery(retry_parent=original))
    assert attempt.status is JobStatus.CREATED


async def test_a_fence_that_finds_the_operation_moved_is_finished_without_the_grace(env: Env) -> None:
    """As when the fence's write took effect but its answer was lost and the retried write found the
    operation already moved: the request says so, and its instance finishes the operation at once."""
    original = await env.failed_job()
    env.store.reset()
    env.store.lose("update_operation", 2, answer=False)
    with pytest.raises(OperationTakenOver):
        await env.retry(original)
    [attempt] = await env.deps.store.find_jobs(JobQuery(retry_parent=original))
    assert attempt.status is JobStatus.CREATED

    await reconcile_abandoned(env.deps)

    assert (await env.job(attempt.id)).status is JobStatus.QUEUED
    assert (await env.job(original)).retry_ids == (attempt.id,)
    assert OperationState.RESERVED not in await operation_states(env)


async def abandon_one(env: Env) -> tuple[str, str]:
    """A retry whose store failed at its link: its attempt and operation, abandoned by its request."""
    original = await env.failed_job()
    env.store.fail("link", AWAY)
    with pytest.raises(StoreUnavailable):
        await env.retry(original)
    [attempt] = await env.deps.store.find_jobs(JobQuery(retry_parent=original))
    assert attempt.operation_id is not None
    assert env.deps.abandoned == {attempt.operation_id}
    return attempt.id, attempt.operation_id


def logged(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level]


async def test_while_the_store_stays_away_tries_back_off_and_end_after_the_grace_period(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    """Called every second, as the service does: one warning, then tries 1, 2, 4, ... s apart (at
    most a minute); after the grace period one warning leaves the operation to regular reconcile."""
    attempt, op_id = await abandon_one(env)
    env.store.fail("get_jobs", AWAY, times=None)
    caplog.clear()
    caplog.set_level(logging.INFO)

    tried = []
    for second in range(180):
        before = env.store.calls["get_jobs"]
        await reconcile_abandoned(env.deps)
        if env.store.calls["get_jobs"] > before:
            tried.append(second)
        env.clock.advance(1.0)

    assert tried == [0, 1, 3, 7, 15, 31, 63, 123]
    assert env.deps.abandoned == set()
    first, last = logged(caplog, logging.WARNING)
    assert op_id in first and AWAY.message in first
    assert op_id in last and "regular reconcile pass" in last
    env.store.heal()
    [action] = await reconcile(env.deps)
    assert (action.op_id, action.action) == (op_id, Outcome.FINISHED)
    assert (await env.job(attempt)).status is JobStatus.QUEUED


async def test_an_operation_finished_after_failed_tries_is_logged_once(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    attempt, op_id = await abandon_one(env)
    env.store.fail("find_operations", AWAY, times=3)
    caplog.clear()
    caplog.set_level(logging.INFO)

    actions = []
    for _ in range(8):  # the tries at 0, 1 and 3 s fail; the one at 7 s finishes it
        actions += await reconcile_abandoned(env.deps)
        env.clock.advance(1.0)

    assert [(a.op_id, a.action) for a in actions] == [(op_id, Outcome.FINISHED)]
    assert (await env.job(attempt)).status is JobStatus.QUEUED
    assert env.deps.abandoned == set()
    [warning] = logged(caplog, logging.WARNING)
    assert op_id in warning and AWAY.message in warning
    [finished] = logged(caplog, logging.INFO)
    assert op_id in finished and "after 3 failed tries" in finished
