"""The reaper: one pass that repairs what crashes, lost procs and abandoned jobs leave behind.

    lease      one reaper acts at a time (a lease in the store); a dry run takes none, it writes nothing
    reconcile  finish or roll back every submission operation left incomplete (service/repair/reconcile.py)
    created    cancel `created` jobs older than a limit that no scheduler proc carries and no
               unfinished operation owns
    queued     cancel `queued` jobs that have waited longer than a limit (14 days by default)
    running    mark `error` the `running` jobs the scheduler knows nothing of (queue nor history)
    orphans    remove scheduler procs whose job has no record, and strays: procs still queued for a
               job that finished (a cancel whose remove failed) or that duplicate the job's recorded
               proc (two submissions raced)
    batches    set every unfinished batch container from its children (a crash between a child's
               last report and its container's refresh left it behind); needs no scheduler

Reads are bulk (one query per rule, one scheduler query per rule), writes are bulk (one transition
write, one scheduler call per rule). Every step is conditional or idempotent, so a second run right
after a first finds nothing to do. With `scheduler_visible` false (the local executor, whose procs
live in the service process) the rules that ask the scheduler are skipped and the run says so.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from ee_retry import constants
from ee_retry.domain import reaper_rules as rules
from ee_retry.domain.ids import new_id
from ee_retry.domain.model import Job, JobStatus, OperationState
from ee_retry.domain.values import JobQuery, OperationQuery, Transition
from ee_retry.errors import EERetryError
from ee_retry.service.deps import Deps
from ee_retry.service.repair.reaper_report import ReapAction, ReapReport
from ee_retry.service.repair.reconcile import Outcome, ReconcileAction, reconcile
from ee_retry.service.submit.submission import INCOMPLETE
from ee_retry.service.sync.status_sync import (
    container_changes,
    refresh_containers,
    refresh_unfinished_containers,
    unfinished_containers,
)

log = logging.getLogger(__name__)

LEASE_NAME = "reaper"
LOCAL_NOTE = (
    "reconcile, the created-job and running-job checks and orphan removal were skipped: the local "
    "executor's procs live in the service process, which runs these rules itself "
    "(EE_RETRY_REAPER_INTERVAL_S) and on start-up"
)


@dataclass(frozen=True)
class ReapOptions:
    """Thresholds and mode of one run."""

    dry_run: bool = False
    created_max_age_s: float = constants.REAPER_CREATED_MAX_AGE_S
    queued_max_age_s: float = constants.REAPER_QUEUED_MAX_AGE_S
    grace_s: float = constants.SUBMIT_GRACE_S  # reconcile leaves younger operations alone
    scheduler_visible: bool = True  # False: the scheduler's procs cannot be seen from here
    holder: str | None = None  # lease holder name; a fresh id when None


Rule = Callable[[Deps, ReapOptions], Awaitable[list[ReapAction]]]


async def reap_in_service(deps: Deps, holder: str) -> ReapReport:
    """A pass run by the service itself, which sees its own scheduler's procs (the local executor's
    live only there); what it did goes to the service log, one line per action."""
    report = await reap(deps, ReapOptions(holder=holder))
    for action in report.actions:
        log.log(logging.INFO if action.ok else logging.WARNING, "%s", action.line())
    if report.actions:
        log.info("%s", report.summary())
    return report


async def reap(deps: Deps, options: ReapOptions) -> ReapReport:
    """One reaper run."""
    report = ReapReport(dry_run=options.dry_run)
    holder = options.holder or f"reaper-{new_id()}"
    if not options.dry_run:
        now = deps.clock.now()
        if not await deps.store.acquire_lease(LEASE_NAME, holder, constants.REAPER_LEASE_TTL_S, now):
            report.lease_held_elsewhere = True
            return report
    try:
        if not options.scheduler_visible:
            report.notes.append(LOCAL_NOTE)
        for name, rule in _rules(options):
            if not options.dry_run and not await _renew(deps, holder):
                report.actions.append(
                    ReapAction(name, "-", "not run", ok=False).failed(
                        "the reaper lease expired and another reaper took it; this run stopped"
                    )
                )
                break
            report.actions.extend(await _guarded(name, rule, deps, options))
    finally:
        if not options.dry_run:
            await deps.store.release_lease(LEASE_NAME, holder)
    return report


async def _renew(deps: Deps, holder: str) -> bool:
    """Extend this run's lease before each rule, so a long run keeps it; False if it was lost."""
    return await deps.store.acquire_lease(LEASE_NAME, holder, constants.REAPER_LEASE_TTL_S, deps.clock.now())


