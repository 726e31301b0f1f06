"""Plain values for the templates: times in UTC, durations, a job row, the status colour."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from ee_retry.domain.model import Job, JobStatus

BADGE = {  # status -> colour class: failed red, waiting yellow, running blue, done green
    JobStatus.ERROR: "bad",
    JobStatus.TERMINATED: "bad",
    JobStatus.CREATED: "wait",
    JobStatus.ESTIMATING: "wait",
    JobStatus.QUEUED: "wait",
    JobStatus.RUNNING: "run",
    JobStatus.COMPLETED: "good",
}
STATUS_ORDER = (
    JobStatus.ERROR,
    JobStatus.TERMINATED,
    JobStatus.CREATED,
    JobStatus.ESTIMATING,
    JobStatus.QUEUED,
    JobStatus.RUNNING,
    JobStatus.COMPLETED,
)


def when(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def duration(start: float | None, end: float | None) -> str:
    if start is None or end is None or end < start:
        return ""
    total = round(end - start)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def app_of(job: Job) -> str:
    if job.job_input is None:
        return "batch"
    return job.job_input.method


def row(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "app": app_of(job),
        "user": job.user,
        "status": job.status.value,
        "badge": BADGE[job.status],
        "created": when(job.created),
        "finished": when(job.finished),
        "duration": duration(job.running or job.created, job.finished),
        "retryable": job.status in (JobStatus.ERROR, JobStatus.TERMINATED) and not job.batch_job,
        "cancellable": not job.status.terminal,
    }


def counts(found: dict[JobStatus, int]) -> list[dict[str, Any]]:
    return [{"status": s.value, "badge": BADGE[s], "n": found.get(s, 0)} for s in STATUS_ORDER]


def requirements(job: Job) -> list[tuple[str, str]]:
    job_input = job.job_input
    if job_input is None:
        return []
    asked = job_input.requirements
    pairs = [
        ("CPUs", asked.cpus),
        ("Memory (MB)", asked.memory_mb),
        ("Disk (GB)", asked.disk_gb),
        ("Client group", asked.client_group),
    ]
    return [(name, str(value)) for name, value in pairs if value is not None]


def timeline(job: Job) -> list[tuple[str, str, str]]:
    """(event, time, time since the previous event)."""
    events: Sequence[tuple[str, float | None]] = (
        ("Created", job.created),
        ("Queued", job.queued),
        ("Running", job.running),
        ("Finished", job.finished),
    )
    out: list[tuple[str, str, str]] = []
    previous: float | None = None
    for name, at in events:
        if at is None:
            continue
        out.append((name, when(at), duration(previous, at) if previous is not None else ""))
        previous = at
    return out
