"""The submission lifecycle every request that creates jobs goes through (run, batch, retry).

An operation record carries the request through these states; every write to an incomplete one is
a compare-and-set of its state and `updated` time, so at most one writer moves it at a time:

    from        to           who                  when
    (none)      RESERVING    request (reserve)    first write; its `updated` starts the grace period
    RESERVING   RESERVED     request (reserve)    its jobs are inserted (refused once reconcile moved it)
    RESERVING   ROLLED_BACK  reconcile            older than the grace period: nobody was answered
    RESERVED    RESERVED     request or reconcile `claim`: a new `updated`; its writer owns the operation
    RESERVED    DONE         owner (advance)      submitted held, ids recorded, linked, released, queued
    RESERVED    ROLLED_BACK  owner (roll_back)    no proc ever released, and the request failed for
                                                  good or the scheduler lacks jobs needing the token

A request owns its operation until its fence (right after its one scheduler submit) fails; from then on
reconcile finishes it or rolls it back (`OperationTakenOver`). Once the submit has answered, every later
step is idempotent and nothing is under way after the request ends, so when the store fails the request
(or its fence finds the operation moved, as a retried write whose first answer was lost does) its
instance finishes the operation as soon as the store answers (`reconcile_abandoned`: at once, then
backing off while it fails, leaving it to reconcile after the grace) instead of after the grace period.
`advance` is also what reconcile runs: it asks the scheduler what it already holds, submits only what
is missing, and every later step is idempotent. A rollback removes held procs, deletes the `created`
jobs (nothing else deletes jobs, so an operation with a job missing is an interrupted rollback, which
reconcile completes), and frees the idempotency key in its final write.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ee_retry import constants
from ee_retry.domain.model import SLOT_FIELD, Job, JobStatus, Operation, OperationState, OperationUpdate
from ee_retry.domain.values import ProcState, SchedulerProc, SubmitSpec, Transition
from ee_retry.errors import (
    DependencyUnavailable,
    EERetryError,
    InvalidParams,
    OperationTakenOver,
    SchedulerUnavailable,
    StoreUnavailable,
    UnknownModule,
)
from ee_retry.service.deps import Deps

log = logging.getLogger(__name__)

SpecsFor = Callable[[Sequence[Job]], Awaitable[dict[str, SubmitSpec]]]


@dataclass(frozen=True)
class Reservation:
    """What reserve wrote: the operation, the jobs inserted, and the attempts the guard refused."""

    op: Operation
    jobs: list[Job]
    conflicts: Mapping[str, str | None]  # refused new job id -> attempt already in flight


# Failures after which the reservation is kept for reconcile: the call may yet succeed, or already has.
TRANSIENT: tuple[type[EERetryError], ...] = (SchedulerUnavailable, StoreUnavailable, DependencyUnavailable)
# Failures that no later attempt can pass as the request stands: the request is rolled back.
PERMANENT: tuple[type[EERetryError], ...] = (InvalidParams, UnknownModule)
INCOMPLETE = frozenset({OperationState.RESERVING, OperationState.RESERVED})

AnswerFor = Callable[[Mapping[str, str | None]], Any]


async def reserve(
    deps: Deps, op: Operation, jobs: Sequence[Job], answer: Any = None, answer_for: AnswerFor | None = None
) -> Reservation:
    """Record the operation, insert its jobs, and mark it RESERVED (three writes, whatever N).

    The answer stored for replay is `answer`, or `answer_for(conflicts)` when it depends on which
    attempts the in-flight guard refused.
    """
    op = replace(op, updated=deps.clock.now())  # reconcile's grace period counts from this write
    holder = await deps.store.insert_operation(op)
    if holder is not None:  # the (user, idempotency key) slot is taken: nothing is written
        return Reservation(holder, [], {})
    outcome = await deps.store.insert_jobs(jobs)
    if answer_for is not None:
        answer = answer_for(outcome.conflicts)
    kept = [j for j in jobs if j.id in outcome.inserted]
    now = deps.clock.now()
    fields: dict[str, Any] = {
        "state": OperationState.RESERVED.value,
        "job_ids": [j.id for j in kept],
        "updated": now,
    }
    if answer is not None:
        fields["result"] = answer
    reserving = frozenset({OperationState.RESERVING})
    if not await deps.store.update_operation(OperationUpdate(op.id, reserving, fields, op.updated)):
        # reconcile rolled the request back while it was recording its jobs (it took too long)
        await deps.store.delete_created([j.id for j in kept])
        raise OperationTakenOver(
            f"Recording the request took longer than {constants.SUBMIT_GRACE_S:g} s, so reconcile "
            f"rolled it back (operation {op.id}); nothing of it remains: send it again"
        )
    reserved = replace(
        op, state=OperationState.RESERVED, job_ids=tuple(fields["job_ids"]), result=answer, updated=now
    )
    return Reservation(reserved, kept, outcome.conflicts)


async def submit_reserved(deps: Deps, reservation: Reservation, specs_for: SpecsFor) -> None:
    """`advance` a reservation just made; a failure that cannot pass rolls it back before it is raised."""
    try:
        await advance(deps, reservation.op, reservation.jobs, specs_for, by_request=True)
    except PERMANENT as exc:
        owned_at = await claim(deps, reservation.op)  # the request's fence
        if owned_at is not None:  # else reconcile owns the operation now
            await roll_back(deps, reservation.op, exc.message, owned_at=owned_at)
        raise


async def roll_back(
    deps: Deps,
    op: Operation,
    reason: str,
    procs: Sequence[SchedulerProc] | None = None,
    owned_at: float | None = None,
) -> bool:
    """Abandon an operation none of whose procs was released (see the module docstring); False, and
    nothing done, if one was. `procs`: what the scheduler holds for it, when already known;
    `owned_at`: the `updated` time of the caller's claim or fence, which the final write expects."""
    known = await deps.scheduler.procs_for_operation(op.id) if procs is None else procs
    live = [p for p in known if p.state is not ProcState.REMOVED]
    if any(not (p.state is ProcState.HELD and p.held_by_us) for p in live):
        log.warning("operation %s not rolled back: a proc of it was released (%s)", op.id, reason)
        return False
    if live:
        ids = [p.scheduler_id for p in live]
        await deps.scheduler.remove(ids, f"ee-retry rolled back the submission: {reason}")
    await deps.store.delete_created(op.job_ids)
    fields = {"state": OperationState.ROLLED_BACK.value, "updated": deps.clock.now(), "error": reason}
    if not await deps.store.update_operation(
        OperationUpdate(op.id, INCOMPLETE, {**fields, SLOT_FIELD: None}, updated_was=owned_at)
    ):
        log.warning("operation %s: another writer moved it during its rollback (%s)", op.id, reason)
        return False
    log.warning("operation %s rolled back: %s", op.id, reason)
    return True


