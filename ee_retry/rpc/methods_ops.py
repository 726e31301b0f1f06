"""Operator and user methods: retry_failed_jobs, get_job_lineage, job_stats (parse, call, shape)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ee_retry.domain.model import Job, JobStatus, Operation
from ee_retry.errors import InvalidParams
from ee_retry.rpc import params as rpc_params
from ee_retry.rpc.context import Call, Handler
from ee_retry.rpc.views import candidate, ms, wire_items
from ee_retry.service.ops import retry_failed
from ee_retry.service.ops.lineage import LineageEntry, job_lineage
from ee_retry.service.ops.stats import StatsRequest
from ee_retry.service.ops.stats import job_stats as count_jobs
from ee_retry.service.policy.cost import job_cost


async def retry_failed_jobs(call: Call, params: list[Any]) -> dict[str, Any]:
    req = rpc_params.retry_failed_request(rpc_params.first_dict(params, "retry_failed_jobs"))
    result = await retry_failed.retry_failed_jobs(call.deps, await call.user(), req)
    if result.dry_run:
        jobs = [candidate(c) for c in result.candidates]
        return {"dry_run": True, "count": len(jobs), "jobs": jobs}
    items = wire_items(result.answer or [])
    return {"dry_run": False, "count": len(items), "results": items}


def _requested(op: Operation | None) -> dict[str, Any] | None:
    """The audit record of the request that created a job: who, when, how, and what it chose (an
    admin's job_requirements override; retry_failed_jobs' filters and limit), when it chose it."""
    if op is None:
        return None
    record = {
        "by": op.user,
        "at": ms(op.created),
        "as_admin": bool(op.request.get("as_admin", False)),
        "idempotency_key": op.idempotency_key,
        "operation_id": op.id,
        "method": op.request.get("method"),
    }
    if op.request.get("job_requirements") is not None:
        record["job_requirements"] = _requirements_view(op.request["job_requirements"])
    origin = op.request.get("origin")
    if isinstance(origin, Mapping):
        if origin.get("filters") is not None:
            record["filters"] = _filters_view(origin["filters"])
        if origin.get("limit") is not None:
            record["limit"] = origin["limit"]
    return record


_REQUIREMENT_KEYS = {  # stored RequirementsOverride field -> ee2's job_requirements key
    "cpus": "request_cpus",
    "memory_mb": "request_memory",
    "disk_gb": "request_disk",
    "client_group": "client_group",
}


def _requirements_view(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A stored override in the shape it was asked for (ee2's job_requirements keys)."""
    return {_REQUIREMENT_KEYS.get(k, k): v for k, v in doc.items()}


def _filters_view(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Stored filters in the shape retry_failed_jobs takes them: `status`, and times in epoch ms."""
    view = {("status" if k == "statuses" else k): v for k, v in doc.items()}
    for key in ("created_from", "created_to"):
        if isinstance(view.get(key), int | float):
            view[key] = ms(view[key])
    return view


def _member(entry: LineageEntry) -> dict[str, Any]:
    job: Job = entry.job
    requested = _requested(entry.operation)
    if requested is not None and entry.operation is not None and job.retry_parent is not None:
        # an automatic retry's own resources (raised memory) for this attempt
        own = (entry.operation.request.get("requirements_by_original") or {}).get(job.retry_parent)
        if own:
            requested["job_requirements"] = _requirements_view(own)
    return {
        "job_id": job.id,
        "attempt": entry.attempt,
        "status": job.status.value,
        "created": ms(job.created),
        "queued": ms(job.queued),
        "running": ms(job.running),
        "finished": ms(job.finished),
        "user": job.user,
        "errormsg": job.errormsg,
        "error_code": job.error_code,
        "retry_of": job.retry_parent,
        "requested": requested,
    }


async def get_job_lineage(call: Call, params: list[Any]) -> dict[str, Any]:
    args = rpc_params.first_dict(params, "get_job_lineage")
    if args.get("job_id") is None:
        raise InvalidParams("'job_id' is required")
    lineage = await job_lineage(
        call.deps, await call.user(), args["job_id"], rpc_params.flag(args, "as_admin")
    )
    return {"original_id": lineage.original_id, "attempts": [_member(e) for e in lineage.entries]}


async def job_stats(call: Call, params: list[Any]) -> dict[str, Any]:
    args = rpc_params.first_dict(params, "job_stats", optional=True)
    req = StatsRequest(
        as_admin=rpc_params.flag(args, "as_admin"),
        user=rpc_params.opt_str(args, "user"),
        since=rpc_params.optional_time(args, "since"),
    )
    stats = await count_jobs(call.deps, await call.user(), req)
    cost = await job_cost(call.deps, stats.user, stats.since)
    attempts = stats.attempts
    in_flight = sum(n for s, n in attempts.items() if not s.terminal)
    return {
        "user": stats.user,
        "since": ms(stats.since),
        "counts": {s.value: n for s, n in stats.jobs.items()},
        "total": sum(stats.jobs.values()),
        "retries": {
            "attempts_started": sum(attempts.values()),
            "attempts_completed": attempts[JobStatus.COMPLETED],
            "attempts_failed": attempts[JobStatus.ERROR],
            "attempts_terminated": attempts[JobStatus.TERMINATED],
            "attempts_in_flight": in_flight,
        },
        "cost": cost.to_wire(),
    }


OPS_METHODS: dict[str, Handler] = {
    "retry_failed_jobs": retry_failed_jobs,
    "get_job_lineage": get_job_lineage,
    "job_stats": job_stats,
}
