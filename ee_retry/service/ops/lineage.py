"""A job's lineage: the original and every attempt, with the operation (audit record) of each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ee_retry.domain.access import Access
from ee_retry.domain.model import Job, Operation
from ee_retry.domain.values import JobQuery, User
from ee_retry.service.access import load_one
from ee_retry.service.deps import Deps


@dataclass(frozen=True)
class LineageEntry:
    """One member of a lineage: the job, its attempt number (0 = the original), and the operation
    that created it (the audit record of who asked, when, and how), if it is still stored."""

    job: Job
    attempt: int
    operation: Operation | None


@dataclass(frozen=True)
class Lineage:
    original_id: str
    entries: list[LineageEntry]


async def job_lineage(deps: Deps, user: User, job_id: object, as_admin: bool) -> Lineage:
    """The original and every attempt in order, whichever member is named (read access to it needed)."""
    named = await load_one(deps, user, job_id, Access.READ, as_admin)
    original_id = named.original_id
    original = (
        named if named.id == original_id else (await deps.store.get_jobs([original_id])).get(original_id)
    )
    attempts = await deps.store.find_jobs(JobQuery(retry_parent=original_id))
    members = ([original] if original is not None else []) + _ordered(original, attempts)
    ops = await _operations(deps, [m.operation_id for m in members if m.operation_id])
    first = 0 if original is not None else 1
    entries = [
        LineageEntry(job, number, ops.get(job.operation_id or ""))
        for number, job in enumerate(members, start=first)
    ]
    return Lineage(original_id, entries)


def _ordered(original: Job | None, attempts: Sequence[Job]) -> list[Job]:
    """Attempts in retry_ids order; any not linked yet (in flight, or left by a crash) after them."""
    linked = list(original.retry_ids) if original is not None else []
    rank = {job_id: i for i, job_id in enumerate(linked)}
    return sorted(attempts, key=lambda j: (rank.get(j.id, len(rank)), j.created, j.id))


async def _operations(deps: Deps, op_ids: Sequence[str]) -> dict[str, Operation]:
    """The operations by id; one read each, bounded by the lineage's length."""
    found: dict[str, Operation] = {}
    for op_id in dict.fromkeys(op_ids):
        op = await deps.store.get_operation(op_id)
        if op is not None:
            found[op_id] = op
    return found
