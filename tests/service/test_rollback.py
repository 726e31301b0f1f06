"""Roll back: a submission that can never finish leaves nothing behind and blocks nothing.

A request whose scheduler refuses a value for good is rolled back at once. Reconcile rolls back an
operation it cannot finish: its jobs never reached a scheduler that runs them with their owner's
token (HTCondor), or they cannot be submitted at all. Two reconcile passes at once submit once.
"""

from __future__ import annotations

import asyncio

import pytest

from ee_retry.domain.model import JobStatus, OperationState
from ee_retry.errors import InvalidParams, SchedulerUnavailable
from ee_retry.ports import JobQuery, ProcState
from ee_retry.service.reconcile import reconcile
from ee_retry.testing.instrument import Crash
from tests.service.support import Env
from tests.service.test_retry_crash import ROLLED_BACK_STEPS, STEPS, assert_consistent, recover

# Steps after which the scheduler holds nothing of the request yet.
BEFORE_SUBMIT = ROLLED_BACK_STEPS | {"update_operation#1"}


def live_procs(env: Env, job_id: str) -> list[str]:
    return [
        p.scheduler_id for p in env.sched.procs() if p.job_id == job_id and p.state is not ProcState.REMOVED
    ]


async def only_operation_of(env: Env, job_id: str) -> OperationState:
    [op] = await env.deps.store.find_operations(job_id=job_id)
    return op.state


@pytest.mark.parametrize(("port", "method", "nth"), STEPS, ids=[f"{m}#{n}" for _, m, n in STEPS])
async def test_with_an_owner_token_scheduler_a_crash_before_submit_is_rolled_back_after_it_finished(
    env: Env, port: str, method: str, nth: int
) -> None:
    """Reconcile never has the caller's token: it finishes what the scheduler holds, rolls back the rest."""
    env.sched.runs_with_owner_token = True
    original = await env.failed_job()
    env.store.reset()
    env.sched_proxy.reset()
    (env.store if port == "store" else env.sched_proxy).crash_after(method, nth)
    with pytest.raises(Crash):
        await env.retry(original)
    await recover(env)
    attempts = await assert_consistent(env, original)
    rolled_back = method in ROLLED_BACK_STEPS or f"{method}#{nth}" in BEFORE_SUBMIT
    assert len(attempts) == (0 if rolled_back else 1)
    assert all(s.token is not None for s in env.sched.specs()), "a job was submitted without its token"
    [item] = await env.retry(original)
    assert ("retry_id" in item) == rolled_back


async def test_a_refused_submit_on_an_owner_token_scheduler_is_rolled_back_by_reconcile(env: Env) -> None:
    env.sched.runs_with_owner_token = True
    original = await env.failed_job()
    env.sched.fail_next_submit()
    with pytest.raises(SchedulerUnavailable, match="reconcile"):
        await env.retry(original)
    [attempt] = await env.deps.store.find_jobs(JobQuery(retry_parent=original))
    await recover(env)
    assert await env.deps.store.get_jobs([attempt.id]) == {}
    assert (await env.job(original)).retry_ids == ()
    [op] = [op for op in await env.deps.store.find_operations() if attempt.id in op.job_ids]
    assert op.state is OperationState.ROLLED_BACK
    assert "owner's token" in (op.error or "")
    [item] = await env.retry(original)
    assert "retry_id" in item


async def test_a_submit_refused_for_good_is_rolled_back_at_once_and_frees_the_original(env: Env) -> None:
    original = await env.failed_job()
    env.sched.reject_next_submit()
    with pytest.raises(InvalidParams, match="refused"):
        await env.retry(original, idempotency_key="once")
    assert await env.deps.store.find_jobs(JobQuery(retry_parent=original)) == []
    assert (await env.job(original)).retry_ids == ()
    [op] = [op for op in await env.deps.store.find_operations() if op.idempotency_key == "once"]
    assert op.state is OperationState.ROLLED_BACK
    assert "refused" in (op.error or "")
    [item] = await env.retry(original, idempotency_key="once")  # the key is free again
    assert "retry_id" in item
    await assert_consistent(env, original)


async def test_a_run_job_refused_for_good_leaves_no_created_job(env: Env) -> None:
    env.sched.reject_next_submit()
    with pytest.raises(InvalidParams):
        await env.run(method="Demo.succeed")
    assert await env.deps.store.find_jobs(JobQuery(statuses=[JobStatus.CREATED])) == []


async def test_reconcile_rolls_back_an_operation_it_can_never_submit(env: Env) -> None:
    """Otherwise the operation would fail every pass and keep its attempt in flight for ever."""
    original = await env.failed_job()
    env.store.reset()
    env.store.crash_after("update_operation", 1)  # RESERVED, nothing submitted
    with pytest.raises(Crash):
        await env.retry(original)
    env.sched.reject_next_submit()
    await recover(env)
    await assert_consistent(env, original)
    assert await env.deps.store.find_jobs(JobQuery(retry_parent=original)) == []
    [item] = await env.retry(original)
    assert "retry_id" in item


async def test_two_reconcile_passes_at_once_submit_an_operation_once(env: Env) -> None:
    original = await env.failed_job()
    env.store.reset()
    env.store.crash_after("update_operation", 1)
    with pytest.raises(Crash):
        await env.retry(original)
    [attempt] = await env.deps.store.find_jobs(JobQuery(retry_parent=original))
    env.sched.latency_s = 0.02  # both passes read the operation before either submits
    env.clock.advance(1_000)
    first, second = await asyncio.gather(reconcile(env.deps), reconcile(env.deps))
    assert sorted(a.action for a in first + second) == ["finished", "skipped"]
    assert len(live_procs(env, attempt.id)) == 1
    await assert_consistent(env, original)


async def test_a_batch_refused_for_good_leaves_neither_its_container_nor_its_children(env: Env) -> None:
    env.sched.reject_next_submit()
    with pytest.raises(InvalidParams):
        await env.failed_batch(3)
    assert await env.deps.store.find_jobs(JobQuery()) == []
    [op] = await env.deps.store.find_operations()
    assert op.state is OperationState.ROLLED_BACK
