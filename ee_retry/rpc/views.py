"""What ee2 shows on the wire: job records (millisecond timestamps, job_id, retry_count), job
parameters for the runner, and retry answer items (without their stored error codes)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ee_retry.domain.model import EE2_ONLY_FIELDS, Job, JobStatus, requirements_doc
from ee_retry.domain.policy.model import AutoRetry
from ee_retry.errors import error_of_item
from ee_retry.service.ops.retry_failed import Candidate


def ms(value: float | None) -> int | None:
    return None if value is None else round(value * 1000)


def job_state(job: Job, exclude: Iterable[str] = ()) -> dict[str, Any]:
    """ee2's JobState for one job: `doc_state` of its document, so both paths answer alike."""
    return doc_state(job.to_doc(), exclude)


def doc_state(doc: Mapping[str, Any], exclude: Iterable[str] = ()) -> dict[str, Any]:
    """ee2's JobState straight from a stored job document, read as `Job.from_doc` reads it (so it
    equals `job_state(Job.from_doc(doc))`) without building the job: every stored field (times in
    epoch ms), job_id and retry_count; `exclude` drops top-level fields (job_id stays), as ee2's
    exclude_fields does. Every check_job and check_jobs answer goes through here, so it reads each
    field once and calls nothing it need not."""
    get = doc.get
    status = doc["status"]
    if status not in _STATUSES:
        JobStatus(status)  # raises, as Job.from_doc does
    error, job_input, retry_ids = get("error"), get("job_input"), get("retry_ids")
    queued, estimating, running, finished = get("queued"), get("estimating"), get("running"), get("finished")
    batch_id, retry_parent = get("batch_id"), get("retry_parent")
    retry_ids = [str(r) for r in retry_ids] if retry_ids else []
    state: dict[str, Any] = {
        "job_id": str(doc["_id"]),
        "user": doc["user"],
        "authstrat": get("authstrat") or "kbaseworkspace",
        "wsid": get("wsid"),
        "status": status,
        "job_input": _input_state(job_input) if job_input else None,
        "created": round(float(get("created") or 0.0) * 1000),
        "updated": round(float(get("updated") or 0.0) * 1000),
        "queued": None if queued is None else round(queued * 1000),
        "estimating": None if estimating is None else round(estimating * 1000),
        "running": None if running is None else round(running * 1000),
        "finished": None if finished is None else round(finished * 1000),
        "errormsg": get("errormsg"),
        "error": dict(error) if error else None,
        "error_code": get("error_code"),
        "terminated_code": get("terminated_code"),
        "scheduler_type": get("scheduler_type"),
        "scheduler_id": get("scheduler_id"),
        "job_output": get("job_output"),
        "batch_job": bool(get("batch_job", False)),
        "batch_id": None if batch_id is None else str(batch_id),
        "child_jobs": [str(c) for c in get("child_jobs") or ()],
        "retry_ids": retry_ids,
        "retry_parent": None if retry_parent is None else str(retry_parent),
        "retry_saved_toggle": bool(get("retry_saved_toggle", False)),
    }
    if not job_input:
        del state["job_input"]
    if (failure := get("failure")) is not None:  # only on jobs that have them
        state["failure"] = dict(failure)
    if (auto := get("auto_retry")) is not None:
        state["auto_retry"] = AutoRetry.from_doc(auto).to_wire()
    for key in EE2_ONLY_FIELDS:
        if (value := get(key)) is not None:
            state[key] = value
    state["retry_count"] = len(retry_ids)
    for key in exclude:
        if key != "job_id":
            state.pop(key, None)
    return state


_STATUSES = frozenset(s.value for s in JobStatus)


def _input_state(job_input: Mapping[str, Any]) -> dict[str, Any]:
    """A stored job_input as `JobInput.from_doc` reads it and the wire shows it, without meta (ee2
    keeps run_job's meta as narrative_cell_info)."""
    get = job_input.get
    return {
        "method": job_input["method"],
        "service_ver": get("service_ver") or "",
        "params": get("params", []),
        "app_id": get("app_id"),
        "source_ws_objects": list(get("source_ws_objects") or ()),
        "wsid": get("wsid"),
        "parent_job_id": get("parent_job_id"),
        "requirements": requirements_doc(get("requirements") or {}),
        "narrative_cell_info": dict(get("narrative_cell_info") or {}),
    }


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def job_states(jobs: Sequence[Job], exclude: Iterable[str], as_list: bool) -> dict[str, Any]:
    """ee2's CheckJobsResults: {"job_states": [...]} in the order given, or {job_id: state}."""
    dropped = list(exclude)
    return states_answer([job_state(j, dropped) for j in jobs], as_list)


def doc_states(docs: Sequence[Mapping[str, Any]], exclude: Iterable[str], as_list: bool) -> dict[str, Any]:
    """job_states of stored documents (see doc_state)."""
    dropped = list(exclude)
    return states_answer([doc_state(d, dropped) for d in docs], as_list)


def states_answer(states: list[dict[str, Any]], as_list: bool) -> dict[str, Any]:
    if as_list:
        return {"job_states": states}
    return {s["job_id"]: s for s in states}


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