async def advance(
    deps: Deps, op: Operation, jobs: Sequence[Job], specs_for: SpecsFor, by_request: bool
) -> None:
    """Take a RESERVED operation to DONE. `by_request`: the request that reserved it advances it, so
    nothing was submitted yet (no lookup) and it fences the operation after its submit."""
    runnable = [j for j in jobs if not j.batch_job and j.status is JobStatus.CREATED]
    procs = {} if by_request else await _existing(deps, op.id, jobs)
    missing = [j for j in runnable if j.id not in procs]
    if missing:
        procs.update(await _submit(deps, op, missing, await specs_for(missing)))
    try:
        await _complete(deps, op, jobs, procs, by_request)
    except (StoreUnavailable, OperationTakenOver):
        if by_request:  # every proc is known: nothing is under way, so no grace period is needed
            deps.abandoned.add(op.id)
        raise


async def _complete(
    deps: Deps, op: Operation, jobs: Sequence[Job], procs: Mapping[str, SchedulerProc], by_request: bool
) -> None:
    """The steps after the submit: fence, record the proc ids, link, release, queue, DONE."""
    if by_request and await claim(deps, op) is None:  # the request's fence: reconcile took over
        raise OperationTakenOver(
            f"The submission of operation {op.id} took longer than {constants.SUBMIT_GRACE_S:g} s and "
            "reconcile took it over; it finishes or rolls the request back. Check the job ids, or "
            "repeat the call with the same idempotency_key to see the outcome."
        )
    await _record(deps, jobs, procs)
    await link_jobs(deps, jobs)
    status = {j.id: j.status for j in jobs}
    ours = [p for p in procs.values() if p.state is ProcState.HELD and p.held_by_us]
    # A job cancelled before its proc id was recorded (cancel could not name the proc): remove it.
    dropped = [p.scheduler_id for p in ours if status.get(p.job_id) is not JobStatus.CREATED]
    if dropped:
        await deps.scheduler.remove(dropped, "its job was cancelled before it was released")
    held = [p.scheduler_id for p in ours if status.get(p.job_id) is JobStatus.CREATED]
    if held:
        await deps.scheduler.release(held)
    now = deps.clock.now()
    queued = [
        Transition(j.id, frozenset({JobStatus.CREATED}), JobStatus.QUEUED, {"queued": now, "updated": now})
        for j in jobs
    ]
    await deps.store.transition(queued)
    done = await deps.store.update_operation(
        OperationUpdate(
            op.id,
            frozenset({OperationState.RESERVED}),
            {"state": OperationState.DONE.value, "updated": now, "error": None},
        )
    )
    if not done:  # another writer finished or rolled it back while this one was slower than the grace
        raise OperationTakenOver(
            f"Operation {op.id} was finished or rolled back by reconcile while this request was still "
            "working on it; check the job ids, or repeat the call with the same idempotency_key"
        )


