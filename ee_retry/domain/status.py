"""How scheduler reports and runner callbacks move a job's status; every move is conditional.

Every function returns a `Transition` (expected statuses -> new status) or None; the store applies it
only if the job is still in an expected status, so a late report can never overwrite a cancel or a
terminal state, and whichever of the poller and the runner's callback arrives first wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ee_retry import constants, runner
from ee_retry.domain.model import (
    ACTIVE_STATUSES,
    STARTABLE_STATUSES,
    ErrorCode,
    Job,
    JobStatus,
    TerminatedCode,
)
from ee_retry.domain.values import ProcState, SchedulerProc, Transition

_BEFORE_QUEUED = frozenset({JobStatus.CREATED, JobStatus.ESTIMATING})
_BEFORE_RUNNING = STARTABLE_STATUSES


def _tail(text: str | None) -> str:
    return (text or "").strip()[-constants.OUTPUT_TAIL_CHARS :]


def exit_message(exit_code: int | None, exit_signal: int | None, stderr: str | None) -> str:
    """errormsg for a job whose process failed: the exit code or signal, and the tail of stderr."""
    what = f"killed by signal {exit_signal}" if exit_signal is not None else f"exited with code {exit_code}"
    tail = _tail(stderr)
    return f"Job process {what}" + (f": {tail}" if tail else "")


def failure(
    exit_code: int | None = None,
    signal: int | None = None,
    hold_code: int | None = None,
    hold_subcode: int | None = None,
) -> dict[str, int | None]:
    """The `failure` field of a job that ended in error: what is known about why (None: unknown)."""
    return {"exit_code": exit_code, "signal": signal, "hold_code": hold_code, "hold_subcode": hold_subcode}


def proc_failure(proc: SchedulerProc) -> dict[str, int | None]:
    """The failure facts a scheduler report carries."""
    return failure(proc.exit_code, proc.exit_signal, proc.hold_code, proc.hold_subcode)


def from_proc(job: Job, proc: SchedulerProc, now: float) -> Transition | None:
    """The transition a scheduler report implies for `job`, if any.

    Only the job's recorded proc speaks for it: a duplicate proc (removed by reconcile) or a proc
    reported before its id was recorded (its operation is still being finished) changes nothing.
    """
    if job.status.terminal or job.batch_job or proc.scheduler_id != job.scheduler_id:
        return None
    if proc.state is ProcState.IDLE:
        return Transition(job.id, _BEFORE_QUEUED, JobStatus.QUEUED, {"queued": now, "updated": now})
    if proc.state is ProcState.RUNNING:
        fields: dict[str, Any] = {"running": proc.started or now, "updated": now}
        if job.queued is None:
            fields["queued"] = now
        return Transition(job.id, _BEFORE_RUNNING, JobStatus.RUNNING, fields)
    if proc.state is ProcState.COMPLETED:
        return completed(job.id, proc, now)
    if proc.state is ProcState.HELD and not proc.held_by_us:
        reason = proc.hold_reason or "no reason given"
        message = f"Job was held by the scheduler: {reason}"
        return failed(job.id, message, ErrorCode.JOB_CRASHED, now, facts=proc_failure(proc))
    if proc.state is ProcState.REMOVED:
        return Transition(
            job.id,
            ACTIVE_STATUSES,
            JobStatus.TERMINATED,
            {
                "finished": now,
                "updated": now,
                "terminated_code": TerminatedCode.TERMINATED_BY_AUTOMATION.value,
                "errormsg": "Job was removed from the scheduler queue",
                "failure": proc_failure(proc),
            },
        )
    return None


def job_output(stdout: str) -> Any:
    """A job's output: its last stdout line when that is a JSON object (a KBase SDK result), else the
    tail of stdout. The rule lives in the stdlib-only runner, which ships alone to execute nodes and
    sends the same shape through finish_job; both schedulers use this one definition."""
    return runner.job_output(_tail(stdout))


def completed(job_id: str, proc: SchedulerProc, now: float) -> Transition:
    """A finished process: exit 0 -> completed (stdout tail as output); anything else -> error."""
    finished = proc.finished or now
    if proc.exit_code == 0 and proc.exit_signal is None:
        fields: dict[str, Any] = {"finished": finished, "updated": now}
        if proc.output_tail is not None:
            fields["job_output"] = job_output(proc.output_tail)
        return Transition(job_id, ACTIVE_STATUSES, JobStatus.COMPLETED, fields)
    msg = exit_message(proc.exit_code, proc.exit_signal, proc.error_tail)
    return failed(job_id, msg, ErrorCode.JOB_CRASHED, now, finished, proc_failure(proc))


def failed(
    job_id: str,
    message: str,
    code: ErrorCode | int,
    now: float,
    finished: float | None = None,
    facts: dict[str, int | None] | None = None,
) -> Transition:
    """Move an active job to error with a message and what is known about why (`failure`)."""
    return Transition(
        job_id,
        ACTIVE_STATUSES,
        JobStatus.ERROR,
        {
            "finished": finished or now,
            "updated": now,
            "errormsg": message,
            "error_code": int(code),
            "error": {"code": int(code), "name": "Job error", "message": message},
            "failure": facts if facts is not None else failure(),
        },
    )


def cancelled(job_id: str, code: TerminatedCode, now: float, reason: str | None = None) -> Transition:
    """A cancel: any active status -> terminated, recording why (ee2's terminated_code)."""
    fields: dict[str, Any] = {"finished": now, "updated": now, "terminated_code": code.value}
    if reason:
        fields["errormsg"] = reason
    return Transition(job_id, ACTIVE_STATUSES, JobStatus.TERMINATED, fields)


def latest_attempts(children: Iterable[Job]) -> list[Job]:
    """For each original among a container's children, the attempt that counts: its newest one."""
    by_id = {c.id: c for c in children}
    latest: list[Job] = []
    for child in by_id.values():
        if child.retry_parent is not None and child.retry_parent in by_id:
            continue
        attempts = [child] + [by_id[r] for r in child.retry_ids if r in by_id]
        latest.append(max(attempts, key=lambda j: (j.created, j.id)))
    return latest


def container_status(children: Sequence[Job]) -> JobStatus | None:
    """A batch container's status follows the latest attempt of each child."""
    latest = latest_attempts(children)
    if not latest:
        return None
    statuses = {j.status for j in latest}
    if JobStatus.RUNNING in statuses:
        return JobStatus.RUNNING
    if statuses & {JobStatus.CREATED, JobStatus.ESTIMATING, JobStatus.QUEUED}:
        return JobStatus.QUEUED
    if statuses == {JobStatus.COMPLETED}:
        return JobStatus.COMPLETED
    if JobStatus.ERROR in statuses:
        return JobStatus.ERROR
    return JobStatus.TERMINATED
