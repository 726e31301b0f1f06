"""Every JobStore behaves the same: SQLite, MongoDB over the mongomock facade, and real MongoDB."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest
from bson import ObjectId

from ee_retry import constants
from ee_retry.adapters.mongo_store import MongoJobStore
from ee_retry.domain.ids import new_id
from ee_retry.domain.model import (
    Job,
    JobInput,
    JobRequirements,
    JobStatus,
    Operation,
    OperationKind,
    OperationState,
)
from ee_retry.errors import InvalidJobId
from ee_retry.ports import JobQuery, JobStore, Transition
from ee_retry.testing.mongo import AsyncMongomockClient

T0 = 1_700_000_000.0
ACTIVE = frozenset({JobStatus.CREATED, JobStatus.QUEUED, JobStatus.RUNNING})


def make_job(**fields: Any) -> Job:
    base: dict[str, Any] = {
        "id": new_id(),
        "user": "alice",
        "status": JobStatus.CREATED,
        "job_input": JobInput(method="Mod.run", service_ver="c0ffee", wsid=7),
        "created": T0,
        "updated": T0,
        "wsid": 7,
    }
    base.update(fields)
    return Job(**base)


def attempt_of(original: str, **fields: Any) -> Job:
    return make_job(retry_parent=original, retry_active=original, **fields)


def make_op(**fields: Any) -> Operation:
    base: dict[str, Any] = {
        "id": new_id(),
        "kind": OperationKind.RETRY,
        "user": "alice",
        "state": OperationState.RESERVING,
        "created": T0,
        "updated": T0,
        "job_ids": (new_id(),),
    }
    base.update(fields)
    return Operation(**base)


def full_job() -> Job:
    """A job with every field set, including nested job_input and requirements."""
    original = new_id()
    return Job(
        id=new_id(),
        user="alice",
        status=JobStatus.ERROR,
        job_input=JobInput(
            method="MegaHit.run_megahit",
            service_ver="0123456789abcdef0123456789abcdef01234567",
            params=[{"reads": "1/2/3", "k": [21, 33], "opt": None, "nested": {"deep": [1.5, True]}}],
            app_id="MegaHit/run_megahit",
            source_ws_objects=("1/2/3", "4/5/6"),
            wsid=42,
            parent_job_id=new_id(),
            requirements=JobRequirements(cpus=4, memory_mb=2048, disk_gb=30, client_group="bigmem"),
            narrative_cell_info={"cell_id": "c1", "run_id": "r1", "tag": "release"},
            meta={"origin": "narrative"},
        ),
        created=T0 + 0.123456,
        updated=T0 + 9.5,
        wsid=42,
        authstrat="kbaseworkspace",
        queued=T0 + 1.25,
        running=T0 + 2.5,
        finished=T0 + 9.5,
        errormsg="job crashed",
        error={"code": -32000, "name": "Server error", "message": "job crashed"},
        error_code=1,
        terminated_code=2,
        scheduler_type="condor",
        scheduler_id="123.4",
        job_output={"result": [{"report_ref": "1/2/3"}], "version": "1.1"},
        batch_job=False,
        batch_id=new_id(),
        child_jobs=(new_id(), new_id()),
        retry_ids=(new_id(), new_id()),
        retry_parent=original,
        retry_saved_toggle=True,
        operation_id=new_id(),
        retry_active=original,
    )


# ------------------------------------------------------------------ jobs: insert and read


async def test_a_job_with_every_field_set_reads_back_unchanged(store: JobStore) -> None:
    job = full_job()
    assert (await store.insert_jobs([job])).inserted == {job.id}
    assert await store.get_jobs([job.id]) == {job.id: job}


async def test_a_job_with_every_optional_field_unset_reads_back_with_none(store: JobStore) -> None:
    container = Job(id=new_id(), user="bob", status=JobStatus.CREATED, job_input=None, created=T0, updated=T0)
    bare_input = replace(container, id=new_id(), job_input=JobInput(method="Mod.run", service_ver="c0ffee"))
    await store.insert_jobs([container, bare_input])
    assert await store.get_jobs([container.id, bare_input.id]) == {
        container.id: container,
        bare_input.id: bare_input,
    }


async def test_get_jobs_returns_only_the_jobs_that_exist(store: JobStore) -> None:
    job = make_job()
    await store.insert_jobs([job])
    assert set(await store.get_jobs([job.id, new_id(), "not-an-id"])) == {job.id}


async def test_a_job_id_that_is_not_24_hex_characters_is_refused(store: JobStore) -> None:
    with pytest.raises(InvalidJobId):
        await store.insert_jobs([make_job(id="job-1")])


async def test_jobs_without_an_active_attempt_never_collide(store: JobStore) -> None:
    jobs = [make_job() for _ in range(3)]
    outcome = await store.insert_jobs(jobs)
    assert outcome.inserted == {j.id for j in jobs}
    assert outcome.conflicts == {}


async def test_reinserting_a_stored_job_changes_nothing_and_names_it(store: JobStore) -> None:
    original = new_id()
    attempt = attempt_of(original)
    plain = make_job()
    await store.insert_jobs([attempt, plain])
    again = await store.insert_jobs([replace(attempt, user="mallory"), replace(plain, user="mallory")])
    assert again.inserted == frozenset()
    assert again.conflicts == {attempt.id: attempt.id, plain.id: None}
    assert {j.user for j in (await store.get_jobs([attempt.id, plain.id])).values()} == {"alice"}


# ------------------------------------------------------------------ MongoDB document layout


async def test_mongo_documents_keep_ee2_types_and_never_store_a_null_guard(
    mongo_store: MongoJobStore,
) -> None:
    """ObjectId _id; lineage ids as strings; retry_active and idem absent (not null) when unset."""
    job, plain = full_job(), make_job()
    await mongo_store.insert_jobs([job, plain])
    await mongo_store.insert_operation(make_op(idempotency_key=None))
    jobs = mongo_store.database["ee2_jobs"]
    stored = await jobs.find_one({"_id": ObjectId(job.id)})
    assert stored is not None
    assert all(isinstance(stored[f], str) for f in ("batch_id", "retry_parent", "retry_active"))
    assert all(isinstance(i, str) for i in [*stored["child_jobs"], *stored["retry_ids"]])
    assert "retry_active" not in await jobs.find_one({"_id": ObjectId(plain.id)})
    await mongo_store.transition([Transition(job.id, frozenset(JobStatus), JobStatus.TERMINATED)])
    assert "retry_active" not in await jobs.find_one({"_id": ObjectId(job.id)})
    assert "idem" not in await mongo_store.database["ee_retry_operations"].find_one({})


async def test_a_job_written_by_ee2_reads_with_its_creation_time_from_its_id(
    mongo_store: MongoJobStore,
) -> None:
    oid = ObjectId()
    legacy = {
        "_id": oid,
        "user": "alice",
        "authstrat": "kbaseworkspace",
        "wsid": 7,
        "status": "error",
        "updated": T0,
        "job_input": {"method": "Mod.run", "service_ver": "c0ffee", "params": [], "wsid": 7},
    }
    await mongo_store.database["ee2_jobs"].insert_one(legacy)
    job = (await mongo_store.get_jobs([str(oid)]))[str(oid)]
    assert job.created == oid.generation_time.timestamp()
    assert (job.status, job.retry_ids, job.retry_active, job.retry_parent) == (
        JobStatus.ERROR,
        (),
        None,
        None,
    )


async def test_each_mongo_store_call_is_one_round_trip_whatever_the_number_of_jobs() -> None:
    client = AsyncMongomockClient()
    store = MongoJobStore(client["ee2"], client=client)
    await store.setup()
    original = make_job(status=JobStatus.ERROR)
    jobs = [make_job(retry_parent=original.id) for _ in range(100)]
    ids = [j.id for j in jobs]
    created = frozenset({JobStatus.CREATED})
    calls = [
        store.insert_jobs([original, *jobs]),
        store.get_jobs(ids),
        store.find_jobs(JobQuery(ids=ids)),
        store.count_jobs(JobQuery(ids=ids)),
        store.set_fields({i: {"scheduler_id": f"1.{n}"} for n, i in enumerate(ids)}),
        store.link({original.id: ids}, {}, ids),
        store.transition([Transition(i, created, JobStatus.QUEUED) for i in ids]),
        store.transition([Transition(i, created, JobStatus.QUEUED) for i in ids]),
        store.delete_created(ids),
    ]
    for call in calls:
        before = client.round_trips
        await call
        assert client.round_trips - before == 1
    await store.close()


# ------------------------------------------------------------------ the in-flight guard


async def test_two_attempts_of_one_original_in_one_write_admit_one(store: JobStore) -> None:
    original = new_id()
    first, second = attempt_of(original), attempt_of(original)
    bystander = make_job()
    outcome = await store.insert_jobs([first, second, bystander])
    assert len(outcome.inserted - {bystander.id}) == 1
    assert bystander.id in outcome.inserted
    (winner,) = outcome.inserted - {bystander.id}
    (loser,) = {first.id, second.id} - {winner}
    assert outcome.conflicts == {loser: winner}
    assert set(await store.get_jobs([first.id, second.id])) == {winner}


async def test_an_attempt_loses_to_the_attempt_already_in_flight(store: JobStore) -> None:
    original = new_id()
    first = attempt_of(original)
    await store.insert_jobs([first])
    second = attempt_of(original)
    outcome = await store.insert_jobs([second])
    assert outcome.inserted == frozenset()
    assert outcome.conflicts == {second.id: first.id}
    assert await store.active_attempts([original, new_id()]) == {original: first.id}


async def test_fifty_concurrent_attempts_of_one_original_admit_exactly_one(store: JobStore) -> None:
    original = new_id()
    attempts = [attempt_of(original) for _ in range(50)]
    outcomes = await asyncio.gather(*(store.insert_jobs([a]) for a in attempts))
    inserted = [i for o in outcomes for i in o.inserted]
    assert len(inserted) == 1
    winner = inserted[0]
    assert all(
        o.conflicts == {a.id: winner} for a, o in zip(attempts, outcomes, strict=True) if a.id != winner
    )
    assert await store.active_attempts([original]) == {original: winner}


async def test_a_terminal_transition_releases_the_guard_for_a_new_attempt(store: JobStore) -> None:
    original = new_id()
    first = attempt_of(original)
    await store.insert_jobs([first])
    changed = await store.transition([Transition(first.id, ACTIVE, JobStatus.ERROR, {"updated": T0 + 5})])
    assert changed == {first.id}
    assert (await store.get_jobs([first.id]))[first.id].retry_active is None
    assert await store.active_attempts([original]) == {}
    second = attempt_of(original)
    assert (await store.insert_jobs([second])).inserted == {second.id}
    assert await store.active_attempts([original]) == {original: second.id}


async def test_a_non_terminal_transition_keeps_the_guard(store: JobStore) -> None:
    original = new_id()
    first = attempt_of(original)
    await store.insert_jobs([first])
    await store.transition([Transition(first.id, ACTIVE, JobStatus.RUNNING, {"running": T0 + 1})])
    assert await store.active_attempts([original]) == {original: first.id}


# ------------------------------------------------------------------ transitions and field updates


async def test_a_transition_applies_only_from_an_expected_status(store: JobStore) -> None:
    created, running = make_job(), make_job(status=JobStatus.RUNNING)
    await store.insert_jobs([created, running])
    changes = [
        Transition(
            j.id, frozenset({JobStatus.CREATED}), JobStatus.QUEUED, {"queued": T0 + 1, "updated": T0 + 1}
        )
        for j in (created, running)
    ]
    assert await store.transition([*changes, Transition(new_id(), ACTIVE, JobStatus.ERROR)]) == {created.id}
    got = await store.get_jobs([created.id, running.id])
    assert (got[created.id].status, got[created.id].queued, got[created.id].updated) == (
        JobStatus.QUEUED,
        T0 + 1,
        T0 + 1,
    )
    assert got[running.id] == running


async def test_transitions_report_exactly_the_jobs_that_changed(store: JobStore) -> None:
    jobs = [make_job(status=JobStatus.QUEUED if i % 3 else JobStatus.COMPLETED) for i in range(9)]
    await store.insert_jobs(jobs)
    to_run = [Transition(j.id, frozenset({JobStatus.QUEUED}), JobStatus.RUNNING) for j in jobs]
    assert await store.transition(to_run) == {j.id for j in jobs if j.status is JobStatus.QUEUED}
    assert await store.transition(to_run) == set()


async def test_of_two_racing_transitions_only_one_reports_the_change(store: JobStore) -> None:
    jobs = [make_job() for _ in range(10)]
    await store.insert_jobs(jobs)
    only_created = frozenset({JobStatus.CREATED})
    cancel = [Transition(j.id, only_created, JobStatus.TERMINATED, {"terminated_code": 0}) for j in jobs]
    queue = [Transition(j.id, only_created, JobStatus.QUEUED) for j in jobs]
    cancelled, queued = await asyncio.gather(store.transition(cancel), store.transition(queue))
    assert cancelled | queued == {j.id for j in jobs}
    assert not cancelled & queued
    stored = await store.get_jobs([j.id for j in jobs])
    assert all(stored[i].status is JobStatus.TERMINATED for i in cancelled)
    assert all(stored[i].status is JobStatus.QUEUED for i in queued)


async def test_set_fields_updates_several_jobs_and_nested_fields(store: JobStore) -> None:
    a, b = make_job(), make_job()
    await store.insert_jobs([a, b])
    bigger = JobRequirements(cpus=8, memory_mb=4096, disk_gb=50, client_group="bigmem")
    await store.set_fields(
        {
            a.id: {"scheduler_id": "10.0", "scheduler_type": "condor"},
            b.id: {"scheduler_id": "10.1", "job_input.requirements": bigger.to_doc()},
            new_id(): {"scheduler_id": "10.2"},
        }
    )
    got = await store.get_jobs([a.id, b.id])
    assert (got[a.id].scheduler_id, got[a.id].scheduler_type) == ("10.0", "condor")
    assert got[b.id].scheduler_id == "10.1"
    assert got[b.id].job_input == JobInput(
        method="Mod.run", service_ver="c0ffee", wsid=7, requirements=bigger
    )


async def test_link_appends_in_order_and_repeating_it_adds_nothing(store: JobStore) -> None:
    existing = new_id()
    original = make_job(status=JobStatus.ERROR, retry_ids=(existing,))
    container = make_job(batch_job=True, job_input=None)
    attempts = [make_job(retry_parent=original.id, batch_id=container.id) for _ in range(3)]
    await store.insert_jobs([original, container, *attempts])
    new_ids = [a.id for a in attempts]
    for _ in range(2):
        await store.link({original.id: [*new_ids, existing]}, {container.id: new_ids}, new_ids)
    got = await store.get_jobs([original.id, container.id, *new_ids])
    assert got[original.id].retry_ids == (existing, *new_ids)
    assert got[container.id].child_jobs == tuple(new_ids)
    assert all(got[i].retry_saved_toggle for i in new_ids)
    assert not got[original.id].retry_saved_toggle


async def test_delete_created_removes_only_unsubmitted_created_jobs(store: JobStore) -> None:
    unsubmitted = make_job()
    submitted = make_job(scheduler_id="5.0")
    queued = make_job(status=JobStatus.QUEUED)
    await store.insert_jobs([unsubmitted, submitted, queued])
    assert await store.delete_created([unsubmitted.id, submitted.id, queued.id, new_id()]) == 1
    assert set(await store.get_jobs([unsubmitted.id, submitted.id, queued.id])) == {submitted.id, queued.id}


# ------------------------------------------------------------------ queries


@pytest.fixture
async def population(store: JobStore) -> dict[str, Job]:
    """Named jobs that each JobQuery field tells apart."""
    op = new_id()
    orig = make_job(status=JobStatus.ERROR, error_code=1, created=T0 + 1, updated=T0 + 1)
    jobs = {
        "orig": orig,
        "retry": attempt_of(orig.id, created=T0 + 2, updated=T0 + 20, operation_id=op),
        "bob": make_job(user="bob", wsid=8, created=T0 + 3, updated=T0 + 3, status=JobStatus.COMPLETED),
        "app": make_job(
            job_input=JobInput(method="Other.go", service_ver="1", app_id="Other/go"),
            wsid=None,
            created=T0 + 4,
            updated=T0 + 4,
            status=JobStatus.RUNNING,
        ),
        "batch": make_job(
            batch_job=True, job_input=None, user="carol", wsid=9, created=T0 + 5, updated=T0 + 5
        ),
    }
    jobs["child"] = make_job(user="carol", wsid=9, batch_id=jobs["batch"].id, created=T0 + 6, updated=T0 + 6)
    await store.insert_jobs(list(jobs.values()))
    return jobs


QUERIES: dict[str, tuple[dict[str, Any], list[str]]] = {
    "everything": ({}, ["orig", "retry", "bob", "app", "batch", "child"]),
    "users": ({"users": ["bob", "carol"]}, ["bob", "batch", "child"]),
    "wsids": ({"wsids": [8]}, ["bob"]),
    "users_or_wsids": ({"users": ["bob"], "wsids": [9]}, ["bob", "batch", "child"]),
    "statuses": ({"statuses": [JobStatus.ERROR, JobStatus.RUNNING]}, ["orig", "app"]),
    "method": ({"method": "Other.go"}, ["app"]),
    "app_id": ({"app_id": "Other/go"}, ["app"]),
    "error_code": ({"error_code": 1}, ["orig"]),
    "originals_only": ({"originals_only": True, "users": ["alice"]}, ["orig", "app"]),
    "exclude_batch_containers": ({"exclude_batch_containers": True, "wsids": [9]}, ["child"]),
    "created_range": ({"created_from": T0 + 2, "created_to": T0 + 4}, ["retry", "bob"]),
    "updated_before": ({"updated_before": T0 + 4}, ["orig", "bob"]),
    "limit_offset": ({"limit": 2, "offset": 1}, ["retry", "bob"]),
    "descending": ({"ascending": False, "limit": 3}, ["child", "batch", "app"]),
    "nothing_for_empty_ids": ({"ids": []}, []),
}


@pytest.mark.parametrize("case", list(QUERIES))
async def test_each_query_field_selects_its_jobs_in_created_order(
    store: JobStore, population: dict[str, Job], case: str
) -> None:
    fields, expected = QUERIES[case]
    got = await store.find_jobs(JobQuery(**fields))
    by_id = {j.id: name for name, j in population.items()}
    assert [by_id[j.id] for j in got] == expected


async def test_jobs_created_at_the_same_time_are_ordered_by_id(store: JobStore) -> None:
    jobs = [make_job() for _ in range(4)]
    await store.insert_jobs(list(reversed(jobs)))
    ids = sorted(j.id for j in jobs)
    assert [j.id for j in await store.find_jobs(JobQuery())] == ids
    assert [j.id for j in await store.find_jobs(JobQuery(ascending=False))] == ids[::-1]


async def test_queries_by_ids_batch_retry_parent_and_operation(
    store: JobStore, population: dict[str, Job]
) -> None:
    p = population
    assert [j.id for j in await store.find_jobs(JobQuery(ids=[p["bob"].id, p["app"].id, new_id()]))] == [
        p["bob"].id,
        p["app"].id,
    ]
    assert [j.id for j in await store.find_jobs(JobQuery(batch_id=p["batch"].id))] == [p["child"].id]
    assert [j.id for j in await store.find_jobs(JobQuery(retry_parent=p["orig"].id))] == [p["retry"].id]
    op = p["retry"].operation_id
    assert op is not None
    assert [j.id for j in await store.find_jobs(JobQuery(operation_ids=[op]))] == [p["retry"].id]


async def test_count_jobs_counts_matches_per_status(store: JobStore, population: dict[str, Job]) -> None:
    counts = await store.count_jobs(JobQuery(users=["alice", "carol"], limit=1))
    assert counts == {
        JobStatus.CREATED: 3,
        JobStatus.ESTIMATING: 0,
        JobStatus.QUEUED: 0,
        JobStatus.RUNNING: 1,
        JobStatus.COMPLETED: 0,
        JobStatus.ERROR: 1,
        JobStatus.TERMINATED: 0,
    }


# ------------------------------------------------------------------ operations


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
    assert await store.find_operations() == [op]


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
    stuck = make_op(idempotency_key="k", state=OperationState.SUBMITTED)
    await store.insert_operation(stuck)
    assert await store.insert_operation(make_op(idempotency_key="k", created=T0 + 10 * 86_400)) == stuck


async def test_release_idempotency_frees_the_key(store: JobStore) -> None:
    first = make_op(idempotency_key="k")
    await store.insert_operation(first)
    await store.release_idempotency(first.id)
    second = make_op(idempotency_key="k")
    assert await store.insert_operation(second) is None
    assert await store.get_operation(first.id) == first


async def test_update_operation_applies_only_from_an_expected_state(store: JobStore) -> None:
    op = make_op()
    await store.insert_operation(op)
    reserved = frozenset({OperationState.RESERVED})
    assert not await store.update_operation(op.id, reserved, {"state": OperationState.DONE})
    assert not await store.update_operation(new_id(), frozenset(OperationState), {"error": "x"})
    job_ids = [new_id(), new_id()]
    fields = {"state": OperationState.RESERVED, "job_ids": job_ids, "updated": T0 + 1, "result": {"n": 2}}
    assert await store.update_operation(op.id, frozenset({OperationState.RESERVING}), fields)
    got = await store.get_operation(op.id)
    assert got == replace(
        op, state=OperationState.RESERVED, job_ids=tuple(job_ids), updated=T0 + 1, result={"n": 2}
    )
    assert await store.find_operations(job_id=job_ids[1]) == [got]


async def test_find_operations_by_state_job_user_and_key_oldest_first(store: JobStore) -> None:
    job = new_id()
    a = make_op(created=T0 + 2, job_ids=(job,), state=OperationState.SUBMITTED, idempotency_key="k")
    b = make_op(created=T0 + 1, job_ids=(job, new_id()), user="bob")
    c = make_op(created=T0 + 3, state=OperationState.DONE)
    for op in (a, b, c):
        await store.insert_operation(op)
    await store.release_idempotency(a.id)
    states = [OperationState.RESERVING, OperationState.SUBMITTED]
    assert await store.find_operations(states=states) == [b, a]
    assert await store.find_operations(job_id=job) == [b, a]
    assert await store.find_operations(user="alice") == [a, c]
    assert await store.find_operations(user="alice", idempotency_key="k") == [a]
    assert await store.find_operations(user="bob", idempotency_key="k") == []
    assert await store.find_operations(limit=2) == [b, a]


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
