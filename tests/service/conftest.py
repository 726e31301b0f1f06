"""A service over fakes for use-case tests, on the embedded store and on the Mongo adapter over the
wire protocol (the session's `mongo_uri`: SecantusDB, or EE_RETRY_TEST_MONGO_URI)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ee_retry.service.sync.status_sync import apply_procs
from ee_retry.testing import harness
from ee_retry.testing.clock import FakeClock
from ee_retry.testing.instrument import Instrumented
from ee_retry.testing.mongo import open_test_store
from ee_retry.testing.scheduler import FakeScheduler
from tests.conftest import store_mongo_uri
from tests.service.support import Env


@pytest.fixture(params=["sqlite", "mongo"])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Env]:
    async with open_test_store(request.param, tmp_path, store_mongo_uri(request, request.param)) as raw_store:
        clock = FakeClock(1_700_000_000.0)
        sched = FakeScheduler(clock=clock)
        store = Instrumented(raw_store)
        sched_proxy = Instrumented(sched)
        deps = harness.service_deps(store, sched_proxy, clock)  # type: ignore[arg-type]
        sched.set_listener(lambda proc: apply_procs(deps, [proc]))
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
