"""Automatic retries on the real HTCondor adapter over the fake schedd: the failure facts come from the
schedd's ads (an on_exit_hold keeps ExitCode; HoldReasonCode and HoldReasonSubCode), and the automatic
attempt runs with the service token EE_RETRY_POLICY_TOKEN, never a user's."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import ee_retry.demo
from ee_retry.domain.values import SchedulerKind
from ee_retry.service.deps import Deps
from ee_retry.service.policy.loop import AutoRetrier, policy_source
from ee_retry.service.submit.requests import RunRequest
from ee_retry.service.submit.run import run_job
from ee_retry.service.sync.poller import Poller
from ee_retry.settings import Settings
from ee_retry.testing import harness
from ee_retry.testing.clock import FakeClock
from ee_retry.testing.mongo import open_test_store
from ee_retry.testing.schedd import FakeSchedd
from tests.service.conftest import condor_over_fake_schedd

pytestmark = pytest.mark.slow

EXAMPLE = Path(ee_retry.demo.__file__).with_name("policy.toml")
POLICY_TOKEN = "policyServiceToken123"


@pytest.fixture
async def condor(tmp_path: Path) -> AsyncIterator[tuple[Deps, FakeSchedd, FakeClock]]:
    state = tmp_path / "schedd"
    scheduler = condor_over_fake_schedd(state, 10.0)
    clock = FakeClock(time.time())
    settings = Settings(scheduler=SchedulerKind.CONDOR, policy_file=EXAMPLE, policy_token=POLICY_TOKEN)
    async with open_test_store("sqlite", tmp_path) as store:
        deps = harness.service_deps(store, scheduler, clock, settings)
        await store.setup()
        await scheduler.start()
        try:
            yield deps, FakeSchedd(state_dir=state), clock
        finally:
            await scheduler.close()


async def test_a_held_exit_is_retried_with_the_policy_token(
    condor: tuple[Deps, FakeSchedd, FakeClock],
) -> None:
    deps, schedd, clock = condor
    alice = await harness.user(deps, harness.ALICE_TOKEN)
    job = await run_job(deps, alice, RunRequest("Demo.fail", params=[{"exit_code": 3}], wsid=1))
    sid = (await deps.store.get_jobs([job]))[job].scheduler_id
    assert sid is not None
    schedd.start(sid)
    schedd.complete(sid, exit_code=3)  # on_exit_hold: held, HoldReasonCode 3, subcode 3
    await Poller(deps, 1.0).run_once()
    failed = (await deps.store.get_jobs([job]))[job]
    assert failed.failure == {"exit_code": 3, "signal": None, "hold_code": 3, "hold_subcode": 3}

    source = policy_source(deps.settings, deps.scheduler.runs_with_owner_token, clock.now())
    assert source is not None
    retrier = AutoRetrier(deps, source, 1.0, deps.settings.policy_token, lambda a, b: b)
    await retrier.run_once()
    clock.advance(1.0)
    assert await retrier.run_once() == (0, 1)

    attempt = (await deps.store.get_jobs([job]))[job].retry_ids[0]
    [ad] = [a for a in schedd.ads() if a["ee_job_id"] == attempt]
    assert f"KB_AUTH_TOKEN={POLICY_TOKEN}" in ad["Environment"]
    assert harness.ALICE_TOKEN not in ad["Environment"]
