"""An admin's breaker reset: it stays in force when it lands while an automatic-retry pass runs (after
the pass read the breakers, before it writes them back), and the retries that breaker paused go ahead
at the next pass."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ee_retry.domain.policy.breaker import BreakerState
from ee_retry.ports import JobStore
from ee_retry.service.policy.admin import reset_breaker, retry_policy
from ee_retry.service.policy.loop import AutoRetrier
from ee_retry.service.policy.state import PolicyState
from tests.service.conftest import Env
from tests.service.policy.auto_support import EXAMPLE, auto, latest, make_retrier, open_breakers

BREAKER = EXAMPLE.replace("min_finished = 20", "min_finished = 3").replace(
    "cooldown_s = 1800", "cooldown_s = 100"
)
APP = "Demo.fail"


async def breaker_state(env: Env) -> BreakerState:
    return (await PolicyState.load(env.deps.store)).breaker(APP).state


async def paused_behind_open_breakers(env: Env, tmp_path: Path, *apps: str) -> tuple[AutoRetrier, list[str]]:
    """One failed job of each app, its automatic retry paused by the pass behind the app's open
    breaker: the retrier and the jobs."""
    await open_breakers(env.deps, *apps)
    jobs = [await env.run(method=app) for app in apps]
    for job in jobs:
        await env.sched.complete(job, exit_code=3)  # the example's "flaky downloads" rule
    retrier = make_retrier(env, tmp_path)
    env.deps.policy = retrier.source
    await retrier.run_once()
    return retrier, jobs


async def test_a_reset_during_a_pass_is_not_undone_by_the_pass(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = [await env.run(method=APP) for _ in range(4)]
    for job in jobs:
        await env.sched.complete(job, exit_code=3)
    retrier = make_retrier(env, tmp_path, BREAKER)
    env.deps.policy = retrier.source
    await retrier.run_once()
    env.clock.advance(1.0)
    await retrier.run_once()  # 4 of 4 failed: the breaker opens
    env.clock.advance(100)
    assert await retrier.run_once() == (0, 1)  # half open: one probe
    [probe] = [j for j in jobs if (await env.job(j)).retry_ids]
    await env.sched.complete(await latest(env, probe), exit_code=3)  # the next pass would reopen it

    load = PolicyState.load

    async def load_then_reset(store: JobStore) -> PolicyState:
        state = await load(store)
        await reset_breaker(env.deps, env.admin, APP)  # the admin, while the pass runs
        return state

    with monkeypatch.context() as patch:
        patch.setattr(PolicyState, "load", load_then_reset)
        await retrier.run_once()

    assert await breaker_state(env) is BreakerState.CLOSED
    assert (await retry_policy(env.deps, env.admin))["breakers"] == []
    assert f'ee_retry_auto_retry_breaker_state{{app="{APP}"}} 0.0' in env.deps.metrics.render().decode()
    await retrier.run_once()  # the next pass counts only outcomes since the reset
    assert await breaker_state(env) is BreakerState.CLOSED


async def test_a_reset_releases_the_retries_its_breaker_paused_at_the_next_pass(
    env: Env, tmp_path: Path
) -> None:
    """The paused retries of the reset app start at the next pass, long before the breaker's cooldown
    would have let them; a paused retry of another app stays paused."""
    now_ms = int(env.clock.now() * 1000)
    retrier, [held, kept] = await paused_behind_open_breakers(env, tmp_path, APP, "Demo.fail_other")
    paused_until = (await auto(env, held))["next_at"]
    assert (await auto(env, held))["state"] == (await auto(env, kept))["state"] == "paused"
    assert paused_until == now_ms + 1_800_000

    env.clock.advance(10)
    reset = await reset_breaker(env.deps, env.admin, APP)
    assert reset["state"] == "closed" and reset["released"] == 1
    env.clock.advance(1)
    assert env.clock.now() * 1000 < paused_until
    assert await retrier.run_once() == (0, 1)
    assert (await env.job(held)).retry_ids
    assert (await auto(env, held))["state"] == "scheduled"
    assert not (await env.job(kept)).retry_ids
    assert (await auto(env, kept))["state"] == "paused"


@pytest.mark.parametrize("env", ["sqlite"], indirect=True)
async def test_a_reset_is_logged_with_the_app_the_admin_and_the_retries_released(
    env: Env, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await paused_behind_open_breakers(env, tmp_path, APP)
    caplog.set_level(logging.INFO, logger="ee_retry.service.policy.admin")
    await reset_breaker(env.deps, env.admin, APP)
    [line] = [r for r in caplog.records if r.name == "ee_retry.service.policy.admin"]
    assert line.levelno == logging.INFO
    assert (
        line.getMessage()
        == f"the circuit breaker of {APP} was reset by {env.admin.name}; 1 paused retries released"
    )
    assert env.admin.token not in caplog.text
