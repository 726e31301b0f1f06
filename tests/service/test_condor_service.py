"""The service on the real HTCondor adapter (worker processes, real Submit objects) over the fake schedd.

The poller drives statuses from the schedd's queue and history; runner callbacks and the poller agree
on who wins; held jobs become error and leave the queue.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ee_retry.adapters.clock import SystemClock
from ee_retry.domain.model import JobStatus
from ee_retry.domain.values import User
from ee_retry.service.deps import Deps
from ee_retry.service.jobs import cancel_job
from ee_retry.service.submit.requests import RetryRequest, RunRequest
from ee_retry.service.submit.retry import retry
from ee_retry.service.submit.run import run_job, run_job_batch
from ee_retry.service.sync.callbacks import finish_job
from ee_retry.service.sync.poller import Poller
from ee_retry.testing import harness
from ee_retry.testing.mongo import open_test_store
from ee_retry.testing.schedd import FakeSchedd
from tests.service.conftest import condor_over_fake_schedd

pytestmark = pytest.mark.slow


@dataclass
class Condor:
    deps: Deps
    schedd: FakeSchedd
    poller: Poller
    alice: User

    async def status(self, job_id: str) -> JobStatus:
        return (await self.deps.store.get_jobs([job_id]))[job_id].status

    async def sid(self, job_id: str) -> str:
        sid = (await self.deps.store.get_jobs([job_id]))[job_id].scheduler_id
        assert sid is not None
        return sid


@pytest.fixture
async def condor(tmp_path: Path) -> AsyncIterator[Condor]:
    state = tmp_path / "schedd"
    scheduler = condor_over_fake_schedd(state, 10.0)
    async with open_test_store("sqlite", tmp_path) as store:
        deps = harness.service_deps(store, scheduler, SystemClock())
        await store.setup()
        await scheduler.start()
        try:
            alice = await harness.user(deps, harness.ALICE_TOKEN)
            yield Condor(deps, FakeSchedd(state_dir=state), Poller(deps, 1.0), alice)
        finally:
            await scheduler.close()


async def test_a_batch_is_one_cluster_released_after_linking(condor: Condor) -> None:
    answer = await run_job_batch(
        condor.deps, condor.alice, [RunRequest("Demo.succeed", params=[{"i": i}]) for i in range(3)], 1, False
    )
    [submit] = condor.schedd.calls("submit")
    assert submit["procs"] == 3
    queue = condor.schedd.ads()
    assert {ad["ee_job_id"] for ad in queue} == set(answer["child_job_ids"])
    assert {ad["JobStatus"] for ad in queue} == {1}  # released: idle
    for child in answer["child_job_ids"]:
        assert await condor.status(child) is JobStatus.QUEUED


async def test_the_poller_maps_running_completed_and_held_and_removes_held_procs(condor: Condor) -> None:
    ids = [await run_job(condor.deps, condor.alice, RunRequest("Demo.succeed", wsid=1)) for _ in range(3)]
    sids = [await condor.sid(j) for j in ids]
    condor.schedd.start(sids[0])
    condor.schedd.start(sids[1])
    condor.schedd.complete(sids[1], exit_code=0)
    condor.schedd.start(sids[2])
    condor.schedd.complete(sids[2], exit_code=3)  # on_exit_hold holds it
    await condor.poller.run_once()
    assert [await condor.status(j) for j in ids] == [JobStatus.RUNNING, JobStatus.COMPLETED, JobStatus.ERROR]
    failed = (await condor.deps.store.get_jobs([ids[2]]))[ids[2]]
    assert failed.errormsg is not None
    assert "held by the scheduler" in failed.errormsg
    assert not condor.schedd.ads(f'ee_job_id == "{ids[2]}"')  # removed from the queue


async def test_a_retry_is_its_own_cluster_and_a_cancel_removes_exactly_its_proc(condor: Condor) -> None:
    job_id = await run_job(condor.deps, condor.alice, RunRequest("Demo.fail", wsid=1))
    condor.schedd.start(await condor.sid(job_id))
    condor.schedd.complete(await condor.sid(job_id), exit_code=1)
    await condor.poller.run_once()
    assert await condor.status(job_id) is JobStatus.ERROR
    [item] = await retry(condor.deps, condor.alice, RetryRequest((job_id,)))
    attempt = item["retry_id"]
    assert len(condor.schedd.calls("submit")) == 2
    await cancel_job(condor.deps, condor.alice, attempt, False)
    [act] = condor.schedd.calls("act")[-1:]
    assert act["job_spec"] == [await condor.sid(attempt)]
    await condor.poller.run_once()
    assert await condor.status(attempt) is JobStatus.TERMINATED


async def test_a_runner_callback_and_the_poller_agree_whoever_comes_first_wins(condor: Condor) -> None:
    job_id = await run_job(condor.deps, condor.alice, RunRequest("Demo.succeed", wsid=1))
    sid = await condor.sid(job_id)
    condor.schedd.start(sid)
    await finish_job(condor.deps, condor.alice, job_id, False, "runner saw a failure", 5, None, None)
    condor.schedd.complete(sid, exit_code=0)
    await condor.poller.run_once()
    job = (await condor.deps.store.get_jobs([job_id]))[job_id]
    assert job.status is JobStatus.ERROR
    assert job.errormsg == "runner saw a failure"
