"""Finish or roll back every submission operation a crash or a slow request left incomplete.

Which states reconcile may move, and when, is the table in `service/submit/submission.py`. It acts
only on operations older than the grace period, claims each before acting (so two passes never both
submit one), and every step is idempotent, so a pass right after another writes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum

from ee_retry import constants
from ee_retry.domain import backoff
from ee_retry.domain.model import Job, JobStatus, Operation, OperationKind, OperationState
from ee_retry.domain.reaper_rules import cancel_by_reaper
from ee_retry.domain.values import OperationQuery, ProcState, SchedulerProc
from ee_retry.errors import EERetryError
from ee_retry.service.deps import Deps
from ee_retry.service.submit.specs import specs_builder
from ee_retry.service.submit.submission import INCOMPLETE, PERMANENT, advance, claim, roll_back
from ee_retry.service.sync.status_sync import refresh_containers

log = logging.getLogger(__name__)


TAKEN = "another writer took this operation"  # the detail of an operation another pass claimed first


class Outcome(str, Enum):
    """What reconcile did with one operation, or in a dry run would do."""

    FINISHED = "finished"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"
    SKIPPED = "skipped"  # another writer holds or moved the operation


@dataclass(frozen=True)
class ReconcileAction:
    """One operation reconcile found incomplete, and its outcome."""

    op_id: str
    kind: OperationKind
    state: OperationState  # the state it was found in
    action: Outcome
    jobs: int
    detail: str = ""
    planned: bool = False  # a dry run's plan: nothing was written


async def reconcile(
    deps: Deps, grace_s: float = constants.SUBMIT_GRACE_S, dry_run: bool = False
) -> list[ReconcileAction]:
    """One pass over every incomplete operation older than `grace_s`."""
    now = deps.clock.now()
    ops = await deps.store.find_operations(OperationQuery(states=list(INCOMPLETE)))
    return [await _reconcile_logged(deps, op, dry_run) for op in ops if op.updated <= now - grace_s]


async def reconcile_abandoned(deps: Deps) -> list[ReconcileAction]:
    """Finish (or roll back) the operations this instance's requests left when the store failed after
    their submit, at once rather than after the grace period. One whose finishing fails (the store is
    still away) is tried again after 1, 2, 4, ... s (at most ABANDONED_RETRY_MAX_S apart); failing for
    ABANDONED_GIVE_UP_S, it is left to the regular reconcile pass, which owns it by then. No store
    call when none is due."""
    now = deps.clock.now()
    tries = deps.abandoned_tries
    for op_id in set(tries) - deps.abandoned:
        del tries[op_id]
    due = {op_id for op_id in deps.abandoned if op_id not in tries or tries[op_id].next_at <= now}
    if not due:
        return []
    try:
        ops = await deps.store.find_operations(OperationQuery(states=list(INCOMPLETE)))
    except Exception as exc:
        for op_id in sorted(due):
            _abandoned_failed(deps, op_id, now, exc)
        return []
    actions = [await _finish_abandoned(deps, op, now) for op in ops if op.id in due]
    deps.abandoned -= due - {op.id for op in ops}  # finished or rolled back by another writer
    return actions


async def _finish_abandoned(deps: Deps, op: Operation, now: float) -> ReconcileAction:
    try:
        action = await reconcile_one(deps, op)
    except Exception as exc:
        _abandoned_failed(deps, op.id, now, exc)
        return _action(op, Outcome.FAILED, _message(exc))
    if action.action is Outcome.FAILED:
        _abandoned_failed(deps, op.id, now, action.detail)
        return action
    deps.abandoned.discard(op.id)
    before = deps.abandoned_tries.pop(op.id, None)
    if before is not None:
        log.info(
            "operation %s, abandoned by its request, %s after %d failed tries: %s",
            op.id,
            action.action.value.replace("_", " "),
            before.failures,
            action.detail,
        )
    return action


def _abandoned_failed(deps: Deps, op_id: str, now: float, failure: Exception | str) -> None:
    """Back off, logging a failure at WARNING only when it is new (an unexpected error with its
    traceback), else at DEBUG; or give up once it has failed for ABANDONED_GIVE_UP_S."""
    error = failure if isinstance(failure, str) else _message(failure)
    before = deps.abandoned_tries.get(op_id)
    after = backoff.failed(before, now, error, constants.ABANDONED_RETRY_S, constants.ABANDONED_RETRY_MAX_S)
    if now - after.first_failed_at >= constants.ABANDONED_GIVE_UP_S:
        deps.abandoned.discard(op_id)
        deps.abandoned_tries.pop(op_id, None)
        log.warning(
            "operation %s, abandoned by its request, is still not finished after %d tries in %.0f s "
            "(last error: %s); this instance stops trying: the regular reconcile pass (the reaper) "
            "finishes or rolls it back once that error is fixed",
            op_id,
            after.failures,
            now - after.first_failed_at,
            error,
        )
        return
    deps.abandoned_tries[op_id] = after
    new = before is None or before.error != error
    unexpected = failure if new and not isinstance(failure, str | EERetryError) else None
    log.log(
        logging.WARNING if new else logging.DEBUG,
        "finishing operation %s, abandoned by its request, failed (try %d): %s; trying again in %.0f s",
        op_id,
        after.failures,
        error,
        after.next_at - now,
        exc_info=unexpected,
    )


def _message(exc: Exception) -> str:
    return exc.message if isinstance(exc, EERetryError) else f"{type(exc).__name__}: {exc}"


async def _reconcile_logged(deps: Deps, op: Operation, dry_run: bool = False) -> ReconcileAction:
    try:
        return await reconcile_one(deps, op, dry_run)
    except EERetryError as exc:
        log.warning("reconcile of operation %s failed: %s", op.id, exc.message)
        return _action(op, Outcome.FAILED, exc.message)


async def reconcile_one(deps: Deps, op: Operation, dry_run: bool = False) -> ReconcileAction:
    if op.state is OperationState.RESERVING:
        if dry_run:
            return _action(op, Outcome.ROLLED_BACK, planned=True)
        owned_at = await claim(deps, op)
        if owned_at is None:
            return _action(op, Outcome.SKIPPED, TAKEN)
        why = "the request stopped before its jobs were recorded"
        if await roll_back(deps, op, why, procs=(), owned_at=owned_at):
            return _action(op, Outcome.ROLLED_BACK, "never acknowledged; reserved jobs removed")
        return _action(op, Outcome.SKIPPED, "another writer moved it during the rollback")
    jobs = list((await deps.store.get_jobs(op.job_ids)).values())
    procs = await deps.scheduler.procs_for_operation(op.id)
    gone = _removed_elsewhere(jobs, procs, resubmittable=not deps.scheduler.runs_with_owner_token)
    why_not = _why_roll_back(deps, op, jobs, procs, gone)
    if dry_run:
        would = Outcome.ROLLED_BACK if why_not else Outcome.FINISHED
        return _action(op, would, why_not or f"{len(jobs)} jobs to submit, link and release", planned=True)
    owned_at = await claim(deps, op)
    if owned_at is None:
        return _action(op, Outcome.SKIPPED, TAKEN)
    if why_not:
        return await _roll_back(deps, op, why_not, owned_at, procs)
    if gone:
        jobs = await _terminate_removed(deps, jobs, gone)
    try:
        await advance(deps, op, jobs, specs_builder(deps, token=None), by_request=False)
    except PERMANENT as exc:
        return await _roll_back(deps, op, f"its jobs cannot be submitted: {exc.message}", owned_at)
    if gone:
        await refresh_containers(deps, {j.batch_id for j in jobs if j.batch_id})
    return _action(op, Outcome.FINISHED, f"{len(jobs)} jobs submitted, linked and released")


def _why_roll_back(
    deps: Deps, op: Operation, jobs: list[Job], procs: list[SchedulerProc], gone: set[str]
) -> str | None:
    """Why an incomplete operation cannot be finished, or None when it can."""
    if len(jobs) < len(op.job_ids):  # only a rollback deletes jobs: one was interrupted
        return "a rollback of this operation was interrupted; completing it"
    missing = [j for j in _missing(jobs, procs) if j not in gone]
    if missing and deps.scheduler.runs_with_owner_token:
        return (
            f"the scheduler never received {len(missing)} of its jobs, and they cannot be submitted "
            "without their owner's token; run or retry them again"
        )
    return None


def _removed_elsewhere(jobs: list[Job], procs: list[SchedulerProc], resubmittable: bool) -> set[str]:
    """Jobs the scheduler did receive (their proc id is recorded) that it no longer holds: removed by
    someone else (an operator's condor_rm, a pool policy), or, where reconcile cannot submit them
    again (`resubmittable` false: they need their owner's token), gone from its queue and history.
    They end terminated, as the poller would have ended them."""
    by_job: dict[str, list[SchedulerProc]] = {}
    for proc in procs:
        by_job.setdefault(proc.job_id, []).append(proc)

    def gone(job_id: str) -> bool:
        seen = by_job.get(job_id, [])
        return all(p.state is ProcState.REMOVED for p in seen) and (bool(seen) or not resubmittable)

    return {j.id for j in jobs if j.status is JobStatus.CREATED and j.scheduler_id is not None and gone(j.id)}


async def _terminate_removed(deps: Deps, jobs: list[Job], gone: set[str]) -> list[Job]:
    now = deps.clock.now()
    message = "The job was removed from the scheduler before it started; retry it."
    await deps.store.transition([cancel_by_reaper(j, message, now) for j in jobs if j.id in gone])
    return list((await deps.store.get_jobs([j.id for j in jobs])).values())


async def _roll_back(
    deps: Deps, op: Operation, reason: str, owned_at: float, procs: list[SchedulerProc] | None = None
) -> ReconcileAction:
    if await roll_back(deps, op, reason, procs=procs, owned_at=owned_at):
        return _action(op, Outcome.ROLLED_BACK, reason)
    return _action(
        op, Outcome.FAILED, f"not rolled back (a proc was released, or another writer moved it): {reason}"
    )


def _missing(jobs: list[Job], procs: list[SchedulerProc]) -> list[str]:
    """Runnable jobs still `created` that no live proc of the operation carries."""
    carried = {p.job_id for p in procs if p.state is not ProcState.REMOVED}
    return [j.id for j in jobs if not j.batch_job and j.status is JobStatus.CREATED and j.id not in carried]


def _action(op: Operation, outcome: Outcome, detail: str = "", planned: bool = False) -> ReconcileAction:
    return ReconcileAction(op.id, op.kind, op.state, outcome, len(op.job_ids), detail, planned)
