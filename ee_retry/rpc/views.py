"""What ee2 shows on the wire: job records (millisecond timestamps, job_id, retry_count), job
parameters for the runner, and retry answer items (without their stored error codes)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ee_retry.domain.model import Job
from ee_retry.domain.policy.model import AutoRetry
from ee_retry.errors import error_of_item
from ee_retry.service.ops.retry_failed import Candidate

_TIME_FIELDS = ("created", "updated", "queued", "estimating", "running", "finished")
_PRIVATE_FIELDS = ("_id", "retry_active", "operation_id")


def ms(value: float | None) -> int | None:
    return None if value is None else round(value * 1000)


def job_state(job: Job, exclude: Iterable[str] = ()) -> dict[str, Any]:
    """ee2's JobState for one job: every stored field (times in epoch ms), job_id and retry_count;
    `exclude` drops top-level fields (job_id stays), as ee2's exclude_fields does."""
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
    else:
        state["job_input"].pop("meta", None)  # ee2 keeps run_job's meta as narrative_cell_info
    for key in exclude:
        if key != "job_id":
            state.pop(key, None)
    return state


def job_states(jobs: Sequence[Job], exclude: Iterable[str], as_list: bool) -> dict[str, Any]:
    """ee2's CheckJobsResults: {"job_states": [...]} in the order given, or {job_id: state}."""
    dropped = list(exclude)
    if as_list:
        return {"job_states": [job_state(j, dropped) for j in jobs]}
    return {j.id: job_state(j, dropped) for j in jobs}


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
    job_input = job.job_input
    if job_input is None:
        return {"batch_job": True, "child_jobs": list(job.child_jobs)}
    return {
        "method": job_input.method,
        "params": job_input.params,
        "service_ver": job_input.service_ver,
        "app_id": job_input.app_id,
        "wsid": job_input.wsid,
        "parent_job_id": job_input.parent_job_id,
        "source_ws_objects": list(job_input.source_ws_objects),
        "job_requirements": {
            "request_cpus": job_input.requirements.cpus,
            "request_memory": job_input.requirements.memory_mb,
            "request_disk": job_input.requirements.disk_gb,
            "client_group": job_input.requirements.client_group,
        },
        "user": job.user,
    }


_STORED_ONLY = ("code", "error_class")  # what a stored answer item keeps for replays only


def wire_items(answer: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ee2 wire form of the answer items."""
    return [{k: v for k, v in a.items() if k not in _STORED_ONLY} for a in answer]


def raise_item_error(item: Mapping[str, Any]) -> None:
    """retry_job: a refused item becomes the JSON-RPC error of its class."""
    err = error_of_item(item)
    if err is not None:
        raise err


_STATS_KEYS = ("clientgroup", "user", "app_id", "method", "wsid", "status")


def date_range_stats(states: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """ee2's stats block of a date-range answer: for each key, how many of the jobs have each value
    (looked up on the job, then its job_input, then its requirements; a missing value counts as null)."""
    stats: dict[str, Counter[str]] = {key: Counter() for key in _STATS_KEYS}
    for state in states:
        job_input = state.get("job_input") or {}
        reqs = job_input.get("requirements") or {}
        for key in _STATS_KEYS:
            value = state.get(key)
            value = job_input.get(key) if value is None else value
            value = reqs.get(key) if value is None else value
            stats[key]["null" if value is None else str(value)] += 1
    return {key: dict(counts) for key, counts in stats.items()}


def candidate(found: Candidate) -> dict[str, Any]:
    """A job retry_failed_jobs would retry (or retries): the original and its latest attempt."""
    return {
        "job_id": found.original.id,
        "latest_attempt_id": found.latest.id,
        "status": found.latest.status.value,
        "errormsg": found.latest.errormsg,
        "error_code": found.latest.error_code,
        "method": found.original.job_input.method if found.original.job_input else None,
        "user": found.original.user,
        "wsid": found.original.wsid,
    }
