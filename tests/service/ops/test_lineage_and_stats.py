"""get_job_lineage and job_stats on a scripted history."""

from __future__ import annotations

import pytest

from ee_retry.domain.model import JobStatus
from ee_retry.domain.values import JobQuery
from ee_retry.errors import JobNotFound, PermissionDenied
from ee_retry.service.ops.lineage import job_lineage
from ee_retry.service.ops.stats import StatsRequest, job_stats
from ee_retry.testing.instrument import Crash
from tests.service.conftest import Env
from tests.service.ops.test_retry_failed import fail_attempt, scripted

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
    answers = [await job_lineage(env.deps, env.alice, member, False) for member in [original, *attempts]]
    assert all(a == answers[0] for a in answers)
    lineage = answers[0]
    assert lineage.original_id == original
    assert [e.job.id for e in lineage.entries] == [original, *attempts]
    assert [e.attempt for e in lineage.entries] == [0, 1, 2, 3]
    assert [e.job.status for e in lineage.entries] == [JobStatus.ERROR] * 3 + [JobStatus.QUEUED]


async def test_lineage_shows_who_requested_each_attempt_and_how(env: Env) -> None:
    original, _ = await lineage_of_four(env)
    entries = (await job_lineage(env.deps, env.alice, original, False)).entries
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
    entries = (await job_lineage(env.deps, env.alice, original, False)).entries
    assert [e.job.id for e in entries] == [original, first, unlinked.id]


async def test_lineage_needs_read_access_to_the_named_job(env: Env) -> None:
    original = await env.failed_job()
    assert (await job_lineage(env.deps, env.bob, original, False)).original_id == original
    bobs = await env.failed_job(env.bob, wsid=2)
    with pytest.raises(JobNotFound):
        await job_lineage(env.deps, env.alice, bobs, False)
    assert (await job_lineage(env.deps, env.ro_admin, bobs, True)).original_id == bobs


# ---------------------------------------------------------------- stats


async def test_stats_count_the_callers_jobs_per_status_and_their_retries(env: Env) -> None:
    await scripted(env)
    stats = await job_stats(env.deps, env.alice, StatsRequest())
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
    everyone = await job_stats(env.deps, env.ro_admin, StatsRequest(as_admin=True))
    assert everyone.user is None and sum(everyone.jobs.values()) == 13
    bob = await job_stats(env.deps, env.ro_admin, StatsRequest(as_admin=True, user="bob"))
    assert bob.jobs[JobStatus.ERROR] == 1 and sum(bob.jobs.values()) == 1


async def test_a_user_may_not_count_another_users_jobs(env: Env) -> None:
    with pytest.raises(PermissionDenied):
        await job_stats(env.deps, env.alice, StatsRequest(user="bob"))
    with pytest.raises(PermissionDenied):
        await job_stats(env.deps, env.alice, StatsRequest(as_admin=True))


async def test_stats_since_counts_only_jobs_created_from_then(env: Env) -> None:
    await scripted(env)
    stats = await job_stats(env.deps, env.alice, StatsRequest(since=1_700_000_000.0 + 100))
    assert sum(stats.jobs.values()) == 0
    stats = await job_stats(env.deps, env.alice, StatsRequest(since=1_700_000_000.0 + 30))
    assert sum(stats.jobs.values()) == 7  # everything alice made after the first minute
