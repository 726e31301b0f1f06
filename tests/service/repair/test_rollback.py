"""Roll back: a submission that can never finish leaves nothing behind and blocks nothing.

A request whose scheduler refuses a value for good is rolled back at once. Reconcile rolls back an
operation it cannot finish: its jobs never reached a scheduler that runs them with their owner's
token (HTCondor), or they cannot be submitted at all. Two reconcile passes at once submit once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from ee_retry import constants
from ee_retry.domain.model import Job, JobStatus, OperationState
from ee_retry.domain.values import JobQuery, OperationQuery, ProcState, SubmitSpec
from ee_retry.errors import InvalidParams, OperationTakenOver, SchedulerUnavailable
from ee_retry.service.jobs import cancel_job
from ee_retry.service.repair.reaper import ReapOptions, reap
from ee_retry.service.repair.reconcile import reconcile
from ee_retry.service.submit.specs import specs_builder
from ee_retry.service.submit.submission import roll_back
from ee_retry.testing.instrument import Crash
from tests.service.conftest import Env
from tests.service.submit.test_retry_crash import ROLLED_BACK_STEPS, STEPS, assert_consistent, recover

# Steps after which the scheduler holds nothing of the request yet.
BEFORE_SUBMIT = ROLLED_BACK_STEPS | {"update_operation#1"}


def live_procs(env: Env, job_id: str) -> list[str]:
    return [
        p.scheduler_id for p in env.sched.procs() if p.job_id == job_id and p.state is not ProcState.REMOVED
    ]


async def attempt_cut_short(env: Env, original: str, port: str, method: str, nth: int = 1) -> Job:
    """Retry `original` with a crash right after the nth `method` call of the request; the attempt."""
    env.store.reset()
    env.sched_proxy.reset()
    (env.store if port == "store" else env.sched_proxy).crash_after(method, nth)
    with pytest.raises(Crash):
        await env.retry(original)
    [attempt] = await env.deps.store.find_jobs(JobQuery(retry_parent=original))
    return attempt


async def only_operation_of(env: Env, job_id: str) -> OperationState:
    [op] = await env.deps.store.find_operations(OperationQuery(job_id=job_id))
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
    [op] = [op for op in await env.deps.store.find_operations(OperationQuery()) if attempt.id in op.job_ids]
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
    [op] = [
        op for op in await env.deps.store.find_operations(OperationQuery()) if op.idempotency_key == "once"
    ]
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
    [op] = await env.deps.store.find_operations(OperationQuery())
    assert op.state is OperationState.ROLLED_BACK


async def test_a_rollback_a_crash_cut_short_after_deleting_jobs_is_completed_not_finished(env: Env) -> None:
    """Only a rollback deletes jobs: an operation missing one is completed as rolled back, its key freed."""
    env.sched.runs_with_owner_token = True
    original = await env.failed_job()
    env.sched.fail_next_submit()
    with pytest.raises(SchedulerUnavailable):
        await env.retry(original, idempotency_key="k")
    env.store.reset()
    env.store.crash_after("delete_created", 1)
    env.clock.advance(constants.SUBMIT_GRACE_S + 1)
    with pytest.raises(Crash):
        await reconcile(env.deps)
    [op] = [o for o in await env.deps.store.find_operations(OperationQuery()) if o.idempotency_key == "k"]
    assert op.state is OperationState.RESERVED  # the crash hit between the delete and the mark

    recover_actions = await reconcile(env.deps, grace_s=0)

    assert [a.action for a in recover_actions] == ["rolled_back"]
    assert "interrupted" in recover_actions[0].detail
    [item] = await env.retry(original, idempotency_key="k")  # the key is free, the original too
    assert "retry_id" in item
    await assert_consistent(env, original)


async def test_removed_procs_never_count_as_carrying_a_job(env: Env) -> None:
    """A rollback cut short after removing the held procs: reconcile must not record a removed proc."""
    env.sched.runs_with_owner_token = True
    original = await env.failed_job()
    attempt = await attempt_cut_short(env, original, "sched", "submit")
    await env.sched.remove(live_procs(env, attempt.id), "rolled back")
    await recover(env)
    assert await env.deps.store.find_jobs(JobQuery(retry_parent=original)) == []
    await assert_consistent(env, original)


async def test_an_operation_with_a_released_proc_is_never_rolled_back(env: Env) -> None:
    original = await env.failed_job()
    attempt = await attempt_cut_short(env, original, "sched", "release")
    [op] = await env.deps.store.find_operations(OperationQuery(job_id=attempt.id))

    assert not await roll_back(env.deps, op, "a permanent failure after the release")

    assert await env.job(attempt.id)
    assert env.sched.proc(attempt.id).state is ProcState.IDLE  # type: ignore[union-attr]


@pytest.mark.parametrize("owner_token", [True, False], ids=["htcondor-like", "local-like"])
async def test_a_request_slower_than_the_grace_period_stops_once_reconcile_took_it_over(
    env: Env, owner_token: bool
) -> None:
    """Reconcile claims the operation while the request's submit is still on its way; the request's
    fence fails, so it links and releases nothing, and the reaper removes the proc it left held."""
    env.sched.runs_with_owner_token = owner_token
    original = await env.failed_job()
    submit = env.sched.submit

    async def slow_submit(op_id: str, specs: Sequence[SubmitSpec], hold: bool) -> dict[str, str]:
        if not hasattr(slow_submit, "raced"):
            slow_submit.raced = True  # type: ignore[attr-defined]
            env.clock.advance(constants.SUBMIT_GRACE_S + 1)
            await reconcile(env.deps)
        return await submit(op_id, specs, hold)

    env.sched.submit = slow_submit  # type: ignore[method-assign,assignment]
    with pytest.raises(OperationTakenOver, match="reconcile took it over") as caught:
        await env.retry(original)
    env.sched.submit = submit  # type: ignore[method-assign]
    assert "finishes or rolls the request back" in caught.value.message

    attempts = await env.deps.store.find_jobs(JobQuery(retry_parent=original))
    assert len(attempts) == (0 if owner_token else 1)  # rolled back, or finished by reconcile
    env.clock.advance(constants.SUBMIT_GRACE_S + 1)
    await reap(env.deps, ReapOptions())
    await assert_consistent(env, original)


@pytest.mark.parametrize("owner_token", [True, False], ids=["htcondor-like", "local-like"])
@pytest.mark.parametrize("reconcile_crashes", [False, True], ids=["rolled-back", "rollback-cut-short"])
async def test_a_request_rolled_back_while_recording_its_jobs_leaves_nothing(
    env: Env, owner_token: bool, reconcile_crashes: bool
) -> None:
    """The request recorded its operation, then stalled past the grace period; reconcile rolled it
    back (or began to, and crashed after its delete) before the request inserted its jobs. The
    request must not carry on with jobs nobody tracks."""
    env.sched.runs_with_owner_token = owner_token
    original = await env.failed_job()
    store = env.deps.store
    insert = store.insert_jobs

    async def stalled_insert(jobs: Sequence[Job]) -> Any:
        env.clock.advance(constants.SUBMIT_GRACE_S + 1)
        if reconcile_crashes:
            env.store.reset()
            env.store.crash_after("delete_created", 1)
            with pytest.raises(Crash):
                await reconcile(env.deps)
        else:
            [action] = await reconcile(env.deps)
            assert action.action == "rolled_back"
        return await insert(jobs)

    store.insert_jobs = stalled_insert  # type: ignore[method-assign]
    with pytest.raises(OperationTakenOver, match="reconcile rolled it back"):
        await env.retry(original, idempotency_key="k")
    store.insert_jobs = insert  # type: ignore[method-assign]

    assert await env.deps.store.find_jobs(JobQuery(retry_parent=original)) == []
    assert env.sched.procs() == [p for p in env.sched.procs() if p.job_id == original]
    await reconcile(env.deps, grace_s=0)  # completes a rollback the crash cut short
    [item] = await env.retry(original, idempotency_key="k")
    assert "retry_id" in item
    await assert_consistent(env, original)


async def test_jobs_whose_procs_someone_else_removed_end_terminated_not_deleted(env: Env) -> None:
    """The schedd received the batch and its ids were recorded, then an operator removed the held
    procs before anything released them: the children end terminated, the batch with them."""
    env.sched.runs_with_owner_token = True
    env.store.reset()
    env.store.crash_after("set_fields", 1)
    with pytest.raises(Crash):
        await env.failed_batch(2)
    children = [j for j in await env.deps.store.find_jobs(JobQuery()) if not j.batch_job]
    assert all(c.scheduler_id for c in children)
    env.sched.set_listener(None)  # the service is down: no poller sees the removal
    await env.sched.remove([c.scheduler_id for c in children if c.scheduler_id], "condor_rm by an operator")

    await recover(env)

    jobs = await env.deps.store.find_jobs(JobQuery())
    assert len(jobs) == 3  # nothing deleted: the scheduler did receive them
    assert {j.status for j in jobs} == {JobStatus.TERMINATED}
    [op] = await env.deps.store.find_operations(OperationQuery())
    assert op.state is OperationState.DONE


@pytest.mark.parametrize("owner_token", [True, False], ids=["htcondor-like", "local-like"])
async def test_an_attempt_cancelled_before_its_proc_was_recorded_is_never_released(
    env: Env, owner_token: bool
) -> None:
    """The request submitted (held) and stopped right after its fence, before recording the proc id,
    so the owner's cancel could not name the proc. Reconcile removes that proc instead of releasing
    it, and the original then has exactly one attempt running."""
    env.sched.runs_with_owner_token = owner_token
    original = await env.failed_job()
    attempt = await attempt_cut_short(env, original, "store", "update_operation", nth=2)
    [stranded] = live_procs(env, attempt.id)
    await cancel_job(env.deps, env.alice, attempt.id, False)

    await recover(env)

    assert env.sched.proc(attempt.id).state is ProcState.REMOVED  # type: ignore[union-attr]
    assert stranded not in live_procs(env, attempt.id)
    [item] = await env.retry(original)
    assert len(live_procs(env, item["retry_id"])) == 1


async def test_a_job_the_scheduler_lost_entirely_ends_terminated_and_its_operation_finishes(env: Env) -> None:
    """HTCondor-like: a crash after release, then the schedd forgot one attempt's proc (neither queue
    nor history). Reconcile cannot submit it again without a token: it ends terminated, the rest of
    the request finishes, and its original can be retried."""
    env.sched.runs_with_owner_token = True
    a, b = await env.failed_job(), await env.failed_job()
    env.sched.set_listener(None)  # the service is down from here: no poller sees the procs
    env.store.reset()
    env.sched_proxy.reset()
    env.sched_proxy.crash_after("release", 1)
    with pytest.raises(Crash):
        await env.retry(a, b)
    [lost] = await env.deps.store.find_jobs(JobQuery(retry_parent=a))
    env.sched.forget(lost.id)

    await recover(env)

    assert (await env.job(lost.id)).status is JobStatus.TERMINATED
    [kept] = await env.deps.store.find_jobs(JobQuery(retry_parent=b))
    assert kept.status is JobStatus.QUEUED
    assert all(op.state.finished for op in await env.deps.store.find_operations(OperationQuery()))
    [item] = await env.retry(a)
    assert "retry_id" in item


async def test_reconcile_never_submits_without_the_owners_token(env: Env) -> None:
    env.sched.runs_with_owner_token = True
    job_id = await env.run()
    with pytest.raises(InvalidParams, match="without their owner's token"):
        await specs_builder(env.deps, token=None)([await env.job(job_id)])


async def test_a_request_whose_operation_reconcile_finished_meanwhile_is_not_told_success(env: Env) -> None:
    """The request passed its fence, then stalled past the grace period; reconcile finished the
    operation. The request's final write loses, and the caller hears so instead of a success."""
    original = await env.failed_job()
    store = env.deps.store
    link = store.link

    async def stalled_link(*args: Any) -> Any:
        store.link = link  # type: ignore[method-assign]
        env.clock.advance(constants.SUBMIT_GRACE_S + 1)
        [action] = await reconcile(env.deps)
        assert action.action == "finished"
        return await link(*args)

    store.link = stalled_link  # type: ignore[method-assign,assignment]
    with pytest.raises(OperationTakenOver, match="finished or rolled back by reconcile"):
        await env.retry(original)
    [attempt] = await assert_consistent(env, original)
    assert len(live_procs(env, attempt)) == 1
