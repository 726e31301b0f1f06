"""The job store on MongoDB, through PyMongo's native async API, in ee2's collection and schema.

Each method is one round trip (one query or one bulk write). The exceptions are follow-up reads
after a write reported a conflict, and `transition`'s read of which jobs changed when the write's
counts alone cannot say. Job `_id`s are ObjectIds in the store and 24-hex strings in the domain;
a job document written by ee2 itself has no `created`, so its ObjectId's time stands in on reads.
Logs are one document per job in `ee_retry_logs` ({lines, count}); leases one per name.

How `transition` knows which jobs changed: every conditional update also pushes a fresh per-call
token onto a short capped list on the document (`TX_MARKS_FIELD`, the last `TX_MARKS_KEPT`
tokens). When the bulk write matched none or all of the (distinct) jobs, its counts are the answer;
otherwise one find of the ids carrying the token names them. Because the token is unique to the call
and stays on the document through later changes, the answer is exact under concurrency unless more
than `TX_MARKS_KEPT` further transitions of the same job land between our write and our read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from pymongo import AsyncMongoClient, ReturnDocument, UpdateMany, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from ee_retry import constants
from ee_retry.adapters.store import common, mongo_docs, mongo_states
from ee_retry.domain.model import SLOT_FIELD, Job, JobStatus, Operation, OperationState, OperationUpdate
from ee_retry.domain.values import (
    GuardedUpdate,
    IdsById,
    InsertOutcome,
    JobQuery,
    OperationQuery,
    StateWrite,
    Transition,
)
from ee_retry.errors import IdempotencyConflict, RetryInFlight

JOBS = "ee2_jobs"  # ee2's collection
OPERATIONS = "ee_retry_operations"
LOGS = "ee_retry_logs"
LEASES = "ee_retry_leases"
STATES = "ee_retry_states"

TX_MARKS_FIELD = "retry_tx_marks"  # recent transition tokens on a job document (see module docstring)
TX_MARKS_KEPT = 16  # tokens kept per job; a job sees a handful of status changes in its life

STORE_CALL_TIMEOUT_MS = int(constants.STORE_CALL_TIMEOUT_S * 1000)


class MongoJobStore:
    """JobStore over an async database object (`pymongo.AsyncMongoClient(...)[name]` or its test twin)."""

    def __init__(self, db: Any, client: Any = None) -> None:
        self._db = db
        self._client = client  # closed by close() only when this store built it
        self._jobs: Any = db[JOBS]
        self._ops: Any = db[OPERATIONS]
        self._logs: Any = db[LOGS]
        self._leases: Any = db[LEASES]
        self._states: Any = db[STATES]

    @classmethod
    def from_uri(cls, uri: str, db_name: str) -> MongoJobStore:
        """A store on its own client for `uri`; close() closes the client."""
        options = uri.lower()
        chosen: dict[str, Any] = {}
        # Every call is bounded (unless the URI sets its own), so no request outlives reconcile's grace.
        if "timeoutms=" not in options:
            chosen["timeoutMS"] = STORE_CALL_TIMEOUT_MS
        # Every write is acknowledged only once it is in the server's journal (unless the URI says
        # otherwise): a w:1 write without it can be lost when the server dies, and the lifecycle's
        # later writes (queued, DONE) may then land without the earlier ones (the scheduler id).
        if "journal=" not in options:
            chosen["journal"] = True
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            uri, appname="ee-retry", tz_aware=False, **chosen
        )
        return cls(client[db_name], client=client)

    @property
    def database(self) -> Any:
        """The database object the store writes to."""
        return self._db

    async def setup(self) -> None:
        """Create the indexes, one at a time (an equivalent plain index under another name, as an
        operator may have made by hand on ee2's collection, is accepted; the unique ones must be ours)."""
        with mongo_docs.store_errors():
            for collection, keys in (
                (self._jobs, mongo_docs.JOB_INDEXES),
                (self._ops, mongo_docs.OPERATION_INDEXES),
            ):
                for key in keys:
                    await mongo_docs.ensure_index(collection, key)
            await mongo_docs.ensure_unique(self._jobs, "retry_active")
            await mongo_docs.ensure_unique(self._ops, SLOT_FIELD)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()

    # ------------------------------------------------------------ jobs

    async def insert_jobs(self, jobs: Sequence[Job]) -> InsertOutcome:
        if not jobs:
            return common.insert_outcome(jobs, [], {})
        common.require_job_ids(j.id for j in jobs)
        failed: list[int] = []
        with mongo_docs.store_errors():
            try:
                await self._jobs.insert_many(
                    [mongo_docs.to_mongo(common.job_doc(j)) for j in jobs], ordered=False
                )
            except BulkWriteError as exc:
                failed = mongo_docs.duplicate_indexes(exc.details)
            lost = [jobs[i] for i in sorted(set(failed))]
            active = await self.active_attempts(common.guarded_originals(lost)) if lost else {}
        return common.insert_outcome(jobs, lost, active)

    async def get_jobs(self, ids: Sequence[str]) -> dict[str, Job]:
        oids = mongo_docs.oids(ids)
        if not oids:
            return {}
        with mongo_docs.store_errors():
            docs = await self._jobs.find({"_id": {"$in": oids}}).to_list(None)
        return {str(d["_id"]): mongo_docs.job(d) for d in docs}

    async def get_job_docs(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        # Through the job: a document ee2 wrote is read (ObjectIds, a missing `created`) as get_jobs reads it.
        return {job_id: job.to_doc() for job_id, job in (await self.get_jobs(ids)).items()}

    async def find_jobs(self, query: JobQuery) -> list[Job]:
        direction = 1 if query.ascending else -1
        with mongo_docs.store_errors():
            cursor = self._jobs.find(mongo_docs.job_filter(query)).sort(
                [("created", direction), ("_id", direction)]
            )
            if query.offset > 0:
                cursor = cursor.skip(query.offset)
            if query.limit > 0:
                cursor = cursor.limit(query.limit)
            docs = await cursor.to_list(None)
        return [mongo_docs.job(d) for d in docs]

    async def count_jobs(self, query: JobQuery) -> dict[JobStatus, int]:
        pipeline = [
            {"$match": mongo_docs.job_filter(query)},
            {"$group": {"_id": "$status", "n": {"$sum": 1}}},
        ]
        with mongo_docs.store_errors():
            rows = await (await self._jobs.aggregate(pipeline)).to_list(None)
        return common.status_counts((r["_id"], r["n"]) for r in rows)

    async def active_attempts(self, original_ids: Sequence[str]) -> dict[str, str]:
        if not original_ids:
            return {}
        with mongo_docs.store_errors():
            docs = await self._jobs.find(
                {"retry_active": {"$in": list(original_ids)}}, {"retry_active": 1}
            ).to_list(None)
        return {str(d["retry_active"]): str(d["_id"]) for d in docs}

    async def transition(self, changes: Sequence[Transition]) -> set[str]:
        changes = [c for c in changes if common.valid_ids([c.job_id])]
        if not changes:
            return set()
        token = os.urandom(8).hex()
        return await self._marked_writes(
            [c.job_id for c in changes], [self._transition_op(c, token) for c in changes], token
        )

    async def guarded_update(self, updates: Sequence[GuardedUpdate]) -> set[str]:
        updates = [u for u in updates if common.valid_ids([u.job_id])]
        if not updates:
            return set()
        token = os.urandom(8).hex()
        ops = []
        for u in updates:
            update = mongo_docs.update(u.fields, common.NEVER_NULL_JOB_FIELDS)
            update["$push"] = {TX_MARKS_FIELD: {"$each": [token], "$slice": -TX_MARKS_KEPT}}
            ops.append(UpdateOne({"_id": mongo_docs.oid(u.job_id), u.guard: u.expected}, update))
        return await self._marked_writes([u.job_id for u in updates], ops, token)

    async def _marked_writes(self, job_ids: Sequence[str], ops: Sequence[UpdateOne], token: str) -> set[str]:
        """Run conditional updates that each push `token`; the ids whose update applied."""
        with mongo_docs.store_errors():
            ids = set(job_ids)
            try:
                matched = (await self._jobs.bulk_write(ops, ordered=False)).matched_count
                if matched == 0:
                    return set()
                if matched == len(job_ids) == len(ids):
                    return ids
            except BulkWriteError as exc:
                mongo_docs.duplicate_indexes(
                    exc.details
                )  # a refused op did not change its job; read the rest
            docs = await self._jobs.find(
                {"_id": {"$in": mongo_docs.oids(list(ids))}, TX_MARKS_FIELD: token}, {"_id": 1}
            ).to_list(None)
        return {str(d["_id"]) for d in docs}

    @staticmethod
    def _transition_op(change: Transition, token: str) -> UpdateOne:
        update = mongo_docs.update(change.stored_fields(), common.NEVER_NULL_JOB_FIELDS)
        update["$push"] = {TX_MARKS_FIELD: {"$each": [token], "$slice": -TX_MARKS_KEPT}}
        expected = [JobStatus(s).value for s in change.expected]
        return UpdateOne({"_id": mongo_docs.oid(change.job_id), "status": {"$in": expected}}, update)

    async def set_fields(self, updates: Mapping[str, Mapping[str, Any]]) -> None:
        ops = [
            UpdateOne({"_id": mongo_docs.oid(job_id)}, update)
            for job_id, fields in updates.items()
            if common.valid_ids([job_id])
            and (update := mongo_docs.update(fields, common.NEVER_NULL_JOB_FIELDS))
        ]
        if not ops:
            return
        with mongo_docs.store_errors():
            try:
                await self._jobs.bulk_write(ops, ordered=False)
            except BulkWriteError as exc:
                if mongo_docs.duplicate_indexes(exc.details):
                    raise RetryInFlight("Another attempt of this job is already in flight.") from None

    async def link(self, retry_ids: IdsById, child_jobs: IdsById, saved: Sequence[str]) -> None:
        ops: list[UpdateOne | UpdateMany] = []
        for field, targets in (("retry_ids", retry_ids), ("child_jobs", child_jobs)):
            ops.extend(
                UpdateOne(
                    {"_id": mongo_docs.oid(owner)}, {"$addToSet": {field: {"$each": [str(i) for i in new]}}}
                )
                for owner, new in targets.items()
                if new and common.valid_ids([owner])
            )
        if saved_oids := mongo_docs.oids(saved):
            ops.append(UpdateMany({"_id": {"$in": saved_oids}}, {"$set": {"retry_saved_toggle": True}}))
        if not ops:
            return
        with mongo_docs.store_errors():
            await self._jobs.bulk_write(ops, ordered=False)

    async def remove_children(self, container_id: str, child_ids: Sequence[str]) -> list[str]:
        if not common.valid_ids([container_id]):
            return []
        with mongo_docs.store_errors():
            doc = await self._jobs.find_one_and_update(
                {"_id": mongo_docs.oid(container_id)},
                {"$pullAll": {"child_jobs": [str(c) for c in child_ids]}},
                projection={"child_jobs": 1},
                return_document=ReturnDocument.AFTER,
            )
        return [str(c) for c in (doc or {}).get("child_jobs") or []]

    async def delete_created(self, ids: Sequence[str]) -> int:
        oids = mongo_docs.oids(ids)
        if not oids:
            return 0
        with mongo_docs.store_errors():
            result = await self._jobs.delete_many(
                {"_id": {"$in": oids}, "status": JobStatus.CREATED.value, "scheduler_id": None}
            )
        return int(result.deleted_count)

    # ------------------------------------------------------------ operations

    async def insert_operation(self, op: Operation) -> Operation | None:
        doc = common.operation_doc(op)
        slot = doc.get(SLOT_FIELD)
        with mongo_docs.store_errors():
            for attempt in range(2):
                try:
                    await self._ops.insert_one(dict(doc))
                    return None
                except DuplicateKeyError:
                    pass
                if slot is None:
                    return None  # the id is taken: this very operation is already stored
                holders = await self._ops.find({"$or": [{"_id": op.id}, {SLOT_FIELD: slot}]}).to_list(None)
                if any(h["_id"] == op.id for h in holders):
                    return None
                if not holders:
                    continue  # the slot was released meanwhile
                holder = Operation.from_doc(holders[0])
                if attempt > 0 or not common.idempotency_expired(holder, op):
                    return holder
                await self._ops.update_one({"_id": holder.id, SLOT_FIELD: slot}, {"$unset": {SLOT_FIELD: ""}})
        raise IdempotencyConflict("This idempotency key is busy; try again shortly.")

    async def get_operation(self, op_id: str) -> Operation | None:
        with mongo_docs.store_errors():
            doc = await self._ops.find_one({"_id": op_id})
        return None if doc is None else Operation.from_doc(doc)

    async def update_operation(self, update: OperationUpdate) -> bool:
        selector: dict[str, Any] = {
            "_id": update.op_id,
            "state": {"$in": [OperationState(s).value for s in update.expected]},
        }
        if update.updated_was is not None:
            selector["updated"] = update.updated_was
        change = mongo_docs.update(update.fields, common.NEVER_NULL_OPERATION_FIELDS)
        with mongo_docs.store_errors():
            if not change:
                return await self._ops.find_one(selector, {"_id": 1}) is not None
            result = await self._ops.update_one(selector, change)
        return bool(result.matched_count)

    async def find_operations(self, query: OperationQuery) -> list[Operation]:
        selector = mongo_docs.operation_filter(common.operation_terms(query))
        with mongo_docs.store_errors():
            cursor = self._ops.find(selector).sort([("created", 1), ("_id", 1)])
            if query.limit > 0:
                cursor = cursor.limit(query.limit)
            docs = await cursor.to_list(None)
        return [Operation.from_doc(d) for d in docs]

    # ------------------------------------------------------------ logs

    async def add_logs(self, job_id: str, lines: Sequence[Mapping[str, Any]]) -> int:
        with mongo_docs.store_errors():
            if not lines:
                doc = await self._logs.find_one({"_id": job_id}, {"count": 1})
                return 0 if doc is None else int(doc["count"])
            update = {
                "$push": {"lines": {"$each": [common.clean(line) for line in lines]}},
                "$inc": {"count": len(lines)},
            }
            try:
                return await self._append_logs(job_id, update)
            except DuplicateKeyError:
                return await self._append_logs(job_id, update)  # two first writes raced; it exists now

    async def _append_logs(self, job_id: str, update: Mapping[str, Any]) -> int:
        doc = await self._logs.find_one_and_update(
            {"_id": job_id},
            update,
            projection={"count": 1},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return int(doc["count"])

    async def add_logs_many(self, lines: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
        ops = [
            UpdateOne(
                {"_id": job_id},
                {
                    "$push": {"lines": {"$each": [common.clean(x) for x in rows]}},
                    "$inc": {"count": len(rows)},
                },
                upsert=True,
            )
            for job_id, rows in lines.items()
            if rows
        ]
        if ops:
            with mongo_docs.store_errors():
                await self._logs.bulk_write(ops, ordered=False)

    async def get_states(self, prefix: str) -> dict[str, dict[str, Any]]:
        return await mongo_states.get_states(self._states, prefix)

    async def put_states(self, docs: Mapping[str, Mapping[str, Any]]) -> None:
        await mongo_states.put_states(self._states, docs)

    async def put_states_if(self, writes: Sequence[StateWrite]) -> dict[str, str]:
        return await mongo_states.put_states_if(self._states, writes)

    async def get_logs(self, job_id: str, skip: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        skip = max(skip, 0)
        projection: dict[str, Any] = (
            {"count": 1, "lines": {"$slice": [skip, limit]}} if limit > 0 else {"count": 1}
        )
        with mongo_docs.store_errors():
            doc = await self._logs.find_one({"_id": job_id}, projection)
        if doc is None:
            return [], 0
        return [dict(line) for line in doc.get("lines") or ()], int(doc["count"])

    # ------------------------------------------------------------ leases

    async def acquire_lease(self, name: str, holder: str, ttl_s: float, now: float) -> bool:
        selector = {"_id": name, "$or": [{"holder": holder}, {"expires": {"$lte": now}}]}
        with mongo_docs.store_errors():
            try:
                await self._leases.update_one(
                    selector, {"$set": {"holder": holder, "expires": now + ttl_s}}, upsert=True
                )
            except DuplicateKeyError:
                return False  # someone else holds an unexpired lease
        return True

    async def release_lease(self, name: str, holder: str) -> None:
        with mongo_docs.store_errors():
            await self._leases.delete_one({"_id": name, "holder": holder})