def _rules(options: ReapOptions) -> list[tuple[str, Rule]]:
    if not options.scheduler_visible:
        return [("cancel-queued", _queued), ("refresh-batch", _batches)]
    return [
        ("reconcile", _reconcile),
        ("cancel-created", _created),
        ("cancel-queued", _queued),
        ("fail-running", _running),
        ("remove-orphan", _orphans),
        ("refresh-batch", _batches),
    ]


async def _guarded(name: str, rule: Rule, deps: Deps, options: ReapOptions) -> list[ReapAction]:
    """Run one rule; if its reads fail, report the rule as one failed action and go on."""
    try:
        return await rule(deps, options)
    except EERetryError as exc:
        log.warning("reaper rule %s failed: %s", name, exc.message)
        return [
            ReapAction(_named(name, options), "-", "could not run this rule", ok=False).failed(exc.message)
        ]


def _named(action: str, options: ReapOptions) -> str:
    return f"would-{action}" if options.dry_run else action


# ---------------------------------------------------------------- rules


async def _reconcile(deps: Deps, options: ReapOptions) -> list[ReapAction]:
    done = await reconcile(deps, grace_s=options.grace_s, dry_run=options.dry_run)
    return [_from_reconcile(action) for action in done]


def _from_reconcile(done: ReconcileAction) -> ReapAction:
    failed = done.action is Outcome.FAILED
    if done.action is Outcome.SKIPPED:
        verb = "skip-operation"
    elif done.action is Outcome.ROLLED_BACK or (failed and done.state is OperationState.RESERVING):
        verb = "rollback-operation"
    else:
        verb = "finish-operation"
    action = f"would-{verb}" if done.planned else verb
    what = f"{done.kind.value} operation in state {done.state.value} with {done.jobs} jobs"
    if failed:
        return ReapAction(action, done.op_id, what).failed(done.detail or "unknown error")
    return ReapAction(action, done.op_id, f"{what}: {done.detail}" if done.detail else what)


async def _created(deps: Deps, options: ReapOptions) -> list[ReapAction]:
    now = deps.clock.now()
    cutoff = now - options.created_max_age_s
    query = JobQuery(statuses=[JobStatus.CREATED], created_to=cutoff, exclude_batch_containers=True)
    jobs = await deps.store.find_jobs(query)
    if not jobs:
        return []
    incomplete = {op.id for op in await deps.store.find_operations(OperationQuery(states=list(INCOMPLETE)))}
    procs = await deps.scheduler.procs_for_jobs([j.id for j in jobs])
    stale = rules.stale_created(jobs, procs, incomplete, cutoff)
    limit = rules.duration(options.created_max_age_s)
    planned = [_plan_created(j, now, limit) for j in stale]
    return await _apply(deps, _named("cancel-created", options), planned, options.dry_run)


def _plan_created(job: Job, now: float, limit: str) -> tuple[Job, Transition, str]:
    age = rules.duration(now - job.created)
    why = f"the job was recorded {age} ago and the scheduler never received it"
    detail = f"created {age} ago, no scheduler proc (limit {limit})"
    return job, rules.cancel_by_reaper(job, _reason(why, limit), now), detail


def _reason(why: str, limit: str) -> str:
    """The errormsg of a job the reaper cancelled."""
    return f"Cancelled by the ee-retry reaper: {why} (limit {limit}). Retry it."


async def _queued(deps: Deps, options: ReapOptions) -> list[ReapAction]:
    now = deps.clock.now()
    cutoff = now - options.queued_max_age_s
    query = JobQuery(statuses=[JobStatus.QUEUED], created_to=cutoff, exclude_batch_containers=True)
    stale = rules.stale_queued(await deps.store.find_jobs(query), cutoff)
    if not stale:
        return []
    limit = rules.duration(options.queued_max_age_s)
    planned = [_plan_queued(j, now, limit, options.scheduler_visible) for j in stale]
    actions = await _apply(deps, _named("cancel-queued", options), planned, options.dry_run)
    if options.dry_run or not options.scheduler_visible:
        return actions
    cancelled = {a.target for a in actions if a.ok}
    failed = await _remove(
        deps,
        rules.scheduler_ids([j for j in stale if j.id in cancelled]),
        "queued too long; cancelled by the ee-retry reaper",
    )
    if failed is None:
        return actions
    why = f"cancelled, but the scheduler did not remove its proc: {failed}"
    return [a.failed(why) if a.target in cancelled else a for a in actions]


