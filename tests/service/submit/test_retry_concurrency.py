"""Double clicks, two tabs and re-sent requests never start two attempts."""

from __future__ import annotations

import asyncio

import pytest

from ee_retry.domain.values import JobQuery
from ee_retry.errors import IdempotencyConflict, InvalidParams
from ee_retry.rpc.views import raise_item_error
from ee_retry.service.submit.idempotency import check_key
from tests.service.conftest import Env


async def test_fifty_concurrent_retries_of_one_job_create_exactly_one_attempt(env: Env) -> None:
    original = await env.failed_job()
    answers = await asyncio.gather(*(env.retry(original) for _ in range(50)))
    made = [a[0]["retry_id"] for a in answers if "retry_id" in a[0]]
    assert len(made) == 1
    refused = [a[0] for a in answers if "error" in a[0]]
    assert len(refused) == 49
    assert all(made[0] in r["error"] for r in refused if r["code"] == -32006)
    assert (await env.job(original)).retry_ids == tuple(made)
    assert len(await env.deps.store.find_jobs(JobQuery(retry_parent=original))) == 1


async def test_callers_racing_a_job_and_its_retry_create_one_attempt(env: Env) -> None:
    original = await env.failed_job()
    [first] = await env.retry(original)
    await env.sched.complete(first["retry_id"], exit_code=1)
    named = [original, first["retry_id"]] * 10
    answers = await asyncio.gather(*(env.retry(n) for n in named))
    made = {a[0]["retry_id"] for a in answers if "retry_id" in a[0]}
    assert len(made) == 1
    assert (await env.job(original)).retry_ids == (first["retry_id"], *made)


async def test_the_same_key_and_params_replay_the_first_answer_without_creating_anything(env: Env) -> None:
    original = await env.failed_job()
    first = await env.retry(original, idempotency_key="click-1")
    submits = env.sched.submit_calls
    again = await env.retry(original, idempotency_key="click-1")
    assert again == first
    assert env.sched.submit_calls == submits
    assert (await env.job(original)).retry_ids == (first[0]["retry_id"],)


async def test_the_same_key_with_different_params_is_an_error(env: Env) -> None:
    a, b = await env.failed_job(), await env.failed_job()
    await env.retry(a, idempotency_key="k")
    with pytest.raises(IdempotencyConflict, match="different params"):
        await env.retry(b, idempotency_key="k")
    assert (await env.job(b)).retry_ids == ()


async def test_concurrent_calls_with_one_key_create_one_attempt_and_share_its_answer(env: Env) -> None:
    original = await env.failed_job()
    answers = await asyncio.gather(*(env.retry(original, idempotency_key="tab") for _ in range(10)))
    assert all(a == answers[0] for a in answers)
    assert "retry_id" in answers[0][0]
    assert len(await env.deps.store.find_jobs(JobQuery(retry_parent=original))) == 1


async def test_keys_are_per_user(env: Env) -> None:
    """Bob's key 'k' is not Alice's key 'k': his request is his own."""
    mine = await env.failed_job()
    theirs = await env.failed_job(user=env.bob, wsid=2)
    await env.retry(mine, idempotency_key="k")
    [item] = await env.retry(theirs, user=env.bob, idempotency_key="k")
    assert "retry_id" in item


async def test_a_key_is_kept_for_a_day_then_may_be_used_again(env: Env) -> None:
    original = await env.failed_job()
    [first] = await env.retry(original, idempotency_key="daily")
    await env.sched.complete(first["retry_id"], exit_code=1)
    env.clock.advance(23 * 3600)
    assert await env.retry(original, idempotency_key="daily") == [first]
    env.clock.advance(2 * 3600)
    [second] = await env.retry(original, idempotency_key="daily")
    assert second["retry_id"] != first["retry_id"]


async def test_a_replayed_refusal_raises_the_same_error_for_retry_job(env: Env) -> None:
    job_id = await env.run()  # still queued: not retryable
    [first] = await env.retry(job_id, idempotency_key="x", single=True)
    [again] = await env.retry(job_id, idempotency_key="x", single=True)
    assert again == first
    with pytest.raises(Exception, match="can only retry jobs with status") as err:
        raise_item_error(again)
    assert type(err.value).__name__ == "RetryNotAllowed"


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "semi;colon", 12, {"$ne": None}])
def test_malformed_keys_are_refused(key: object) -> None:
    with pytest.raises(InvalidParams, match="idempotency_key"):
        check_key(key)


def test_well_formed_keys_are_accepted() -> None:
    assert check_key("Narrative:cell-1.retry_2") == "Narrative:cell-1.retry_2"
    assert check_key("x" * 255) == "x" * 255
