"""Rules both job stores share: what a stored document looks like, and how stored fields are written.

The MongoDB and SQLite stores keep the same documents (ee2's schema plus ee-retry's own fields), so
these helpers decide once how a domain value becomes a stored value, which fields are never stored as
null (their unique indexes must not see a null), and when an idempotency slot has expired.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from ee_retry import constants
from ee_retry.domain.ids import is_job_id
from ee_retry.domain.model import SLOT_FIELD, Job, JobStatus, Operation, OperationState
from ee_retry.domain.values import STATE_REV, Comparison, InsertOutcome, JobQuery, OperationQuery
from ee_retry.errors import InvalidJobId

# Fields under a unique index: absent when unset, never null, so a null can never collide.
NEVER_NULL_JOB_FIELDS = frozenset({"retry_active", "auto_next_at"})
NEVER_NULL_OPERATION_FIELDS = frozenset({SLOT_FIELD})


def clean(value: Any) -> Any:
    """A value as it is stored: enums by value, mappings as dicts, sequences and sets as lists."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(clean(v) for v in value)
    to_doc = getattr(value, "to_doc", None)
    if callable(to_doc):
        return clean(to_doc())
    return value


def state_doc(doc: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """A state document as stored (with a new revision), and that revision."""
    rev = os.urandom(8).hex()
    return {**clean(doc), STATE_REV: rev}, rev


def require_job_ids(ids: Iterable[str]) -> None:
    """Refuse to store a job whose id is not 24 lowercase hex characters (an ObjectId's string)."""
    for job_id in ids:
        if not is_job_id(job_id):
            raise InvalidJobId()


def valid_ids(ids: Iterable[str]) -> list[str]:
    """The ids that could name a stored job; any other id names nothing, so it is dropped."""
    return [i for i in ids if is_job_id(i)]


def job_doc(job: Job) -> dict[str, Any]:
    """The stored document of a job (with `_id` as the id string)."""
    return _without_nulls(job.to_doc(), NEVER_NULL_JOB_FIELDS)


def guarded_originals(jobs: Iterable[Job]) -> list[str]:
    """The originals whose in-flight guard these jobs claim."""
    return [j.retry_active for j in jobs if j.retry_active]


def insert_outcome(jobs: Sequence[Job], lost: Sequence[Job], active: Mapping[str, str]) -> InsertOutcome:
    """What a bulk insert did: `lost` jobs were refused (their id or guard was taken); each is mapped
    to the attempt now holding its original's guard (itself, if it was already stored), or None."""
    lost_ids = {j.id for j in lost}
    return InsertOutcome(
        inserted=frozenset(j.id for j in jobs if j.id not in lost_ids),
        conflicts={j.id: active.get(j.retry_active) if j.retry_active else None for j in lost},
    )


def operation_doc(op: Operation) -> dict[str, Any]:
    """The stored document of an operation, without a null `idem`."""
    return _without_nulls(op.to_doc(), NEVER_NULL_OPERATION_FIELDS)


def _without_nulls(doc: Mapping[str, Any], never_null: frozenset[str]) -> dict[str, Any]:
    """`doc` as stored: cleaned, and without the never-null fields whose value is None."""
    stored: dict[str, Any] = clean(doc)
    for name in never_null:
        if stored.get(name) is None:
            stored.pop(name, None)
    return stored


def split_fields(fields: Mapping[str, Any], never_null: frozenset[str]) -> tuple[dict[str, Any], list[str]]:
    """Stored fields to set and to remove: a None for a never-null field removes it."""
    to_set: dict[str, Any] = {}
    to_unset: list[str] = []
    for name, value in fields.items():
        if name == "_id":
            continue
        if value is None and name in never_null:
            to_unset.append(name)
        else:
            to_set[name] = clean(value)
    return to_set, to_unset


def apply_fields(doc: dict[str, Any], fields: Mapping[str, Any], never_null: frozenset[str]) -> None:
    """Apply stored-field updates (dotted names reach into sub-documents) to a document in place."""
    to_set, to_unset = split_fields(fields, never_null)
    for name, value in to_set.items():
        _set_path(doc, name, value)
    for name in to_unset:
        doc.pop(name, None)


def get_path(doc: Mapping[str, Any], dotted: str) -> Any:
    """The value at `a.b.c` in a document, or None when any part is missing."""
    node: Any = doc
    for part in dotted.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def dumps(value: Any) -> str:
    """Compact JSON of a stored document or value."""
    return json.dumps(value, separators=(",", ":"))


def _set_path(doc: dict[str, Any], dotted: str, value: Any) -> None:
    """Set `a.b.c` in a document, creating (or replacing non-dict) parents as MongoDB's $set does."""
    *parents, leaf = dotted.split(".")
    node = doc
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[leaf] = value


def append_unique(existing: Sequence[str], new: Iterable[str]) -> list[str]:
    """$addToSet with $each: existing items first, then new ones not yet present, in their order."""
    out = list(existing)
    seen = set(out)
    for item in new:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def idempotency_expired(holder: Operation, op: Operation) -> bool:
    """True when `holder` no longer keeps its idempotency slot from `op`: finished, and last
    touched more than IDEMPOTENCY_TTL_S before `op` was created."""
    return holder.state.finished and holder.updated < op.created - constants.IDEMPOTENCY_TTL_S


def lease_is_takeable(current_holder: str | None, expires: float | None, holder: str, now: float) -> bool:
    """A lease can be taken when nobody holds it, it has expired, or `holder` already holds it."""
    return current_holder is None or current_holder == holder or (expires is not None and expires <= now)


def status_counts(pairs: Iterable[tuple[str, int]]) -> dict[JobStatus, int]:
    """Counts per status, with every status present (zero when no job matched)."""
    counts = dict.fromkeys(JobStatus, 0)
    for status, n in pairs:
        counts[JobStatus(status)] += int(n)
    return counts


@dataclass(frozen=True)
class Term:
    """One condition of a job or operation query on a stored field, for a store to render in its
    own language.

    `op` is "in" (value: a list), "has" (a list field holds the value), "eq", "ne" (also matches
    missing or null), "prefix" (a string starting with the value), "lt", "lte", "gt", "gte",
    "is_null" (missing or null), "not_true", or "cluster" (value: a cluster id of digits only;
    matches the scheduler id equal to it or starting with it and a dot); `alt`, when set, is OR-ed
    with this term.
    """

    field: str  # stored name; "_id" for the job id, dotted for sub-documents
    op: str
    value: Any = None
    alt: Term | None = None


def operation_terms(query: OperationQuery) -> list[Term]:
    """An OperationQuery as AND-ed terms, rendered by each store as its job queries are."""
    terms: list[Term] = []
    if query.states is not None:
        terms.append(Term("state", "in", [OperationState(s).value for s in query.states]))
    if query.job_id is not None:
        terms.append(Term("job_ids", "has", query.job_id))
    equal = {"user": query.user, "idempotency_key": query.idempotency_key}
    terms.extend(Term(name, "eq", value) for name, value in equal.items() if value is not None)
    return terms


def query_terms(query: JobQuery) -> list[Term]:
    """A JobQuery as AND-ed terms: owners OR workspaces when both are given, everything else AND-ed."""
    terms: list[Term] = []
    if query.ids is not None:
        terms.append(Term("_id", "in", valid_ids(query.ids)))
    owners = Term("user", "in", list(query.users)) if query.users is not None else None
    spaces = Term("wsid", "in", list(query.wsids)) if query.wsids is not None else None
    if owners is not None and spaces is not None:
        terms.append(Term(owners.field, owners.op, owners.value, alt=spaces))
    elif (either := owners or spaces) is not None:
        terms.append(either)
    if query.statuses is not None:
        terms.append(Term("status", "in", [JobStatus(s).value for s in query.statuses]))
    equal = {
        "job_input.method": query.method,
        "job_input.app_id": query.app_id,
        "wsid": query.wsid,
        "batch_id": query.batch_id,
        "error_code": query.error_code,
        "retry_parent": query.retry_parent,
    }
    terms.extend(Term(name, "eq", value) for name, value in equal.items() if value is not None)
    if query.module is not None:
        terms.append(Term("job_input.method", "prefix", f"{query.module}."))
    if query.originals_only:
        terms.append(Term("retry_parent", "is_null"))
    if query.exclude_batch_containers:
        terms.append(Term("batch_job", "not_true"))
    bounds = (
        ("created", "gte", query.created_from),
        ("created", "lt", query.created_to),
        ("updated", "lt", query.updated_before),
        ("updated", "gte", query.updated_from),
        ("auto_next_at", "lt", query.auto_due_before),
    )
    terms.extend(Term(name, op, value) for name, op, value in bounds if value is not None)
    if query.operation_ids is not None:
        terms.append(Term("operation_id", "in", list(query.operation_ids)))
    if query.scheduler_cluster is not None:
        if not query.scheduler_cluster.isdigit():
            raise ValueError("a scheduler cluster id is digits only")
        terms.append(Term("scheduler_id", "cluster", query.scheduler_cluster))
    terms.extend(
        Term(c.field, c.op.value, list(c.value) if c.op is Comparison.IN else c.value)
        for c in query.conditions
    )
    return terms