def _plan_queued(job: Job, now: float, limit: str, scheduler_visible: bool) -> tuple[Job, Transition, str]:
    age = rules.duration(now - rules.queued_since(job))
    detail = f"queued {age} ago (limit {limit})"
    if not scheduler_visible:
        detail += "; the service will not start its local proc if it is still waiting"
    why = f"the job waited in the scheduler queue for {age}"
    return job, rules.cancel_by_reaper(job, _reason(why, limit), now), detail


async def _running(deps: Deps, options: ReapOptions) -> list[ReapAction]:
    now = deps.clock.now()
    query = JobQuery(statuses=[JobStatus.RUNNING], exclude_batch_containers=True)
    jobs = await deps.store.find_jobs(query)
    if not jobs:
        return []
    lost = rules.lost_running(jobs, await deps.scheduler.procs_for_jobs([j.id for j in jobs]))
    planned = [
        (j, rules.lost_by_scheduler(j, now), "running, but the scheduler has no proc for it") for j in lost
    ]
    return await _apply(deps, _named("fail-running", options), planned, options.dry_run)


async def _orphans(deps: Deps, options: ReapOptions) -> list[ReapAction]:
    procs = await deps.scheduler.poll()
    if not procs:
        return []
    jobs = await deps.store.get_jobs(sorted({p.job_id for p in procs}))
    cutoff = deps.clock.now() - options.grace_s
    found = [(p, f"proc of job {p.job_id}, which has no record") for p in rules.orphans(procs, set(jobs))]
    found += rules.strays(procs, jobs, cutoff)
    action = _named("remove-orphan", options)
    out = [ReapAction(action, p.scheduler_id, why) for p, why in found]
    if found and not options.dry_run:
        failed = await _remove(
            deps, [p.scheduler_id for p, _ in found], "not a live ee-retry job; removed by the reaper"
        )
        if failed is not None:
            out = [a.failed(failed) for a in out]
    return out


async def _batches(deps: Deps, options: ReapOptions) -> list[ReapAction]:
    action = _named("refresh-batch", options)
    if options.dry_run:
        planned = {t.job_id: t.new for t in await container_changes(deps, await unfinished_containers(deps))}
    else:
        planned = await refresh_unfinished_containers(deps)
    return [
        ReapAction(action, job_id, f"batch container set to {status.value} from its children")
        for job_id, status in sorted(planned.items())
    ]


# ---------------------------------------------------------------- writes


async def _remove(deps: Deps, scheduler_ids: Sequence[str], reason: str) -> str | None:
    """One scheduler remove call; the error message if it failed."""
    if not scheduler_ids:
        return None
    try:
        await deps.scheduler.remove(scheduler_ids, reason)
    except EERetryError as exc:
        return exc.message
    return None


async def _apply(
    deps: Deps, action: str, planned: Sequence[tuple[Job, Transition, str]], dry_run: bool
) -> list[ReapAction]:
    """Apply the transitions in one write, refresh the affected batches; one action per job changed."""
    if not planned:
        return []
    if dry_run:
        return [ReapAction(action, job.id, detail) for job, _, detail in planned]
    try:
        changed = await deps.store.transition([t for _, t, _ in planned])
    except EERetryError as exc:
        return [ReapAction(action, job.id, detail).failed(exc.message) for job, _, detail in planned]
    moved_on = [job.id for job, _, _ in planned if job.id not in changed]
    if moved_on:
        log.info("reaper %s: %d jobs moved on before the write and were left alone", action, len(moved_on))
    done = [(job, detail) for job, _, detail in planned if job.id in changed]
    actions = [ReapAction(action, job.id, detail) for job, detail in done]
    try:
        await refresh_containers(deps, {job.batch_id for job, _ in done if job.batch_id})
    except EERetryError as exc:
        actions.append(
            ReapAction("refresh-batches", "-", "batch status not refreshed", ok=False).failed(exc.message)
        )
    return actions
