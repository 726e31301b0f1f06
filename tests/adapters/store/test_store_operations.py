"""Every JobStore stores operations and holds an idempotency key for one operation at a time."""

from __future__ import annotations

from dataclasses import replace

from ee_retry import constants
from ee_retry.domain.ids import new_id
from ee_retry.domain.model import OperationState, OperationUpdate
from ee_retry.domain.values import OperationQuery
from ee_retry.ports import JobStore
from tests.builders import T0, make_op


async def test_an_operation_reads_back_unchanged(store: JobStore) -> None:
    op = make_op(
        idempotency_key="k-1",
        request={"method": "retry_jobs", "job_ids": [new_id()], "as_admin": False},
        request_hash="abc",
        result={"retry_ids": ["x"]},
        scheduler_ids={"a": "1.0"},
        error="schedd timed out",
    )
    assert await store.insert_operation(op) is None
    assert await store.get_operation(op.id) == op
    assert await store.get_operation(new_id()) is None
    assert await store.insert_operation(op) is None  # storing it again is a no-op
    assert await store.find_operations(OperationQuery()) == [op]


async def test_a_taken_idempotency_key_returns_its_holder(store: JobStore) -> None:
    first = make_op(idempotency_key="k")
    assert await store.insert_operation(first) is None
    second = make_op(idempotency_key="k", created=T0 + 10)
    assert await store.insert_operation(second) == first
    assert await store.get_operation(second.id) is None
    other_user = make_op(idempotency_key="k", user="bob")
    assert await store.insert_operation(other_user) is None


async def test_a_finished_holder_older_than_the_ttl_frees_the_key(store: JobStore) -> None:
    ttl = constants.IDEMPOTENCY_TTL_S
    old = make_op(idempotency_key="k", state=OperationState.DONE)
    await store.insert_operation(old)
    too_soon = make_op(idempotency_key="k", created=T0 + ttl - 1)
    assert await store.insert_operation(too_soon) == old
    later = make_op(idempotency_key="k", created=T0 + ttl + 1)
    assert await store.insert_operation(later) is None
    assert await store.insert_operation(make_op(idempotency_key="k", created=T0 + ttl + 2)) == later


async def test_an_unfinished_holder_keeps_the_key_however_old(store: JobStore) -> None:
    stuck = make_op(idempotency_key="k", state=OperationState.RESERVED)
    await store.insert_operation(stuck)
    assert await store.insert_operation(make_op(idempotency_key="k", created=T0 + 10 * 86_400)) == stuck


async def test_setting_idem_to_none_frees_the_key(store: JobStore) -> None:
    """A rollback frees its key in the same write that marks it rolled back."""
    first = make_op(idempotency_key="k")
    await store.insert_operation(first)
    assert await store.update_operation(OperationUpdate(first.id, frozenset(OperationState), {"idem": None}))
    second = make_op(idempotency_key="k")
    assert await store.insert_operation(second) is None
    assert await store.get_operation(first.id) == first


async def test_update_operation_applies_only_from_an_expected_state(store: JobStore) -> None:
    op = make_op()
    await store.insert_operation(op)
    reserved = frozenset({OperationState.RESERVED})
    assert not await store.update_operation(OperationUpdate(op.id, reserved, {"state": OperationState.DONE}))
    assert not await store.update_operation(
        OperationUpdate(new_id(), frozenset(OperationState), {"error": "x"})
    )
    job_ids = [new_id(), new_id()]
    fields = {"state": OperationState.RESERVED, "job_ids": job_ids, "updated": T0 + 1, "result": {"n": 2}}
    assert await store.update_operation(OperationUpdate(op.id, frozenset({OperationState.RESERVING}), fields))
    got = await store.get_operation(op.id)
    assert got == replace(
        op, state=OperationState.RESERVED, job_ids=tuple(job_ids), updated=T0 + 1, result={"n": 2}
    )
    assert await store.find_operations(OperationQuery(job_id=job_ids[1])) == [got]


async def test_find_operations_by_state_job_user_and_key_oldest_first(store: JobStore) -> None:
    job = new_id()
    a = make_op(created=T0 + 2, job_ids=(job,), state=OperationState.RESERVED, idempotency_key="k")
    b = make_op(created=T0 + 1, job_ids=(job, new_id()), user="bob")
    c = make_op(created=T0 + 3, state=OperationState.DONE)
    for op in (a, b, c):
        await store.insert_operation(op)
    await store.update_operation(OperationUpdate(a.id, frozenset(OperationState), {"idem": None}))
    states = [OperationState.RESERVING, OperationState.RESERVED]
    assert await store.find_operations(OperationQuery(states=states)) == [b, a]
    assert await store.find_operations(OperationQuery(job_id=job)) == [b, a]
    assert await store.find_operations(OperationQuery(user="alice")) == [a, c]
    assert await store.find_operations(OperationQuery(user="alice", idempotency_key="k")) == [a]
    assert await store.find_operations(OperationQuery(user="bob", idempotency_key="k")) == []
    assert await store.find_operations(OperationQuery(limit=2)) == [b, a]


async def test_update_operation_with_updated_was_is_a_compare_and_set(store: JobStore) -> None:
    """Two reconcile passes claim one operation: only the one that saw the current time wins."""
    op = make_op(state=OperationState.RESERVED)
    await store.insert_operation(op)
    reserved = frozenset({OperationState.RESERVED})
    assert await store.update_operation(
        OperationUpdate(op.id, reserved, {"updated": T0 + 5}, updated_was=op.updated)
    )
    assert not await store.update_operation(
        OperationUpdate(op.id, reserved, {"updated": T0 + 6}, updated_was=op.updated)
    )
    stored = await store.get_operation(op.id)
    assert stored is not None
    assert stored.updated == T0 + 5
