"""An admin's breaker reset that lands while an automatic-retry pass runs (after the pass read the
breakers, before it writes them back) stays in force: the pass does not write its older view over it."""

from __future__ import annotations

from pathlib import Path

import pytest

from ee_retry.domain.policy.breaker import BreakerState
from ee_retry.ports import JobStore
from ee_retry.service.policy.admin import reset_breaker, retry_policy
from ee_retry.service.policy.state import PolicyState
from tests.service.conftest import Env
from tests.service.policy.auto_support import EXAMPLE, latest, make_retrier

BREAKER = EXAMPLE.replace("min_finished = 20", "min_finished = 3").replace(
    "cooldown_s = 1800", "cooldown_s = 100"
)
APP = "Demo.fail"


async def breaker_state(env: Env) -> BreakerState:
    return (await PolicyState.load(env.deps.store)).breaker(APP).state


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
