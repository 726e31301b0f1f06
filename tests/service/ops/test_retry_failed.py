"""retry_failed_jobs selection and permissions, on a scripted history (lineage and stats:
test_lineage_and_stats.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from ee_retry.domain.model import ErrorCode, Job, JobStatus
from ee_retry.domain.status import failed
from ee_retry.domain.values import JobQuery, Permission, User
from ee_retry.errors import IdempotencyConflict, PermissionDenied
from ee_retry.ports import Workspace
from ee_retry.service.jobs import cancel_job
from ee_retry.service.ops import retry_failed
from ee_retry.service.ops.retry_failed import FailedJobFilters, RetryFailedRequest
from ee_retry.testing.instrument import Crash, Instrumented
from tests.service.conftest import Env


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
    result = await retry_failed.retry_failed_jobs(env.deps, caller, req)
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
            await retry_failed.retry_failed_jobs(env.deps, user, req)


async def test_the_latest_attempt_decides_and_carries_the_last_error(env: Env) -> None:
    h = await scripted(env)
    req = RetryFailedRequest(FailedJobFilters(user="alice"))
    result = await retry_failed.retry_failed_jobs(env.deps, env.alice, req)
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
    monkeypatch.setattr(retry_failed, "PAGE_SIZE", 2)
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


# ---------------------------------------------------------------- what the store is asked for


@dataclass
class Overstating:
    """The demo workspaces, except that every workspace is listed as writable."""

    inner: Workspace

    async def permissions(self, user: User, wsids: Sequence[int]) -> dict[int, Permission]:
        return await self.inner.permissions(user, wsids)

    async def writable_workspaces(self, user: User) -> list[int]:
        return [1, 2]


def record_reads(env: Env, monkeypatch: pytest.MonkeyPatch) -> list[tuple[JobQuery, list[Job]]]:
    """Each find_jobs query from now on, with the jobs the store answered."""
    seen: list[tuple[JobQuery, list[Job]]] = []
    find = env.deps.store.find_jobs

    async def recording(query: JobQuery) -> list[Job]:
        jobs = list(await find(query))
        seen.append((query, jobs))
        return jobs

    monkeypatch.setattr(env.deps.store, "find_jobs", recording)
    return seen


def count_workspace_calls(env: Env) -> Instrumented:
    """The service's workspace port, from now on counting its calls."""
    workspace = Instrumented(env.deps.workspace)
    env.deps.workspace = workspace
    return workspace


