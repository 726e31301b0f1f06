"""The reaper's rules as pure functions: which jobs and procs a run acts on, and the transitions.

Nothing here reads or writes; `reaper.py` loads what these functions look at and applies what they
return. Every transition expects exactly the status the rule saw, so a job that moved on since it
was read (released, started, cancelled by its owner) is left alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from ee_retry.domain.model import ErrorCode, Job, JobStatus, TerminatedCode
from ee_retry.domain.status import failed
from ee_retry.domain.values import ProcState, SchedulerProc, Transition

_FINISHED_PROCS = frozenset({ProcState.COMPLETED, ProcState.REMOVED})


def duration(seconds: float) -> str:
    """A short human duration: '45s', '12m', '3h 5m', '14d 2h'."""
    whole_s = max(int(seconds), 0)
    days, rest = divmod(whole_s, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m" if minutes else f"{secs}s"


def queued_since(job: Job) -> float:
    """When a queued job started waiting: its queued time, or its created time if it has none."""
    return job.queued if job.queued is not None else job.created


def stale_created(
    jobs: Iterable[Job], procs: Iterable[SchedulerProc], incomplete_ops: set[str], cutoff: float
) -> list[Job]:
    """`created` jobs made before `cutoff` that no scheduler proc carries and no unfinished
    operation owns (reconcile finishes or rolls those back)."""
    carried = {p.job_id for p in procs if p.state is not ProcState.REMOVED}
    return [
        j
        for j in jobs
        if j.status is JobStatus.CREATED
        and not j.batch_job
        and j.created < cutoff
        and j.id not in carried
        and (j.operation_id is None or j.operation_id not in incomplete_ops)
    ]


def stale_queued(jobs: Iterable[Job], cutoff: float) -> list[Job]:
    """`queued` jobs that started waiting before `cutoff`."""
    return [j for j in jobs if j.status is JobStatus.QUEUED and not j.batch_job and queued_since(j) < cutoff]


def lost_running(jobs: Iterable[Job], procs: Iterable[SchedulerProc]) -> list[Job]:
    """`running` jobs the scheduler knows nothing of, in its queue or its history. Only jobs this
    service submitted (they carry an operation id): a job ee2 submitted has a proc without
    `ee_job_id`, which the scheduler query cannot find, so it would look lost while it runs."""
    known = {p.job_id for p in procs}
    return [
        j
        for j in jobs
        if j.status is JobStatus.RUNNING
        and not j.batch_job
        and j.operation_id is not None
        and j.id not in known
    ]


def orphans(procs: Iterable[SchedulerProc], known_jobs: set[str]) -> list[SchedulerProc]:
    """Procs still in the queue whose job has no record (finished ones are history, left alone)."""
    return [p for p in procs if p.job_id not in known_jobs and p.in_queue and p.state not in _FINISHED_PROCS]


def strays(
    procs: Iterable[SchedulerProc], jobs: Mapping[str, Job], cutoff: float
) -> list[tuple[SchedulerProc, str]]:
    """Procs still queued for a job that finished before `cutoff`, or that are not the job's recorded
    proc (a duplicate submission); each with why it goes."""
    out: list[tuple[SchedulerProc, str]] = []
    for proc in procs:
        job = jobs.get(proc.job_id)
        if job is None or not proc.in_queue or proc.state in _FINISHED_PROCS:
            continue
        if job.status.terminal and job.finished is not None and job.finished < cutoff:
            out.append((proc, f"proc of job {job.id}, which is already {job.status.value}"))
        elif job.scheduler_id is not None and job.scheduler_id != proc.scheduler_id:
            out.append((proc, f"duplicate proc of job {job.id}, whose proc is {job.scheduler_id}"))
    return out


def cancel_by_reaper(job: Job, reason: str, now: float) -> Transition:
    """Terminate a job the reaper gave up on: terminated_code TERMINATED_BY_AUTOMATION, with why."""
    return Transition(
        job.id,
        frozenset({job.status}),
        JobStatus.TERMINATED,
        {
            "finished": now,
            "updated": now,
            "terminated_code": TerminatedCode.TERMINATED_BY_AUTOMATION.value,
            "errormsg": reason,
        },
    )


def lost_by_scheduler(job: Job, now: float) -> Transition:
    """A running job the scheduler lost becomes `error`, saying so."""
    message = (
        "The scheduler no longer knows this job (it is in neither its queue nor its history); "
        "marked error by the ee-retry reaper. Retry it."
    )
    return replace(
        failed(job.id, message, ErrorCode.JOB_CRASHED, now), expected=frozenset({JobStatus.RUNNING})
    )


def scheduler_ids(jobs: Sequence[Job], procs: Iterable[SchedulerProc] = ()) -> list[str]:
    """Every scheduler id to remove for these jobs: the recorded one and any proc reported for them."""
    wanted = {j.id for j in jobs}
    ids = [j.scheduler_id for j in jobs if j.scheduler_id]
    ids += [p.scheduler_id for p in procs if p.job_id in wanted and p.in_queue]
    return list(dict.fromkeys(ids))
