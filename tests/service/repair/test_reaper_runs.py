"""A reaper run as a whole: a dry run reports what a run then does and writes nothing, the lease keeps
two reapers apart (taken over once it lapses, renewed by each rule, released at the end), and with
the local executor only the queued rule runs."""

from __future__ import annotations

import pytest

from ee_retry import constants
from ee_retry.domain.ids import new_id
from ee_retry.domain.model import JobStatus
from ee_retry.domain.values import OperationQuery, ProcState
from ee_retry.service.repair.reaper import LEASE_NAME, LOCAL_NOTE, ReapOptions, reap
from ee_retry.service.repair.reaper_report import EXIT_ACTION_FAILED, EXIT_LEASE_HELD, EXIT_OK
from ee_retry.testing.instrument import Crash
from tests.service.conftest import Env
from tests.service.repair.conftest import (
    DAY_S,
    HOUR_S,
    actions,
    insert_job,
    reap_again_changes_nothing,
    reset,
)

LEASE_CALLS = ("acquire_lease", "release_lease")


async def make_one_of_each(env: Env) -> dict[str, str]:
    """One case for every rule; returns action -> target."""
    env.sched_proxy.crash_after("submit")
    with pytest.raises(Crash):
        await env.run()
    [op] = await env.deps.store.find_operations(OperationQuery())
    queued = await env.run()
    env.clock.advance(14 * DAY_S + 1)
    running = await env.run()
    await env.sched.start(running)
    env.sched.forget(running)
    created = await insert_job(env, JobStatus.CREATED, 2 * HOUR_S)
    orphan = env.sched.add_orphan(new_id(), new_id(), ProcState.IDLE)
    return {
        "finish-operation": op.id,
        "cancel-created": created.id,
        "cancel-queued": queued,
        "fail-running": running,
        "remove-orphan": orphan,
    }


async def test_a_dry_run_reports_every_planned_action_and_writes_nothing(env: Env) -> None:
    planned = await make_one_of_each(env)
    reset(env)
    report = await reap(env.deps, ReapOptions(dry_run=True))
    assert sorted(actions(report)) == sorted((f"would-{a}", t) for a, t in planned.items())
    assert env.writes() == 0, f"dry run wrote: {env.store.calls} {env.sched_proxy.calls}"
    assert not any(env.store.calls[m] for m in LEASE_CALLS)
    assert "dry run" in report.summary()


async def test_a_run_does_what_the_dry_run_planned_and_a_second_run_changes_nothing(env: Env) -> None:
    planned = await make_one_of_each(env)
    dry = await reap(env.deps, ReapOptions(dry_run=True))
    report = await reap(env.deps, ReapOptions())
    assert sorted(actions(report)) == sorted(planned.items())
    assert sorted((a.removeprefix("would-"), t) for a, t in actions(dry)) == sorted(actions(report))
    assert report.exit_code == EXIT_OK
    await reap_again_changes_nothing(env)


async def test_a_run_does_nothing_while_another_reaper_holds_the_lease(env: Env) -> None:
    await insert_job(env, JobStatus.CREATED, 2 * HOUR_S)
    now = env.clock.now()
    assert await env.deps.store.acquire_lease(LEASE_NAME, "other-reaper", constants.REAPER_LEASE_TTL_S, now)
    reset(env)
    report = await reap(env.deps, ReapOptions())
    assert report.lease_held_elsewhere
    assert report.actions == []
    assert report.exit_code == EXIT_LEASE_HELD
    assert env.writes() == 0
    assert "another reaper holds the lease" in report.summary()


async def test_the_lease_is_taken_over_once_its_holder_stops_renewing_it(env: Env) -> None:
    job = await insert_job(env, JobStatus.CREATED, 2 * HOUR_S)
    now = env.clock.now()
    await env.deps.store.acquire_lease(LEASE_NAME, "crashed-reaper", constants.REAPER_LEASE_TTL_S, now)
    env.clock.advance(constants.REAPER_LEASE_TTL_S + 1)
    report = await reap(env.deps, ReapOptions())
    assert actions(report) == [("cancel-created", job.id)]


async def test_a_run_renews_its_lease_and_stops_once_another_reaper_took_it(env: Env) -> None:
    """Each rule renews the lease; a run so slow that its lease lapsed and was taken stops there."""
    job = await insert_job(env, JobStatus.CREATED, 2 * HOUR_S)
    store = env.deps.store
    take = store.acquire_lease
    holders: list[str] = []

    async def lapsing(name: str, holder: str, ttl_s: float, now: float) -> bool:
        holders.append(holder)
        if len(holders) == 3:  # before the second rule: the lease lapsed and another reaper took it
            env.clock.advance(ttl_s + 1)
            assert await take(name, "second", ttl_s, env.clock.now())
        return bool(await take(name, holder, ttl_s, env.clock.now()))

    store.acquire_lease = lapsing  # type: ignore[method-assign]
    report = await reap(env.deps, ReapOptions(holder="first"))

    assert holders[:3] == ["first"] * 3
    assert report.exit_code == EXIT_ACTION_FAILED
    assert any("another reaper took it" in a.detail for a in report.actions)
    assert (await env.job(job.id)).status is JobStatus.CREATED  # the created rule never ran
    assert not await take(LEASE_NAME, "third", 60, env.clock.now())  # still the second reaper's


async def test_a_run_releases_its_lease_when_it_ends(env: Env) -> None:
    await reap(env.deps, ReapOptions(holder="first"))
    assert await env.deps.store.acquire_lease(LEASE_NAME, "second", 60, env.clock.now())


# ---------------------------------------------------------------- local executor


async def test_with_the_local_executor_only_the_queued_rule_runs_and_the_report_says_why(env: Env) -> None:
    planned = await make_one_of_each(env)
    reset(env)
    report = await reap(env.deps, ReapOptions(scheduler_visible=False))
    assert actions(report) == [("cancel-queued", planned["cancel-queued"])]
    assert report.notes == [LOCAL_NOTE]
    assert env.sched_proxy.total == 0
    assert (await env.job(planned["fail-running"])).status is JobStatus.RUNNING
    assert (await env.job(planned["cancel-created"])).status is JobStatus.CREATED