async def test_a_non_admins_store_query_reads_only_their_jobs_and_workspaces_they_may_write(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Other users' failed jobs elsewhere are never read, so the scan is bounded by the caller."""
    h = await scripted(env)
    elsewhere = [await env.failed_job(env.bob, wsid=2) for _ in range(5)]
    reads = record_reads(env, monkeypatch)
    assert await select_ids(env, env.alice) == [h.a_failed_twice, h.a_cancelled, h.a_timeout, h.admin_ws1]
    [(query, jobs)] = reads
    assert (query.users, query.wsids) == (["alice"], [1])
    assert all(j.user == "alice" or j.wsid == 1 for j in jobs)
    assert {j.id for j in jobs}.isdisjoint([h.b_failed, h.admin_ws2, *elsewhere])


async def test_a_wsid_the_caller_may_not_write_narrows_the_read_to_their_own_jobs(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bob reads ws 1 but may not write it: alice's failed jobs there are not even read."""
    h = await scripted(env)
    reads = record_reads(env, monkeypatch)
    assert await select_ids(env, env.bob, wsid=1) == []
    assert await select_ids(env, env.bob, wsid=2) == [h.b_failed, h.admin_ws2]
    [(own, own_jobs), (writable, _)] = reads
    assert (own.users, own.wsids) == (["bob"], None)
    assert [j.id for j in own_jobs] == [h.b_failed]
    assert (writable.users, writable.wsids) == (None, [2])


async def test_an_admins_query_is_not_narrowed_and_asks_no_workspace_list(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    await scripted(env)
    workspace = count_workspace_calls(env)
    reads = record_reads(env, monkeypatch)
    await select_ids(env, env.admin, True)
    await select_ids(env, env.admin, True, wsid=2)
    assert [(q.users, q.wsids) for q, _ in reads] == [(None, None), (None, [2])]
    assert workspace.calls["writable_workspaces"] == 0


async def test_the_writable_workspaces_are_asked_once_per_request_whatever_the_pages(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    await scripted(env)
    workspace = count_workspace_calls(env)
    monkeypatch.setattr(retry_failed, "PAGE_SIZE", 2)
    assert len(await select_ids(env, env.alice)) == 4
    assert workspace.calls["writable_workspaces"] == 1


async def test_the_per_job_check_still_guards_a_workspace_list_that_says_too_much(env: Env) -> None:
    """If the listing wrongly grants bob's ws 2, alice still selects none of its other users' jobs."""
    h = await scripted(env)
    env.deps.workspace = Overstating(env.deps.workspace)  # type: ignore[assignment]
    assert await select_ids(env, env.alice) == [h.a_failed_twice, h.a_cancelled, h.a_timeout, h.admin_ws1]


# ---------------------------------------------------------------- dry run and the retry path


async def test_a_dry_run_writes_nothing(env: Env) -> None:
    await scripted(env)
    env.store.reset()
    env.sched_proxy.reset()
    result = await retry_failed.retry_failed_jobs(env.deps, env.alice, RetryFailedRequest(FailedJobFilters()))
    assert result.dry_run and len(result.candidates) == 4
    assert env.writes() == 0, f"dry run wrote: {env.store.calls} {env.sched_proxy.calls}"


async def test_without_dry_run_the_selection_is_retried_and_then_is_in_flight(env: Env) -> None:
    h = await scripted(env)
    req = RetryFailedRequest(FailedJobFilters(), dry_run=False)
    result = await retry_failed.retry_failed_jobs(env.deps, env.alice, req)
    assert [a["job_id"] for a in result.answer or []] == [
        h.a_failed_twice,
        h.a_cancelled,
        h.a_timeout,
        h.admin_ws1,
    ]
    assert all("retry_id" in a for a in result.answer or [])
    attempt = await env.job(str((result.answer or [])[0]["retry_id"]))
    assert attempt.retry_parent == h.a_failed_twice and attempt.status is JobStatus.QUEUED
    again = await retry_failed.retry_failed_jobs(env.deps, env.alice, req)
    assert again.candidates == [] and again.answer == []


async def test_the_retry_is_audited_as_retry_failed_jobs(env: Env) -> None:
    await scripted(env)
    req = RetryFailedRequest(FailedJobFilters(user="alice"), dry_run=False, idempotency_key="k-1")
    result = await retry_failed.retry_failed_jobs(env.deps, env.alice, req)
    attempt = await env.job(str((result.answer or [])[0]["retry_id"]))
    op = await env.deps.store.get_operation(attempt.operation_id or "")
    assert op is not None and op.user == "alice" and op.idempotency_key == "k-1"
    assert op.request["method"] == "retry_failed_jobs"
    assert op.request["origin"]["filters"]["user"] == "alice"


async def test_the_same_idempotency_key_replays_the_first_answer(env: Env) -> None:
    await scripted(env)
    req = RetryFailedRequest(FailedJobFilters(), dry_run=False, idempotency_key="nightly-1")
    first = await retry_failed.retry_failed_jobs(env.deps, env.alice, req)
    before = len(await env.deps.store.find_jobs(JobQuery()))
    second = await retry_failed.retry_failed_jobs(env.deps, env.alice, req)
    assert second.answer == first.answer
    assert len(await env.deps.store.find_jobs(JobQuery())) == before
    other = RetryFailedRequest(FailedJobFilters(user="alice"), dry_run=False, idempotency_key="nightly-1")
    with pytest.raises(IdempotencyConflict):
        await retry_failed.retry_failed_jobs(env.deps, env.alice, other)
