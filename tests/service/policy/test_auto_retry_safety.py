"""Automatic retries across crashes and instances, and their budgets and breaker, on a fake clock:
each decision starts exactly one attempt whether the service dies between decision and start or
between start and record, two instances on one store start each due retry once, a budget holds
retries back until it allows, and an open breaker pauses an app's retries and lets one probe through."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ee_retry import constants
from ee_retry.adapters.store.sqlite import SqliteJobStore
from ee_retry.service.policy import starter
from ee_retry.service.policy.loop import AutoRetrier
from ee_retry.service.policy.source import PolicySource
from ee_retry.service.submit.requests import RunRequest
from ee_retry.service.submit.run import run_job
from ee_retry.service.sync.status_sync import apply_procs
from ee_retry.testing import harness
from ee_retry.testing.clock import FakeClock
from ee_retry.testing.instrument import Crash
from ee_retry.testing.scheduler import FakeScheduler
from tests.service.conftest import Env
from tests.service.policy.auto_support import EXAMPLE, auto, latest, make_retrier, middle


async def flaky_failures(env: Env, n: int) -> list[str]:
    jobs = [await env.run(method="Demo.fail") for _ in range(n)]
    for job in jobs:
        await env.sched.complete(job, exit_code=3)
    return jobs


def after_lease_expiry(env: Env) -> None:
    env.clock.advance(constants.LEADER_LEASE_TTL_S + 1)


async def test_killed_after_the_decision_the_next_instance_starts_it_once(env: Env, tmp_path: Path) -> None:
    [job] = await flaky_failures(env, 1)
    env.store.crash_after("guarded_update")  # the decision is written, then the process dies
    with pytest.raises(Crash):
        await make_retrier(env, tmp_path).run_once()
    assert (await auto(env, job))["state"] == "scheduled"

    after_lease_expiry(env)
    restarted = make_retrier(env, tmp_path)
    assert await restarted.run_once() == (0, 1)
    assert await restarted.run_once() == (0, 0)
    assert len((await env.job(job)).retry_ids) == 1


async def test_killed_after_marking_the_start_the_next_instance_starts_it_once(
    env: Env, tmp_path: Path
) -> None:
    [job] = await flaky_failures(env, 1)
    first = make_retrier(env, tmp_path)
    await first.run_once()
    env.clock.advance(1.0)
    env.store.crash_after("guarded_update")  # the start is marked with its request key, then death
    with pytest.raises(Crash):
        await first.run_once()
    assert (await env.job(job)).retry_ids == ()

    after_lease_expiry(env)
    assert await make_retrier(env, tmp_path).run_once() == (0, 1)
    assert len((await env.job(job)).retry_ids) == 1
    assert (await auto(env, job))["attempts"] == 1


async def test_killed_between_start_and_record_the_attempt_is_adopted_not_repeated(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = await flaky_failures(env, 3)
    first = make_retrier(env, tmp_path)
    await first.run_once()
    env.clock.advance(1.0)
    send = starter._send

    async def send_then_die(*args: object, **kwargs: object) -> object:
        await send(*args, **kwargs)  # type: ignore[arg-type]
        raise Crash("died before recording the attempts")

    monkeypatch.setattr(starter, "_send", send_then_die)
    with pytest.raises(Crash):
        await first.run_once()
    monkeypatch.setattr(starter, "_send", send)
    started = {job: await latest(env, job) for job in jobs}
    assert all(attempt != job for job, attempt in started.items())

    after_lease_expiry(env)
    assert await make_retrier(env, tmp_path).run_once() == (0, 3)
    for job in jobs:
        stored = await env.job(job)
        assert stored.retry_ids == (started[job],)  # the one attempt, recorded; none added
        decision = await auto(env, job)
        assert decision["state"] == "scheduled" and decision["attempts"] == 1


async def test_two_instances_on_one_store_start_each_due_retry_once(env: Env, tmp_path: Path) -> None:
    jobs = await flaky_failures(env, 5)
    one, two = make_retrier(env, tmp_path), make_retrier(env, tmp_path)
    for _ in range(3):
        await asyncio.gather(one.run_once(), two.run_once())
        env.clock.advance(1.0)
    for job in jobs:
        assert len((await env.job(job)).retry_ids) == 1
    assert sum(r.leader for r in (one, two)) == 1


async def test_two_instances_without_the_lease_still_start_each_retry_once(env: Env, tmp_path: Path) -> None:
    """Even when both think they lead (a lease that lapsed mid-pass), the compare-and-set decides."""
    jobs = await flaky_failures(env, 5)
    one, two = make_retrier(env, tmp_path), make_retrier(env, tmp_path)
    for retrier in (one, two):
        retrier.instance_id = "same-holder"  # both pass the lease check
    await one.run_once()
    env.clock.advance(1.0)
    await asyncio.gather(one.run_once(), two.run_once())
    for job in jobs:
        assert len((await env.job(job)).retry_ids) == 1


BUDGET = EXAMPLE.replace("per_user_per_hour = 50", "per_user_per_hour = 2")


async def test_a_used_up_budget_holds_retries_back_until_it_allows(env: Env, tmp_path: Path) -> None:
    jobs = await flaky_failures(env, 3)
    retrier = make_retrier(env, tmp_path, BUDGET)
    await retrier.run_once()
    env.clock.advance(1.0)
    started_at = env.clock.now()
    assert await retrier.run_once() == (0, 2)

    waiting = [await auto(env, job) for job in jobs if (await env.job(job)).retry_ids == ()]
    assert [w["state"] for w in waiting] == ["waiting_budget"]
    assert waiting[0]["next_at"] == round((started_at + 3600) * 1000)

    env.clock.advance(3599)
    assert await retrier.run_once() == (0, 0)
    env.clock.advance(1)
    assert await retrier.run_once() == (0, 1)
    assert [len((await env.job(job)).retry_ids) for job in jobs] == [1, 1, 1]


BREAKER = EXAMPLE.replace("min_finished = 20", "min_finished = 3").replace(
    "cooldown_s = 1800", "cooldown_s = 100"
)


async def test_an_open_breaker_pauses_then_one_probe_decides(env: Env, tmp_path: Path) -> None:
    jobs = await flaky_failures(env, 4)
    retrier = make_retrier(env, tmp_path, BREAKER)
    await retrier.run_once()
    env.clock.advance(1.0)
    assert await retrier.run_once() == (0, 0)  # 4 of 4 failed: the breaker of Demo.fail opens
    assert {(await auto(env, j))["state"] for j in jobs} == {"paused"}
    assert 'ee_retry_auto_retry_breaker_state{app="Demo.fail"} 1.0' in env.deps.metrics.render().decode()

    env.clock.advance(100)
    assert await retrier.run_once() == (0, 1)  # half open: one probe
    [probe] = [j for j in jobs if (await env.job(j)).retry_ids]
    await env.sched.complete(await latest(env, probe), exit_code=3)
    await retrier.run_once()  # the probe failed: open again
    env.clock.advance(50)
    assert await retrier.run_once() == (0, 0)

    env.clock.advance(51)
    before = {j: len((await env.job(j)).retry_ids) for j in jobs}
    assert await retrier.run_once() == (0, 1)  # the next probe
    [second] = [j for j in jobs if len((await env.job(j)).retry_ids) > before[j]]
    await env.sched.complete(await latest(env, second), exit_code=0)
    await retrier.run_once()  # success closes it
    env.clock.advance(constants.BREAKER_RECHECK_S)
    assert await retrier.run_once() == (0, 3)  # the other three resume
    assert [bool((await env.job(j)).retry_ids) for j in jobs] == [True] * 4


async def test_two_instances_over_one_sqlite_file_start_each_due_retry_once(tmp_path: Path) -> None:
    """Two service instances (each its own store connection) on one embedded store file, both passing
    the lease check: the compare-and-set writes still let each decision start one attempt."""
    clock = FakeClock(1_700_000_000.0)
    sched = FakeScheduler(clock=clock)
    db = tmp_path / "ee_retry.sqlite3"
    one, two = SqliteJobStore(db), SqliteJobStore(db)
    deps_one, deps_two = (harness.service_deps(s, sched, clock) for s in (one, two))
    sched.set_listener(lambda proc: apply_procs(deps_one, [proc]))
    await one.setup()
    try:
        alice = await harness.user(deps_one, harness.ALICE_TOKEN)
        jobs = [await run_job(deps_one, alice, RunRequest("Demo.fail", wsid=1)) for _ in range(5)]
        for job in jobs:
            await sched.complete(job, exit_code=3)
        policy = tmp_path / "policy.toml"
        policy.write_text(EXAMPLE)
        retriers = []
        for deps in (deps_one, deps_two):
            source = PolicySource(policy)
            source.load_first(clock.now())
            retriers.append(AutoRetrier(deps, source, 1.0, None, middle))
            retriers[-1].instance_id = "same-holder"  # both pass the lease check
        for _ in range(3):
            await asyncio.gather(*(r.run_once() for r in retriers))
            clock.advance(1.0)
        stored = await one.get_jobs(jobs)
        assert [len(stored[j].retry_ids) for j in jobs] == [1] * 5
        assert len({a for j in jobs for a in stored[j].retry_ids}) == 5
    finally:
        await one.close()
        await two.close()
