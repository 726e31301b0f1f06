"""A job that ends in error records what is known about why in `failure` (None where unknown)."""

from __future__ import annotations

from tests.service.conftest import Env


async def test_an_exit_code_is_recorded(env: Env) -> None:
    job = await env.run()
    await env.sched.complete(job, exit_code=3)
    assert (await env.job(job)).failure == {
        "exit_code": 3,
        "signal": None,
        "hold_code": None,
        "hold_subcode": None,
    }


async def test_a_killing_signal_is_recorded(env: Env) -> None:
    job = await env.run()
    await env.sched.complete(job, exit_signal=9)
    assert (await env.job(job)).failure == {
        "exit_code": None,
        "signal": 9,
        "hold_code": None,
        "hold_subcode": None,
    }


async def test_a_scheduler_hold_records_its_codes(env: Env) -> None:
    job = await env.run()
    await env.sched.hold(job, "transfer failed", hold_code=12, hold_subcode=2)
    stored = await env.job(job)
    assert stored.status.value == "error"
    assert stored.failure == {"exit_code": None, "signal": None, "hold_code": 12, "hold_subcode": 2}


async def test_a_completed_job_has_no_failure(env: Env) -> None:
    job = await env.run(method="Demo.succeed")
    await env.sched.complete(job, exit_code=0)
    assert (await env.job(job)).failure is None