async def claim(deps: Deps, op: Operation) -> float | None:
    """Take an incomplete operation as it was read: its `updated` time moves only if no one else moved
    it since. Returns the new time, or None if another writer got there first."""
    now = deps.clock.now()
    taken = await deps.store.update_operation(
        OperationUpdate(op.id, frozenset({op.state}), {"updated": now}, updated_was=op.updated)
    )
    return now if taken else None


async def _submit(
    deps: Deps, op: Operation, missing: Sequence[Job], specs: Mapping[str, SubmitSpec]
) -> dict[str, SchedulerProc]:
    """One scheduler transaction for every missing job; on a lost answer, look before failing."""
    ordered = [specs[j.id] for j in missing]
    started = time.perf_counter()
    try:
        ids = await deps.scheduler.submit(op.id, ordered, hold=True)
    except SchedulerUnavailable as exc:
        deps.metrics.submit_failures.inc()
        found = _by_job(await _lookup(deps, op.id), missing)
        if all(j.id in found for j in missing):
            return found
        await deps.store.update_operation(
            OperationUpdate(
                op.id,
                frozenset({OperationState.RESERVED}),
                {"error": exc.message, "updated": deps.clock.now()},
                updated_was=op.updated,
            )
        )
        raise SchedulerUnavailable(f"{exc.message} {_kept_for_reconcile(deps, op)}") from exc
    finally:
        deps.metrics.submit_latency.observe(time.perf_counter() - started)
    return {
        job_id: SchedulerProc(job_id, op.id, sid, ProcState.HELD, held_by_us=True)
        for job_id, sid in ids.items()
    }


def _kept_for_reconcile(deps: Deps, op: Operation) -> str:
    """What happens next to a request whose submission got no answer, for the caller's error."""
    if deps.scheduler.runs_with_owner_token:
        return (
            f"The request is recorded as operation {op.id}: the next reconcile pass finishes it if the "
            "scheduler did receive it, and otherwise rolls it back so that it can be sent again."
        )
    return (
        f"Nothing is lost: the request is recorded as operation {op.id}, and the next reconcile "
        "pass submits it."
    )


async def _lookup(deps: Deps, op_id: str) -> list[SchedulerProc]:
    try:
        return await deps.scheduler.procs_for_operation(op_id)
    except SchedulerUnavailable:
        return []


def _by_job(procs: Sequence[SchedulerProc], jobs: Sequence[Job]) -> dict[str, SchedulerProc]:
    """One proc per job: the recorded one if any, else the lowest scheduler id; extras are duplicates."""
    recorded = {j.id: j.scheduler_id for j in jobs}
    chosen: dict[str, SchedulerProc] = {}
    alive = [p for p in procs if p.state is not ProcState.REMOVED]  # a removed proc carries nothing
    for proc in sorted(alive, key=lambda p: _sid_key(p.scheduler_id)):
        current = chosen.get(proc.job_id)
        if current is None or proc.scheduler_id == recorded.get(proc.job_id):
            chosen[proc.job_id] = proc
    return chosen


def _sid_key(sid: str) -> tuple[int, ...] | tuple[str]:
    parts = sid.split(".")
    return tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else (sid,)


async def _existing(deps: Deps, op_id: str, jobs: Sequence[Job]) -> dict[str, SchedulerProc]:
    """What the scheduler already holds for the operation; duplicate procs of one job are removed."""
    procs = await deps.scheduler.procs_for_operation(op_id)
    chosen = _by_job(procs, jobs)
    kept = {p.scheduler_id for p in chosen.values()}
    extra = [p.scheduler_id for p in procs if p.scheduler_id not in kept and p.in_queue]
    if extra:
        log.warning("operation %s: removing %d duplicate scheduler procs", op_id, len(extra))
        await deps.scheduler.remove(extra, "duplicate submission of an ee-retry operation")
    return chosen


async def _record(deps: Deps, jobs: Sequence[Job], procs: Mapping[str, SchedulerProc]) -> None:
    updates = {
        j.id: {"scheduler_id": procs[j.id].scheduler_id, "scheduler_type": deps.scheduler.scheduler_type}
        for j in jobs
        if j.id in procs and j.scheduler_id != procs[j.id].scheduler_id
    }
    if updates:
        await deps.store.set_fields(updates)


async def link_jobs(deps: Deps, jobs: Sequence[Job]) -> None:
    """Append new attempts to their original's retry_ids and their batch's child_jobs; mark them saved."""
    retry_ids: dict[str, list[str]] = {}
    child_jobs: dict[str, list[str]] = {}
    for job in sorted(jobs, key=lambda j: (j.created, j.id)):
        if job.retry_parent is not None:
            retry_ids.setdefault(job.retry_parent, []).append(job.id)
        if job.batch_id is not None:
            child_jobs.setdefault(job.batch_id, []).append(job.id)
    saved = [j.id for j in jobs if j.retry_parent is not None]
    if retry_ids or child_jobs or saved:
        await deps.store.link(retry_ids, child_jobs, saved)
