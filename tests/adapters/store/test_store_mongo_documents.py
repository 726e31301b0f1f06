"""MongoJobStore writes ee2's document layout, reads ee2's own jobs and makes one round trip a call."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bson import ObjectId

from ee_retry import constants
from ee_retry.adapters.store.mongo import MongoJobStore
from ee_retry.domain.model import JobStatus
from ee_retry.domain.values import JobQuery, Transition
from ee_retry.rpc.views import job_state
from ee_retry.testing.mongo import AsyncMongomockClient
from tests.adapters.store.conftest import full_job
from tests.builders import T0, make_job, make_op


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


async def test_a_job_written_by_ee2_shows_the_fields_only_ee2_writes(mongo_store: MongoJobStore) -> None:
    oid = ObjectId()
    ads = {"RemoteUserCpu": 12.5, "ExitCode": 0}
    legacy = {
        "_id": oid,
        "user": "alice",
        "status": "completed",
        "updated": T0,
        "condor_job_ads": ads,
        "scheduler_estimator_id": "est-1",
        "msg": "done",
        "job_input": {"method": "Mod.run", "service_ver": "c0ffee", "params": []},
    }
    await mongo_store.database["ee2_jobs"].insert_one(legacy)

    job = (await mongo_store.get_jobs([str(oid)]))[str(oid)]
    state = job_state(job)

    assert (state["condor_job_ads"], state["scheduler_estimator_id"], state["msg"]) == (ads, "est-1", "done")
    assert "condor_job_ads" not in job_state(job, ["condor_job_ads"])
    assert "condor_job_ads" not in job_state(make_job())


async def test_time_bounds_select_jobs_written_by_ee2_by_their_id_time(mongo_store: MongoJobStore) -> None:
    """ee2 never stored `created`; the reaper's age rules and date filters must still see its jobs."""
    twenty_days_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=20)
    oid = ObjectId.from_datetime(twenty_days_ago)
    legacy = {"_id": oid, "user": "alice", "status": "queued", "updated": twenty_days_ago.timestamp()}
    await mongo_store.database["ee2_jobs"].insert_one(legacy)
    fresh = make_job(status=JobStatus.QUEUED, created=dt.datetime.now(dt.UTC).timestamp())
    await mongo_store.insert_jobs([fresh])
    fourteen_days_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(days=14)).timestamp()

    older = await mongo_store.find_jobs(JobQuery(created_to=fourteen_days_ago))
    newer = await mongo_store.find_jobs(JobQuery(created_from=fourteen_days_ago))
    counts = await mongo_store.count_jobs(JobQuery(created_from=twenty_days_ago.timestamp() - 60))

    assert [j.id for j in older] == [str(oid)]
    assert [j.id for j in newer] == [fresh.id]
    assert counts[JobStatus.QUEUED] == 2


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


async def test_a_sub_second_or_far_off_bound_treats_ee2_jobs_like_their_reported_created(
    mongo_store: MongoJobStore,
) -> None:
    """An ee2 job reports its ObjectId's whole second as `created`; bounds must agree with that."""
    second = int(dt.datetime(2026, 1, 2, tzinfo=dt.UTC).timestamp())
    oid = ObjectId(second.to_bytes(4, "big") + bytes.fromhex("0102030405060708"))
    await mongo_store.database["ee2_jobs"].insert_one({"_id": oid, "user": "alice", "status": "error"})

    async def found(**bounds: Any) -> bool:
        return [j.id for j in await mongo_store.find_jobs(JobQuery(**bounds))] == [str(oid)]

    assert await found(created_to=second + 0.5)
    assert not await found(created_to=second)
    assert await found(created_from=second)
    assert not await found(created_from=second + 0.5)
    assert await found(created_from=-1e10, created_to=1e11)  # far bounds: no overflow, everything
    assert not await found(created_from=5e9)


def test_every_mongo_call_is_bounded_unless_the_uri_sets_its_own_timeout() -> None:
    """A hung server fails a call (StoreUnavailable) instead of holding a request past reconcile's grace;
    the clients connect lazily, so no server is needed to check this."""
    bounded = MongoJobStore.from_uri("mongodb://db.invalid:27017/", "ee2")
    chosen = MongoJobStore.from_uri("mongodb://db.invalid:27017/?timeoutMS=5000", "ee2")
    assert bounded.database.client.options.timeout == constants.STORE_CALL_TIMEOUT_S
    assert chosen.database.client.options.timeout == 5.0
    assert constants.STORE_CALL_TIMEOUT_S < constants.SUBMIT_GRACE_S
