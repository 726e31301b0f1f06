"""Every JobStore appends and pages job logs and grants a lease to one holder at a time."""

from __future__ import annotations

from ee_retry.domain.ids import new_id
from ee_retry.ports import JobStore
from tests.adapters.store.store_helpers import T0

# ------------------------------------------------------------------ logs


async def test_logs_append_and_page_in_order(store: JobStore) -> None:
    job = new_id()
    lines = [{"line": f"line {i}", "is_error": i == 3, "ts": T0 + i} for i in range(5)]
    assert await store.add_logs(job, lines[:3]) == 3
    assert await store.add_logs(job, lines[3:]) == 5
    assert await store.add_logs(job, []) == 5
    assert await store.get_logs(job, 1, 3) == (lines[1:4], 5)
    assert await store.get_logs(job, 4, 100) == (lines[4:], 5)
    assert await store.get_logs(job, 9, 10) == ([], 5)
    assert await store.get_logs(job, 0, 0) == ([], 5)
    assert await store.get_logs(new_id(), 0, 10) == ([], 0)


# ------------------------------------------------------------------ leases


async def test_a_lease_is_held_by_one_holder_until_it_expires(store: JobStore) -> None:
    assert await store.acquire_lease("poller", "a", 30, T0)
    assert not await store.acquire_lease("poller", "b", 30, T0 + 10)
    assert await store.acquire_lease("other", "b", 30, T0 + 10)
    assert await store.acquire_lease("poller", "b", 30, T0 + 30)


async def test_renewing_a_lease_extends_it(store: JobStore) -> None:
    assert await store.acquire_lease("poller", "a", 30, T0)
    assert await store.acquire_lease("poller", "a", 30, T0 + 20)
    assert not await store.acquire_lease("poller", "b", 30, T0 + 40)
    assert await store.acquire_lease("poller", "b", 30, T0 + 50)


async def test_only_the_holder_can_release_a_lease(store: JobStore) -> None:
    await store.acquire_lease("poller", "a", 30, T0)
    await store.release_lease("poller", "b")
    assert not await store.acquire_lease("poller", "b", 30, T0 + 1)
    await store.release_lease("poller", "a")
    assert await store.acquire_lease("poller", "b", 30, T0 + 1)
