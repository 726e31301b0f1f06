"""retry_failed_jobs selection and permissions, lineage and stats, on a scripted history."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from ee_retry.domain.model import ErrorCode, JobStatus
from ee_retry.domain.status import failed
from ee_retry.errors import IdempotencyConflict, JobNotFound, PermissionDenied
from ee_retry.ports import JobQuery, User
from ee_retry.service import operator
from ee_retry.service.jobs import cancel_job
from ee_retry.service.operator import FailedJobFilters, RetryFailedRequest, StatsRequest
from ee_retry.testing.instrument import Crash
from tests.service.support import Env


@dataclass
class History:
    """Who ran what and how it ended (alice owns ws 1, bob reads ws 1 and owns ws 2)."""

    a_failed_twice: str  # alice, ws 1: failed, retried twice, every attempt failed
    a_fixed: str  # alice, ws 1: failed, its retry completed
    a_in_flight: str  # alice, ws 1: failed, its retry is queued
    a_cancelled: str  # alice, ws 1: cancelled (terminated)
    a_timeout: str  # alice, ws 1: over its time limit (error_code 3), app Demo/slow
    a_completed: str  # alice, ws 1: completed
    b_failed: str  # bob, ws 2
    admin_ws1: str  # run by the admin in alice's ws 1
    admin_ws2: str  # run by the admin in bob's ws 2
    attempts: list[str]  # attempts of a_failed_twice, in order


async def fail_attempt(env: Env, original: str, user: User | None = None) -> str:
    [item] = await env.retry(original, user=user)
    await env.sched.complete(item["retry_id"], exit_code=1, error="still broken")
    return str(item["retry_id"])


async def scripted(env: Env) -> History:
    a_failed_twice = await env.failed_job()
    attempts = [await fail_attempt(env, a_failed_twice), await fail_attempt(env, a_failed_twice)]
    env.clock.advance(60)
    a_fixed = await env.failed_job()
    [item] = await env.retry(a_fixed)
    await env.sched.complete(item["retry_id"])
    a_in_flight = await env.failed_job()
    await env.retry(a_in_flight)
    a_cancelled = await env.run()
    await cancel_job(env.deps, env.alice, a_cancelled, False)
    a_timeout = await env.run(app_id="Demo/slow")
    await env.sched.start(a_timeout)
    await env.deps.store.transition(
        [failed(a_timeout, "over time", ErrorCode.JOB_OVER_TIMELIMIT, env.clock.now())]
    )
    a_completed = await env.run()
    await env.sched.complete(a_completed)
    env.clock.advance(60)
    b_failed = await env.failed_job(env.bob, wsid=2)
    admin_ws1 = await env.failed_job(env.admin, wsid=1, as_admin=True)
    admin_ws2 = await env.failed_job(env.admin, wsid=2, as_admin=True)
    return History(
        a_failed_twice,
        a_fixed,
        a_in_flight,
        a_cancelled,
        a_timeout,
        a_completed,
        b_failed,
        admin_ws1,
        admin_ws2,
        attempts,
    )


async def select_ids(
    env: Env, caller: User, as_admin: bool = False, limit: int = 100, **filters: Any
) -> list[str]:
    """The originals a dry run of retry_failed_jobs selects for `caller`."""
    req = RetryFailedRequest(FailedJobFilters(**filters), limit=limit, as_admin=as_admin)
    result = await operator.retry_failed_jobs(env.deps, caller, req)
    return [c.original.id for c in result.candidates]


# ---------------------------------------------------------------- selection and permissions


async def test_a_user_selects_failed_originals_they_own_or_may_write_and_nothing_else(env: Env) -> None:
    h = await scripted(env)
    mine = await select_ids(env, env.alice)
    assert mine == [h.a_failed_twice, h.a_cancelled, h.a_timeout, h.admin_ws1]


async def test_a_user_never_selects_another_users_jobs_in_a_workspace_they_only_read(env: Env) -> None:
    h = await scripted(env)
    assert await select_ids(env, env.bob) == [h.b_failed, h.admin_ws2]


async def test_naming_yourself_selects_only_your_own_jobs(env: Env) -> None:
    h = await scripted(env)
    assert await select_ids(env, env.alice, user="alice") == [h.a_failed_twice, h.a_cancelled, h.a_timeout]


async def test_a_non_admin_naming_another_user_is_refused(env: Env) -> None:
    await scripted(env)
    with pytest.raises(PermissionDenied):
        await select_ids(env, env.bob, user="alice")


async def test_an_admin_with_as_admin_selects_everyone_or_the_named_user(env: Env) -> None:
    h = await scripted(env)
    everyone = await select_ids(env, env.admin, True)
    assert everyone == [
        h.a_failed_twice,
        h.a_cancelled,
        h.a_timeout,
        h.b_failed,
        h.admin_ws1,
        h.admin_ws2,
    ]
    assert await select_ids(env, env.admin, True, user="bob") == [h.b_failed]


async def test_as_admin_needs_the_write_admin_role(env: Env) -> None:
    await scripted(env)
    req = RetryFailedRequest(FailedJobFilters(), as_admin=True)
    for user in (env.alice, env.ro_admin):
        with pytest.raises(PermissionDenied):
            await operator.retry_failed_jobs(env.deps, user, req)


async def test_the_latest_attempt_decides_and_carries_the_last_error(env: Env) -> None:
    h = await scripted(env)
    req = RetryFailedRequest(FailedJobFilters(user="alice"))
    result = await operator.retry_failed_jobs(env.deps, env.alice, req)
    first = result.candidates[0]
    assert first.original.id == h.a_failed_twice
    assert first.latest.id == h.attempts[-1]
    assert first.latest.errormsg is not None and "still broken" in first.latest.errormsg


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"statuses": (JobStatus.TERMINATED,)}, ["a_cancelled"]),
        ({"statuses": (JobStatus.ERROR,)}, ["a_failed_twice", "a_timeout", "admin_ws1"]),
        ({"error_code": ErrorCode.JOB_OVER_TIMELIMIT.value}, ["a_timeout"]),
        ({"app_id": "Demo/slow"}, ["a_timeout"]),
        ({"method": "Demo.nothing"}, []),
        ({"wsid": 2}, []),
        ({"created_to": 1_700_000_000.0 + 30}, ["a_failed_twice"]),
        ({"created_from": 1_700_000_000.0 + 100}, ["admin_ws1"]),
    ],
    ids=["status", "error-status", "error_code", "app_id", "method", "wsid", "created_to", "created_from"],
)
async def test_filters_narrow_the_selection(env: Env, filters: dict[str, Any], expected: list[str]) -> None:
    h = await scripted(env)
    assert await select_ids(env, env.alice, **filters) == [getattr(h, name) for name in expected]


async def test_a_batch_filter_selects_that_batchs_failed_children(env: Env) -> None:
    await scripted(env)
    batch_id, children = await env.failed_batch(3)
    assert await select_ids(env, env.alice, batch_id=batch_id) == children


async def test_the_limit_caps_the_selection_oldest_first(env: Env) -> None:
    h = await scripted(env)
    assert await select_ids(env, env.admin, True, limit=2) == [h.a_failed_twice, h.a_cancelled]


async def test_selection_is_the_same_whatever_the_page_size(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    await scripted(env)
    whole = await select_ids(env, env.bob)
    monkeypatch.setattr(operator, "PAGE_SIZE", 2)
    assert await select_ids(env, env.bob) == whole
    assert await select_ids(env, env.admin, True, limit=3) == (await select_ids(env, env.admin, True))[:3]


async def test_an_original_with_an_attempt_in_flight_is_not_selected_even_before_it_is_linked(
    env: Env,
) -> None:
    """A crash between reserving an attempt and linking it leaves retry_ids stale; the guard still counts."""
    original = await env.failed_job()
    env.store.crash_after("set_fields")
    with pytest.raises(Crash):
        await env.retry(original)
    assert (await env.job(original)).retry_ids == ()
    assert await select_ids(env, env.alice) == []


# ---------------------------------------------------------------- dry run and the retry path


async def test_a_dry_run_writes_nothing(env: Env) -> None:
    await scripted(env)
    env.store.reset()
    env.sched_proxy.reset()
    result = await operator.retry_failed_jobs(env.deps, env.alice, RetryFailedRequest(FailedJobFilters()))
    assert result.dry_run and len(result.candidates) == 4
    assert env.writes() == 0, f"dry run wrote: {env.store.calls} {env.sched_proxy.calls}"


async def test_without_dry_run_the_selection_is_retried_and_then_is_in_flight(env: Env) -> None:
    h = await scripted(env)
    req = RetryFailedRequest(FailedJobFilters(), dry_run=False)
    result = await operator.retry_failed_jobs(env.deps, env.alice, req)
    assert [a["job_id"] for a in result.answer or []] == [
        h.a_failed_twice,
        h.a_cancelled,
        h.a_timeout,
        h.admin_ws1,
    ]
    assert all("retry_id" in a for a in result.answer or [])
    attempt = await env.job(str((result.answer or [])[0]["retry_id"]))
    assert attempt.retry_parent == h.a_failed_twice and attempt.status is JobStatus.QUEUED
    again = await operator.retry_failed_jobs(env.deps, env.alice, req)
    assert again.candidates == [] and again.answer == []


async def test_the_retry_is_audited_as_retry_failed_jobs(env: Env) -> None:
    await scripted(env)
    req = RetryFailedRequest(FailedJobFilters(user="alice"), dry_run=False, idempotency_key="k-1")
    result = await operator.retry_failed_jobs(env.deps, env.alice, req)
    attempt = await env.job(str((result.answer or [])[0]["retry_id"]))
    op = await env.deps.store.get_operation(attempt.operation_id or "")
    assert op is not None and op.user == "alice" and op.idempotency_key == "k-1"
    assert op.request["method"] == "retry_failed_jobs"
    assert op.request["origin"]["filters"]["user"] == "alice"


async def test_the_same_idempotency_key_replays_the_first_answer(env: Env) -> None:
    await scripted(env)
    req = RetryFailedRequest(FailedJobFilters(), dry_run=False, idempotency_key="nightly-1")
    first = await operator.retry_failed_jobs(env.deps, env.alice, req)
    before = len(await env.deps.store.find_jobs(JobQuery()))
    second = await operator.retry_failed_jobs(env.deps, env.alice, req)
    assert second.answer == first.answer
    assert len(await env.deps.store.find_jobs(JobQuery())) == before
    other = RetryFailedRequest(FailedJobFilters(user="alice"), dry_run=False, idempotency_key="nightly-1")
    with pytest.raises(IdempotencyConflict):
        await operator.retry_failed_jobs(env.deps, env.alice, other)


# ---------------------------------------------------------------- lineage


async def lineage_of_four(env: Env) -> tuple[str, list[str]]:
    """An original and three attempts: by alice, by the admin with as_admin, and by alice with a key."""
    original = await env.failed_job()
    first = await fail_attempt(env, original)
    [item] = await env.retry(first, user=env.admin, as_admin=True)
    await env.sched.complete(item["retry_id"], exit_code=1)
    [last] = await env.retry(original, idempotency_key="third")
    return original, [first, str(item["retry_id"]), str(last["retry_id"])]


async def test_lineage_lists_the_original_and_every_attempt_in_order_from_any_member(env: Env) -> None:
    original, attempts = await lineage_of_four(env)
    answers = [
        await operator.job_lineage(env.deps, env.alice, member, False) for member in [original, *attempts]
    ]
    assert all(a == answers[0] for a in answers)
    lineage = answers[0]
    assert lineage.original_id == original
    assert [e.job.id for e in lineage.entries] == [original, *attempts]
    assert [e.attempt for e in lineage.entries] == [0, 1, 2, 3]
    assert [e.job.status for e in lineage.entries] == [JobStatus.ERROR] * 3 + [JobStatus.QUEUED]


async def test_lineage_shows_who_requested_each_attempt_and_how(env: Env) -> None:
    original, _ = await lineage_of_four(env)
    entries = (await operator.job_lineage(env.deps, env.alice, original, False)).entries
    ops = [e.operation for e in entries]
    assert all(op is not None for op in ops)
    assert [op.user for op in ops if op] == ["alice", "alice", "ee2admin", "alice"]
    assert [op.request.get("method") for op in ops if op] == [
        "run_job",
        "retry_jobs",
        "retry_jobs",
        "retry_jobs",
    ]
    assert [op.request.get("as_admin") for op in ops if op] == [False, False, True, False]
    assert [op.idempotency_key for op in ops if op] == [None, None, None, "third"]
    assert [e.job.user for e in entries] == ["alice", "alice", "ee2admin", "alice"]


async def test_an_attempt_not_yet_linked_is_listed_last(env: Env) -> None:
    original = await env.failed_job()
    first = await fail_attempt(env, original)
    env.store.crash_after("set_fields")
    with pytest.raises(Crash):
        await env.retry(original)
    [unlinked] = [j for j in await env.deps.store.find_jobs(JobQuery(retry_parent=original)) if j.id != first]
    entries = (await operator.job_lineage(env.deps, env.alice, original, False)).entries
    assert [e.job.id for e in entries] == [original, first, unlinked.id]


async def test_lineage_needs_read_access_to_the_named_job(env: Env) -> None:
    original = await env.failed_job()
    assert (await operator.job_lineage(env.deps, env.bob, original, False)).original_id == original
    bobs = await env.failed_job(env.bob, wsid=2)
    with pytest.raises(JobNotFound):
        await operator.job_lineage(env.deps, env.alice, bobs, False)
    assert (await operator.job_lineage(env.deps, env.ro_admin, bobs, True)).original_id == bobs


# ---------------------------------------------------------------- stats


async def test_stats_count_the_callers_jobs_per_status_and_their_retries(env: Env) -> None:
    await scripted(env)
    stats = await operator.job_stats(env.deps, env.alice, StatsRequest())
    assert stats.user == "alice"
    # originals: 3 failed and retried, cancelled, timeout, completed; attempts: 2 failed, 1 done, 1 queued
    assert stats.jobs[JobStatus.ERROR] == 3 + 1 + 2
    assert stats.jobs[JobStatus.TERMINATED] == 1
    assert stats.jobs[JobStatus.COMPLETED] == 1 + 1
    assert stats.jobs[JobStatus.QUEUED] == 1
    assert sum(stats.attempts.values()) == 4
    assert stats.attempts[JobStatus.ERROR] == 2
    assert stats.attempts[JobStatus.COMPLETED] == 1
    assert stats.attempts[JobStatus.QUEUED] == 1


async def test_admin_stats_cover_everyone_or_one_user(env: Env) -> None:
    await scripted(env)
    everyone = await operator.job_stats(env.deps, env.ro_admin, StatsRequest(as_admin=True))
    assert everyone.user is None and sum(everyone.jobs.values()) == 13
    bob = await operator.job_stats(env.deps, env.ro_admin, StatsRequest(as_admin=True, user="bob"))
    assert bob.jobs[JobStatus.ERROR] == 1 and sum(bob.jobs.values()) == 1


async def test_a_user_may_not_count_another_users_jobs(env: Env) -> None:
    with pytest.raises(PermissionDenied):
        await operator.job_stats(env.deps, env.alice, StatsRequest(user="bob"))
    with pytest.raises(PermissionDenied):
        await operator.job_stats(env.deps, env.alice, StatsRequest(as_admin=True))


async def test_stats_since_counts_only_jobs_created_from_then(env: Env) -> None:
    await scripted(env)
    stats = await operator.job_stats(env.deps, env.alice, StatsRequest(since=1_700_000_000.0 + 100))
    assert sum(stats.jobs.values()) == 0
    stats = await operator.job_stats(env.deps, env.alice, StatsRequest(since=1_700_000_000.0 + 30))
    assert sum(stats.jobs.values()) == 7  # everything alice made after the first minute
