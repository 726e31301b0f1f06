"""The documents, filters and index and error handling of the job store on MongoDB."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from bson import ObjectId
from pymongo.errors import OperationFailure, PyMongoError

from ee_retry.adapters.store import common
from ee_retry.domain.model import Job
from ee_retry.domain.values import JobQuery
from ee_retry.errors import StoreUnavailable

DUPLICATE_KEY = 11000  # MongoDB's error code for a unique index violation
_STRING = {"$type": "string"}
_INDEX_OPTIONS_CONFLICT = 85  # an index on the same keys exists under another name


@contextmanager
def store_errors() -> Iterator[None]:
    """Report any driver failure as StoreUnavailable (the driver's text stays in the chained cause)."""
    try:
        yield
    except PyMongoError as exc:
        raise StoreUnavailable(f"The job store failed ({type(exc).__name__}); try again shortly.") from exc


async def ensure_unique(collection: Any, field: str) -> None:
    """A unique index that only covers documents where the field is a string (null never collides)."""
    await collection.create_index(field, unique=True, partialFilterExpression={field: _STRING})


async def ensure_index(collection: Any, key: str | list[tuple[str, int]]) -> None:
    """A plain index; an equivalent one under another name is accepted."""
    try:
        await collection.create_index(key)
    except OperationFailure as exc:
        if exc.code != _INDEX_OPTIONS_CONFLICT:
            raise


# Indexes `setup` ensures on the jobs and operations collections (a field, or a compound key).
JOB_INDEXES: tuple[str | list[tuple[str, int]], ...] = (
    "status",
    "user",
    "wsid",
    "batch_id",
    "retry_parent",
    "operation_id",
    "scheduler_id",  # handle_held_job finds a job by its scheduler cluster id
    "created",
    "updated",
    "auto_next_at",
)
OPERATION_INDEXES: tuple[str | list[tuple[str, int]], ...] = (
    "state",
    "job_ids",
    [("user", 1), ("idempotency_key", 1)],  # also serves queries by user alone
    "created",
)


def oid(job_id: str) -> ObjectId:
    return ObjectId(job_id)


def oids(ids: Sequence[str]) -> list[ObjectId]:
    return [oid(i) for i in common.valid_ids(ids)]


def to_mongo(doc: dict[str, Any]) -> dict[str, Any]:
    out = dict(doc)
    out["_id"] = oid(doc["_id"])
    return out


def job(doc: dict[str, Any]) -> Job:
    """A job from its document; one written by ee2 has no `created`, so it is its ObjectId's time."""
    if doc.get("created") is None and isinstance(doc["_id"], ObjectId):
        doc["created"] = doc["_id"].generation_time.timestamp()
    return Job.from_doc(doc)


def duplicate_indexes(details: Mapping[str, Any]) -> list[int]:
    """Indexes of the ops a bulk write refused for a unique index; any other failure is raised."""
    errors = details.get("writeErrors") or []
    if details.get("writeConcernErrors") or any(e.get("code") != DUPLICATE_KEY for e in errors):
        raise StoreUnavailable("The job store refused a write; try again shortly.")
    return [int(e["index"]) for e in errors]


def update(fields: Mapping[str, Any], never_null: frozenset[str]) -> dict[str, Any]:
    to_set, to_unset = common.split_fields(fields, never_null)
    update: dict[str, Any] = {}
    if to_set:
        update["$set"] = to_set
    if to_unset:
        update["$unset"] = dict.fromkeys(to_unset, "")
    return update


def _render(term: common.Term) -> dict[str, Any]:
    if term.op == "has":  # a list field holding the value
        return {term.field: term.value}
    if term.op == "prefix":
        return {term.field: {"$regex": f"^{re.escape(term.value)}"}}
    value = [oid(i) for i in term.value] if term.field == "_id" else term.value
    if term.op == "cluster":  # digits only, so the pattern matches exactly "<cluster>.<proc>"
        return {"$or": [{term.field: value}, {term.field: {"$regex": f"^{value}\\."}}]}
    condition: Any = {
        "in": {"$in": value},
        "eq": value,
        "ne": {"$ne": value},
        "lt": {"$lt": value},
        "lte": {"$lte": value},
        "gt": {"$gt": value},
        "gte": {"$gte": value},
        "is_null": None,
        "not_true": {"$ne": True},
    }[term.op]
    if term.alt is not None:
        return {"$or": [{term.field: condition}, _render(term.alt)]}
    if term.field == "created" and term.op in ("lt", "gte"):
        return {"$or": [{"created": condition}, _legacy_created(term.op, term.value)]}
    return {term.field: condition}


_OID_SECONDS = 2**32  # an ObjectId holds its creation second in 4 bytes


def _legacy_created(op: str, when: float) -> dict[str, Any]:
    """A time bound on a job written by ee2, which has no `created`: its ObjectId holds the second it
    was made, which is what such a job reports as `created`. A job made in second s is before `when`
    exactly when s < ceil(when), so both bounds compare against the ObjectId of ceil(when)."""
    second = math.ceil(when)
    legacy: dict[str, Any] = {"created": {"$exists": False}}
    if second <= 0 or second >= _OID_SECONDS:  # every legacy job is on one side of the bound
        everything = (second <= 0) == (op == "gte")
        return legacy if everything else {"_id": {"$in": []}}
    bound = ObjectId(second.to_bytes(4, "big") + bytes(8))
    return {**legacy, "_id": {"$lt" if op == "lt" else "$gte": bound}}


def job_filter(query: JobQuery) -> dict[str, Any]:
    """The MongoDB filter for a JobQuery."""
    return _filter(common.query_terms(query))


def operation_filter(terms: Sequence[common.Term]) -> dict[str, Any]:
    """The MongoDB filter for find_operations' terms."""
    return _filter(terms)


def _filter(terms: Sequence[common.Term]) -> dict[str, Any]:
    clauses = [_render(t) for t in terms]
    if not clauses:
        return {}
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}
