"""Job records as ee2 shows them on the wire: millisecond timestamps, job_id, retry_count."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ee_retry.domain.model import Job
from ee_retry.domain.policy.model import AutoRetry

_TIME_FIELDS = ("created", "updated", "queued", "running", "finished")
_PRIVATE_FIELDS = ("_id", "retry_active", "operation_id")


def ms(value: float | None) -> int | None:
    return None if value is None else round(value * 1000)


def job_state(job: Job, exclude: Iterable[str] = ()) -> dict[str, Any]:
    """ee2's JobState for one job."""
    doc = job.to_doc()
    state: dict[str, Any] = {"job_id": job.id}
    for key, value in doc.items():
        if key in _PRIVATE_FIELDS:
            continue
        state[key] = ms(value) if key in _TIME_FIELDS else value
    state["retry_count"] = job.retry_count
    for key in ("failure", "auto_retry"):  # only on jobs that have them
        if state.get(key) is None:
            state.pop(key, None)
    if job.auto_retry is not None:
        state["auto_retry"] = AutoRetry.from_doc(job.auto_retry).to_wire()
    if job.job_input is None:
        state.pop("job_input")
    for key in exclude:
        if key != "job_id":
            state.pop(key, None)
    return state


def log_page(lines: Sequence[Mapping[str, Any]], first: int, total: int) -> dict[str, Any]:
    """ee2's get_job_logs answer for lines `first`.. of a log of `total` lines."""
    shaped = [
        {
            "line": ln["line"],
            "linepos": first + i,
            "is_error": bool(ln.get("is_error")),
            "ts": ms(ln.get("ts")),
        }
        for i, ln in enumerate(lines)
    ]
    return {"lines": shaped, "last_line_number": first + len(shaped), "count": total}


def run_job_params(job: Job) -> dict[str, Any]:
    """ee2's RunJobParams for get_job_params: what the runner needs to run the job."""
    ji = job.job_input
    if ji is None:
        return {"batch_job": True, "child_jobs": list(job.child_jobs)}
    return {
        "method": ji.method,
        "params": ji.params,
        "service_ver": ji.service_ver,
        "app_id": ji.app_id,
        "wsid": ji.wsid,
        "parent_job_id": ji.parent_job_id,
        "source_ws_objects": list(ji.source_ws_objects),
        "job_requirements": {
            "request_cpus": ji.requirements.cpus,
            "request_memory": ji.requirements.memory_mb,
            "request_disk": ji.requirements.disk_gb,
            "client_group": ji.requirements.client_group,
        },
        "user": job.user,
    }
