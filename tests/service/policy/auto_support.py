"""Automatic retriers over the service fakes (fake clock, jitter drawn at the middle), and helpers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ee_retry.demo
from ee_retry.domain.policy.breaker import Breaker, BreakerState
from ee_retry.domain.policy.model import AutoRetry
from ee_retry.service.deps import Deps
from ee_retry.service.policy.loop import AutoRetrier
from ee_retry.service.policy.source import PolicySource
from ee_retry.service.policy.state import BREAKER, breaker_doc
from tests.service.conftest import Env

EXAMPLE = Path(ee_retry.demo.__file__).with_name("policy.toml").read_text()


def middle(a: float, b: float) -> float:
    """Full jitter drawn at the middle of its range: delays are known in the tests."""
    return (a + b) / 2


def make_retrier(env: Env, folder: Path, text: str = EXAMPLE) -> AutoRetrier:
    """An automatic retrier of `env` with the given policy text (the example by default)."""
    path = folder / "policy.toml"
    path.write_text(text)
    source = PolicySource(path)
    source.load_first(env.clock.now())
    return AutoRetrier(env.deps, source, 1.0, None, middle)


async def open_breakers(deps: Deps, *apps: str) -> None:
    """Store each app's breaker open since now, as a pass that just opened it would."""
    now_ms = int(deps.clock.now() * 1000)
    opened = {
        BREAKER + app: breaker_doc(Breaker(app, BreakerState.OPEN, opened_at_ms=now_ms, since_ms=now_ms))
        for app in apps
    }
    await deps.store.put_states(opened)


async def auto(env: Env, job_id: str) -> dict[str, Any]:
    """The wire view of a job's automatic retry decision."""
    job = await env.job(job_id)
    assert job.auto_retry is not None, f"job {job_id} has no automatic retry decision"
    return AutoRetry.from_doc(job.auto_retry).to_wire()


async def latest(env: Env, job_id: str) -> str:
    """The id of the original's latest attempt."""
    job = await env.job(job_id)
    return job.retry_ids[-1] if job.retry_ids else job.id


async def flaky_job_with_a_started_attempt(env: Env, retrier: AutoRetrier) -> str:
    """A job that failed with exit 3 (the example's "flaky downloads" rule), whose first automatic
    attempt `retrier` has scheduled and, once its 1-second backoff passed, started; its id."""
    job = await env.run(method="Demo.fail")
    await env.sched.complete(job, exit_code=3)
    await retrier.run_once()
    env.clock.advance(1.0)
    await retrier.run_once()
    return job
