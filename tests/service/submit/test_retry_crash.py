"""Crash-safety: a crash after any lifecycle step, then reconcile, leaves no half-done retry.

After reconcile: every attempt is linked into its original's retry_ids, saved, submitted exactly once
and released; or, when the crash came before the reservation was complete, nothing of it remains. A
second reconcile writes nothing.
"""

from __future__ import annotations

import pytest

from ee_retry import constants
from ee_retry.domain.model import JobStatus, OperationState
from ee_retry.domain.values import JobQuery, OperationQuery, ProcState
from ee_retry.errors import SchedulerUnavailable
from ee_retry.service.repair.reconcile import reconcile
from ee_retry.testing.instrument import Crash
from tests.service.conftest import Env

# (port, method, nth call of that method within the request): the retry lifecycle in order.
STEPS = [
    ("store", "insert_operation", 1),
    ("store", "insert_jobs", 1),
    ("store", "update_operation", 1),  # -> RESERVED
    ("sched", "submit", 1),
    ("store", "update_operation", 2),  # fenced: reconcile has not taken it over
    ("store", "set_fields", 1),  # scheduler ids recorded
    ("store", "link", 1),
    ("sched", "release", 1),
    ("store", "transition", 1),  # -> queued
    ("store", "update_operation", 3),  # -> DONE
]
ROLLED_BACK_STEPS = {"insert_operation", "insert_jobs"}


async def assert_consistent(env: Env, original_id: str) -> list[str]:
    """Invariants after recovery; returns the attempt ids."""
    attempts = await env.deps.store.find_jobs(JobQuery(retry_parent=original_id))
    original = await env.job(original_id)
    assert original.retry_ids == tuple(a.id for a in attempts)
    for attempt in attempts:
        assert attempt.retry_saved_toggle
        assert attempt.status is JobStatus.QUEUED
        procs = [p for p in env.sched.procs() if p.job_id == attempt.id and p.state is not ProcState.REMOVED]
        assert len(procs) == 1, f"attempt {attempt.id} has {len(procs)} live procs"
        assert procs[0].state is ProcState.IDLE
        assert attempt.scheduler_id == procs[0].scheduler_id
    ops = await env.deps.store.find_operations(OperationQuery())
    assert all(op.state in (OperationState.DONE, OperationState.ROLLED_BACK) for op in ops)
    return [a.id for a in attempts]


async def recover(env: Env) -> None:
    env.clock.advance(constants.SUBMIT_GRACE_S + 1)
    await reconcile(env.deps)


@pytest.mark.parametrize(("port", "method", "nth"), STEPS, ids=[f"{m}#{n}" for _, m, n in STEPS])
async def test_crash_after_each_step_then_reconcile_finishes_or_rolls_back(
    env: Env, port: str, method: str, nth: int
) -> None:
    original = await env.failed_job()
    proxy = env.store if port == "store" else env.sched_proxy
    env.store.reset()
    env.sched_proxy.reset()
    proxy.crash_after(method, nth)
    with pytest.raises(Crash):
        await env.retry(original)
    await recover(env)
    attempts = await assert_consistent(env, original)
    assert len(attempts) == (0 if method in ROLLED_BACK_STEPS else 1)
    assert sum(1 for batch in env.sched.submitted_batches if attempts and attempts[0] in batch) <= 1
    env.store.reset()
    env.sched_proxy.reset()
    await reconcile(env.deps)
    assert env.writes() == 0, f"second reconcile wrote: {env.store.calls} {env.sched_proxy.calls}"


@pytest.mark.parametrize(("port", "method", "nth"), STEPS[:5], ids=[f"{m}#{n}" for _, m, n in STEPS[:5]])
async def test_after_recovery_the_original_can_be_retried_again_exactly_when_it_should(
    env: Env, port: str, method: str, nth: int
) -> None:
    """Rolled back: a new retry goes through. Finished: the attempt is in flight and blocks one."""
    original = await env.failed_job()
    (env.store if port == "store" else env.sched_proxy).crash_after(method, nth)
    with pytest.raises(Crash):
        await env.retry(original)
    await recover(env)
    [item] = await env.retry(original)
    if method in ROLLED_BACK_STEPS:
        assert "retry_id" in item
    else:
        assert item["code"] == -32006


