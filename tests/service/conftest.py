"""The service tests' world: `Env`, one service over fakes (store and scheduler instrumented) and the
demo users, as the `env` fixture on the embedded store and on the Mongo adapter over the wire protocol
(the session's `mongo_uri`: SecantusDB, or EE_RETRY_TEST_MONGO_URI); and the HTCondor adapter over the
fake schedd."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ee_retry.adapters.htcondor import HTCondorScheduler
from ee_retry.domain.model import Job
from ee_retry.domain.values import SchedulerProc, User
from ee_retry.service.deps import Deps
from ee_retry.service.submit.requests import RetryRequest, RunRequest
from ee_retry.service.submit.retry import retry
from ee_retry.service.submit.run import run_job, run_job_batch
from ee_retry.service.sync.status_sync import apply_procs
from ee_retry.testing import harness
from ee_retry.testing.clock import FakeClock
from ee_retry.testing.instrument import Instrumented
from ee_retry.testing.mongo import open_test_store
from ee_retry.testing.scheduler import FakeScheduler
from tests.conftest import store_mongo_uri

STORE_WRITES = frozenset(
    {
        "insert_jobs",
        "transition",
        "set_fields",
        "link",
        "delete_created",
        "insert_operation",
        "update_operation",
        "add_logs",
    }
)
SCHEDULER_WRITES = frozenset({"submit", "release", "remove"})


@dataclass
class Env:
    """One service instance: its ports (store and scheduler instrumented) and the demo users."""

    deps: Deps
    store: Instrumented
    sched: FakeScheduler
    sched_proxy: Instrumented
    clock: FakeClock
    alice: User
    bob: User
    admin: User
    ro_admin: User

    async def job(self, job_id: str) -> Job:
        return (await self.deps.store.get_jobs([job_id]))[job_id]

    async def run(self, user: User | None = None, **kwargs: Any) -> str:
        kwargs.setdefault("method", "Demo.fail")
        kwargs.setdefault("wsid", 1)
        return await run_job(self.deps, user or self.alice, RunRequest(**kwargs))

    async def failed_job(self, user: User | None = None, **kwargs: Any) -> str:
        """A job that ran and failed (exit 1)."""
        job_id = await self.run(user, **kwargs)
        await self.sched.complete(job_id, exit_code=1, error="missing input")
        return job_id

    async def failed_attempt(self) -> tuple[str, str]:
        """A failed job whose first retry failed too (exit 1): the original's id and the attempt's."""
        job_id = await self.failed_job()
        [first] = await self.retry(job_id)
        await self.sched.complete(first["retry_id"], exit_code=1)
        return job_id, first["retry_id"]

    async def failed_batch(self, n: int = 2, user: User | None = None) -> tuple[str, list[str]]:
        answer = await run_job_batch(
            self.deps,
            user or self.alice,
            [RunRequest("Demo.fail", params=[{"i": i}]) for i in range(n)],
            1,
            False,
        )
        for child in answer["child_job_ids"]:
            await self.sched.complete(child, exit_code=1)
        return answer["batch_id"], answer["child_job_ids"]

    async def retry(self, *ids: object, user: User | None = None, **kwargs: Any) -> list[dict[str, Any]]:
        return await retry(self.deps, user or self.alice, RetryRequest(job_ids=ids, **kwargs))

    def writes(self) -> int:
        """Store and scheduler writes since the last reset."""
        store = sum(n for m, n in self.store.calls.items() if m in STORE_WRITES)
        sched = sum(n for m, n in self.sched_proxy.calls.items() if m in SCHEDULER_WRITES)
        return store + sched


def condor_over_fake_schedd(state: Path, timeout_s: float) -> HTCondorScheduler:
    """The real HTCondor adapter (worker processes) over the fake schedd keeping its state in `state`."""
    return HTCondorScheduler(
        "ee_retry.testing.schedd:FakeSchedd",
        runner="/usr/local/bin/ee-retry-runner",
        service_url="http://127.0.0.1:5000/",
        log_dir=str(state / "logs"),
        factory_kwargs={"state_dir": str(state)},
        timeout_s=timeout_s,
    )


@pytest.fixture(params=["sqlite", "mongo"])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Env]:
    async with open_test_store(request.param, tmp_path, store_mongo_uri(request, request.param)) as raw_store:
        clock = FakeClock(1_700_000_000.0)
        sched = FakeScheduler(clock=clock)
        store = Instrumented(raw_store)
        sched_proxy = Instrumented(sched)
        deps = harness.service_deps(store, sched_proxy, clock)

        async def listener(proc: SchedulerProc) -> None:
            await apply_procs(deps, [proc])

        sched.set_listener(listener)
        await deps.store.setup()
        users = [
            await harness.user(deps, t)
            for t in (
                harness.ALICE_TOKEN,
                harness.BOB_TOKEN,
                harness.ADMIN_TOKEN,
                harness.READONLY_ADMIN_TOKEN,
            )
        ]
        yield Env(deps, store, sched, sched_proxy, clock, *users)
