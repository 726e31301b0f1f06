"""Every JobStore answers typed field conditions, scheduler-cluster lookups and child removal alike."""

from __future__ import annotations

import pytest

from ee_retry.domain.model import JobStatus
from ee_retry.domain.values import Comparison, FieldCondition, JobQuery
from ee_retry.ports import JobStore
from tests.adapters.store.store_helpers import T0, make_job


async def _ids(store: JobStore, *conditions: FieldCondition) -> set[str]:
    return {j.id for j in await store.find_jobs(JobQuery(conditions=conditions))}


async def test_conditions_on_fields_with_and_without_a_column_of_their_own(store: JobStore) -> None:
    early = make_job(status=JobStatus.ERROR, finished=T0 + 10, error_code=1, terminated_code=None)
    late = make_job(status=JobStatus.ERROR, finished=T0 + 100, error_code=4)
    cancelled = make_job(status=JobStatus.TERMINATED, finished=T0 + 50, terminated_code=2, wsid=8)
    running = make_job(status=JobStatus.RUNNING)
    await store.insert_jobs([early, late, cancelled, running])

    gt = FieldCondition("finished", Comparison.GT, T0 + 10)
    lte = FieldCondition("finished", Comparison.LTE, T0 + 100)
    assert await _ids(store, gt, lte) == {late.id, cancelled.id}
    assert await _ids(store, FieldCondition("status", Comparison.EQ, "error")) == {early.id, late.id}
    assert await _ids(store, FieldCondition("error_code", Comparison.IN, [4, 5])) == {late.id}
    assert await _ids(store, FieldCondition("terminated_code", Comparison.EQ, 2)) == {cancelled.id}
    assert await _ids(store, FieldCondition("wsid", Comparison.NE, 7)) == {cancelled.id}
    # ne also matches jobs where the field is missing or null, as MongoDB's $ne does
    assert await _ids(store, FieldCondition("terminated_code", Comparison.NE, 2)) == {
        early.id,
        late.id,
        running.id,
    }
    assert await _ids(store, FieldCondition("finished", Comparison.LT, T0 + 50)) == {early.id}
    assert await _ids(store, FieldCondition("job_input.method", Comparison.EQ, "Mod.run")) == {
        early.id,
        late.id,
        cancelled.id,
        running.id,
    }


async def test_a_scheduler_cluster_names_its_procs_and_an_ee2_jobs_bare_cluster(store: JobStore) -> None:
    first = make_job(scheduler_id="12.0")
    second = make_job(scheduler_id="12.1")
    legacy = make_job(scheduler_id="12")
    other = make_job(scheduler_id="123.0")
    await store.insert_jobs([first, second, legacy, other])

    found = await store.find_jobs(JobQuery(scheduler_cluster="12"))

    assert {j.id for j in found} == {first.id, second.id, legacy.id}


async def test_a_scheduler_cluster_must_be_digits(store: JobStore) -> None:
    with pytest.raises(ValueError, match="digits"):
        await store.find_jobs(JobQuery(scheduler_cluster="1.*"))


async def test_remove_children_pulls_only_the_named_children(store: JobStore) -> None:
    container = make_job(batch_job=True, job_input=None, child_jobs=("a" * 24, "b" * 24, "c" * 24))
    await store.insert_jobs([container])

    left = await store.remove_children(container.id, ["a" * 24, "c" * 24])

    assert left == ["b" * 24]
    assert (await store.get_jobs([container.id]))[container.id].child_jobs == ("b" * 24,)