async def test_a_crash_inside_run_job_batch_is_finished_by_reconcile(env: Env) -> None:
    env.sched_proxy.crash_after("submit")
    with pytest.raises(Crash):
        await env.failed_batch(3)
    await recover(env)
    [container] = [j for j in await env.deps.store.find_jobs(JobQuery()) if j.batch_job]
    children = await env.deps.store.find_jobs(JobQuery(batch_id=container.id))
    assert container.status is JobStatus.QUEUED
    assert len(children) == 3
    assert all(c.status is JobStatus.QUEUED and c.scheduler_id for c in children)
    assert container.child_jobs == tuple(c.id for c in sorted(children, key=lambda c: c.id))


async def test_a_lost_submit_answer_is_found_not_resubmitted(env: Env) -> None:
    original = await env.failed_job()
    env.sched.lose_next_answer()
    [item] = await env.retry(original)
    assert "retry_id" in item
    assert [b for b in env.sched.submitted_batches if item["retry_id"] in b] == [[item["retry_id"]]]
    await assert_consistent(env, original)


async def test_a_refused_submit_keeps_the_reservation_for_reconcile(env: Env) -> None:
    """The caller hears 'scheduler unavailable'; nothing is lost: reconcile submits it later."""
    original = await env.failed_job()
    env.sched.fail_next_submit()
    with pytest.raises(SchedulerUnavailable, match=r"Nothing was lost|did not answer|refused"):
        await env.retry(original)
    [attempt] = await env.deps.store.find_jobs(JobQuery(retry_parent=original))
    assert attempt.status is JobStatus.CREATED
    await recover(env)
    assert await assert_consistent(env, original) == [attempt.id]


async def test_a_hung_submit_that_landed_is_found_and_the_request_succeeds(env: Env) -> None:
    original = await env.failed_job()
    env.sched.hang_next_submit(lands=True)
    [item] = await env.retry(original)
    assert "retry_id" in item
    [attempt] = await assert_consistent(env, original)
    assert len([b for b in env.sched.submitted_batches if attempt in b]) == 1


async def test_a_hung_submit_that_never_landed_is_submitted_once_by_reconcile(env: Env) -> None:
    original = await env.failed_job()
    env.sched.hang_next_submit(lands=False)
    with pytest.raises(SchedulerUnavailable):
        await env.retry(original)
    await recover(env)
    [attempt] = await assert_consistent(env, original)
    live = [p for p in env.sched.procs() if p.job_id == attempt and p.state is not ProcState.REMOVED]
    assert len(live) == 1


async def test_reconcile_leaves_young_operations_alone(env: Env) -> None:
    """An operation younger than the grace period may still be running its request."""
    original = await env.failed_job()
    env.sched.fail_next_submit()
    with pytest.raises(SchedulerUnavailable):
        await env.retry(original)
    env.store.reset()
    env.sched_proxy.reset()
    assert await reconcile(env.deps) == []
    assert env.writes() == 0


async def test_duplicate_procs_of_one_job_are_removed(env: Env) -> None:
    """If a submit landed twice (a resubmit raced a late answer), one proc is kept, the rest removed."""
    original = await env.failed_job()
    env.sched.fail_next_submit()
    with pytest.raises(SchedulerUnavailable):
        await env.retry(original)
    [attempt] = await env.deps.store.find_jobs(JobQuery(retry_parent=original))
    assert attempt.operation_id is not None
    env.sched.add_orphan(attempt.id, attempt.operation_id)
    env.sched.add_orphan(attempt.id, attempt.operation_id)
    await recover(env)
    await assert_consistent(env, original)


@pytest.mark.parametrize(
    ("owner_token", "promise", "attempts_after_reconcile"),
    [(True, "rolls it back", 0), (False, "pass submits it", 1)],
    ids=["htcondor-like", "local-like"],
)
async def test_an_unanswered_submit_tells_the_caller_what_reconcile_then_does(
    env: Env, owner_token: bool, promise: str, attempts_after_reconcile: int
) -> None:
    """A scheduler that needs the owner's token cannot be submitted to by reconcile, which rolls the
    request back; the local executor's request is submitted by reconcile. The message says which."""
    env.sched.runs_with_owner_token = owner_token
    original = await env.failed_job()
    env.sched.fail_next_submit()
    with pytest.raises(SchedulerUnavailable) as caught:
        await env.retry(original)
    assert promise in caught.value.message
    await recover(env)
    attempts = await env.deps.store.find_jobs(JobQuery(retry_parent=original))
    assert len(attempts) == attempts_after_reconcile
