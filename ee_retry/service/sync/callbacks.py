"""The job runner's callbacks: start_job, finish_job, update_job_status, job logs, get_job_params.

They and the status poller apply the same conditional transitions: whichever reports first wins,
and the later one never overwrites a terminal state.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from ee_retry.constants import MAX_LOG_LINE_CHARS, MAX_LOG_LINES_PER_CALL
from ee_retry.domain import status as rules
from ee_retry.domain.access import Access, check_admin_flag
from ee_retry.domain.model import (
    ACTIVE_STATUSES,
    STARTABLE_STATUSES,
    TERMINAL_STATUSES,
    ErrorCode,
    Job,
    JobStatus,
)
from ee_retry.domain.values import Transition, User
from ee_retry.errors import InvalidParams, InvalidStatusTransition, shown
from ee_retry.service.access import load_one
from ee_retry.service.deps import Deps
from ee_retry.service.sync.status_sync import refresh_containers

_BEFORE_ESTIMATING = frozenset({JobStatus.CREATED, JobStatus.QUEUED})


async def _apply(
    deps: Deps, job: Job, change: Transition, verb: str, already: JobStatus | None = None
) -> None:
    """Apply one callback transition. `already`: a status that means someone (the poller) got there
    first, so the call succeeds without a write."""
    if job.status is already:
        return
    changed = await deps.store.transition([change])
    if job.id not in changed:
        current = (await deps.store.get_jobs([job.id])).get(job.id)
        if current is not None and current.status is already:
            return
        now_status = current.status.value if current else "gone"
        raise InvalidStatusTransition(f"Cannot {verb} job {job.id}: it is {now_status}")
    if job.retry_parent and change.new is JobStatus.ERROR:
        deps.metrics.retries_failed.inc()
    await refresh_containers(deps, {job.batch_id})


async def start_job(
    deps: Deps, user: User, job_id: object, as_admin: bool, skip_estimation: bool = True
) -> None:
    """As ee2: running, or with skip_estimation false a job not yet estimating goes to estimating
    first (a second start_job then runs it)."""
    job = await load_one(deps, user, job_id, Access.WRITE, as_admin)
    now = deps.clock.now()
    if not skip_estimation and job.status is not JobStatus.ESTIMATING:
        estimate = Transition(
            job.id, _BEFORE_ESTIMATING, JobStatus.ESTIMATING, {"estimating": now, "updated": now}
        )
        await _apply(deps, job, estimate, "start")
        return
    fields: dict[str, Any] = {"running": now, "updated": now}
    if job.queued is None:
        fields["queued"] = now
    # The status poller may have seen the proc start before the runner called in: that is a start.
    change = Transition(job.id, STARTABLE_STATUSES, JobStatus.RUNNING, fields)
    await _apply(deps, job, change, "start", already=JobStatus.RUNNING)


async def finish_job(
    deps: Deps,
    user: User,
    job_id: object,
    as_admin: bool,
    error_message: str | None,
    error_code: int | None,
    error: Mapping[str, Any] | None,
    job_output: Any,
) -> None:
    """As ee2: error when error_message is given (error_code defaults to job_crashed), error with
    job_missing_output when there is neither a message nor job_output, else completed."""
    job = await load_one(deps, user, job_id, Access.WRITE, as_admin)
    now = deps.clock.now()
    if error_message or job_output is None:
        if error_message:
            code = ErrorCode.JOB_CRASHED if error_code is None else error_code
        else:
            error_message = "Missing job output required in order to successfully finish the job"
            code = ErrorCode.JOB_MISSING_OUTPUT if error_code is None else error_code
        change = rules.failed(job.id, error_message, code, now, facts=_reported_failure(error))
        if error is not None:
            change = Transition(
                change.job_id, change.expected, change.new, {**change.fields, "error": dict(error)}
            )
    else:
        fields = {"finished": now, "updated": now, "job_output": job_output}
        change = Transition(job.id, ACTIVE_STATUSES, JobStatus.COMPLETED, fields)
    await _apply(deps, job, change, "finish")


def _reported_failure(error: Mapping[str, Any] | None) -> dict[str, int | None]:
    """The failure facts a finish_job's `error` object names (exit_code, signal, hold_code,
    hold_subcode); each unknown one is None."""
    facts = rules.failure()
    for key in facts:
        value = error.get(key) if error is not None else None
        facts[key] = value if isinstance(value, int) and not isinstance(value, bool) else None
    return facts


async def update_job_status(deps: Deps, user: User, job_id: object, status: str, as_admin: bool) -> None:
    """Admin override of a job's status."""
    check_admin_flag(user, True, Access.WRITE, "set job status")
    if not as_admin:
        raise InvalidParams("update_job_status is an admin call: set as_admin to true")
    try:
        new = JobStatus(status)
    except ValueError:
        raise InvalidParams(
            f"Unknown status {shown(status)}; one of {[s.value for s in JobStatus]}"
        ) from None
    job = await load_one(deps, user, job_id, Access.WRITE, True)
    now = deps.clock.now()
    fields: dict[str, Any] = {"updated": now}
    if new in TERMINAL_STATUSES:
        fields["finished"] = now
    await _apply(deps, job, Transition(job.id, frozenset(JobStatus) - {new}, new, fields), "update")


async def add_job_logs(
    deps: Deps, user: User, job_id: object, lines: Sequence[Mapping[str, Any]], as_admin: bool
) -> int:
    job = await load_one(deps, user, job_id, Access.WRITE, as_admin)
    if len(lines) > MAX_LOG_LINES_PER_CALL:
        raise InvalidParams(f"{len(lines)} log lines in one call; at most {MAX_LOG_LINES_PER_CALL}")
    clean = [
        {
            "line": _cut_line(str(ln.get("line", ""))),
            "is_error": bool(ln.get("is_error", False)),
            "ts": _ts(ln.get("ts")),
        }
        for ln in lines
    ]
    return await deps.store.add_logs(job.id, clean)


def _cut_line(line: str) -> str:
    if len(line) <= MAX_LOG_LINE_CHARS:
        return line
    return f"{line[:MAX_LOG_LINE_CHARS]}... (line cut at {MAX_LOG_LINE_CHARS} characters)"


def _ts(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) / 1000.0 if value > 1e11 else float(value)
    return time.time()


async def get_job_logs(
    deps: Deps, user: User, job_id: object, skip: int, limit: int, as_admin: bool
) -> tuple[list[dict[str, Any]], int]:
    job = await load_one(deps, user, job_id, Access.READ, as_admin)
    return await deps.store.get_logs(job.id, skip, limit)


async def get_job_params(deps: Deps, user: User, job_id: object, as_admin: bool) -> Job:
    return await load_one(deps, user, job_id, Access.READ, as_admin)
