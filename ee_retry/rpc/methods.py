"""The ee2 methods this service answers: parse params, call the use case, shape the result."""

from __future__ import annotations

import os
from typing import Any

from ee_retry import __version__
from ee_retry.constants import DEFAULT_LOG_PAGE, MAX_DATE_RANGE_RESULTS, MAX_LOG_PAGE_LINES
from ee_retry.errors import InvalidParams
from ee_retry.rpc import params as rpc_params
from ee_retry.rpc.context import Call, Handler
from ee_retry.rpc.date_filters import parse_filter
from ee_retry.rpc.methods_ee2 import EE2_METHODS
from ee_retry.rpc.methods_ops import OPS_METHODS
from ee_retry.rpc.methods_policy import POLICY_METHODS
from ee_retry.rpc.views import (
    date_range_stats,
    doc_state,
    doc_states,
    job_state,
    log_page,
    ms,
    raise_item_error,
    run_job_params,
    wire_items,
)
from ee_retry.service import jobs
from ee_retry.service.submit import retry, run
from ee_retry.service.submit.idempotency import check_key
from ee_retry.service.submit.requests import DateRangeRequest, RetryRequest
from ee_retry.service.sync import callbacks

GIT_COMMIT = os.environ.get("EE_RETRY_GIT_COMMIT", "")  # set by a deployment that knows its commit


async def ver(call: Call, params: list[Any]) -> str:
    return __version__


async def status(call: Call, params: list[Any]) -> dict[str, Any]:
    """ee2's status shape (git_commit, version, service, server_time in epoch seconds) plus our own."""
    return {
        "git_commit": GIT_COMMIT,
        "version": __version__,
        "service": "ee-retry",
        "server_time": call.deps.clock.now(),
        "state": "OK",
        "scheduler": call.deps.scheduler.scheduler_type,
    }


async def run_job(call: Call, params: list[Any]) -> str:
    req = rpc_params.run_request(rpc_params.first_dict(params, "run_job"))
    return await run.run_job(call.deps, await call.user(), req)


async def run_job_batch(call: Call, params: list[Any]) -> dict[str, Any]:
    if not params or not isinstance(params[0], list):
        raise InvalidParams("run_job_batch takes a list of job params and a batch params object")
    batch = params[1] if len(params) > 1 and params[1] is not None else {}
    if not isinstance(batch, dict):
        raise InvalidParams("run_job_batch's second param (batch_params) must be an object")
    as_admin = rpc_params.flag(batch, "as_admin")
    reqs = []
    for i, item in enumerate(params[0]):
        if not isinstance(item, dict):
            raise InvalidParams(f"run_job_batch job {i} must be an object")
        reqs.append(rpc_params.run_request(item, as_admin))
    return await run.run_job_batch(
        call.deps, await call.user(), reqs, rpc_params.opt_int(batch, "wsid", 1), as_admin
    )


async def check_job(call: Call, params: list[Any]) -> dict[str, Any]:
    args = rpc_params.first_dict(params, "check_job")
    user = await call.user()
    [doc] = await jobs.check_job_docs(
        call.deps, user, [args.get("job_id")], rpc_params.flag(args, "as_admin")
    )
    return doc_state(doc, rpc_params.str_list(args, "exclude_fields"))


async def check_jobs(call: Call, params: list[Any]) -> dict[str, Any]:
    args = rpc_params.first_dict(params, "check_jobs")
    ids = rpc_params.opt_list(args, "job_ids")
    if ids is None:
        raise InvalidParams("'job_ids' is required: a list of job ids")
    found = await jobs.check_job_docs(call.deps, await call.user(), ids, rpc_params.flag(args, "as_admin"))
    return doc_states(found, rpc_params.str_list(args, "exclude_fields"), rpc_params.return_list(args))


async def check_job_batch(call: Call, params: list[Any]) -> dict[str, Any]:
    args = rpc_params.first_dict(params, "check_job_batch")
    container, children = await jobs.check_job_batch(
        call.deps, await call.user(), args.get("job_id"), rpc_params.flag(args, "as_admin")
    )
    exclude = rpc_params.str_list(args, "exclude_fields")
    return {
        "batch_jobstate": job_state(container, exclude),
        "child_jobstates": [job_state(c, exclude) for c in children],
    }


async def cancel_job(call: Call, params: list[Any]) -> None:
    args = rpc_params.first_dict(params, "cancel_job")
    code = rpc_params.terminated_code(args)
    await jobs.cancel_job(
        call.deps, await call.user(), args.get("job_id"), rpc_params.flag(args, "as_admin"), code
    )


async def check_job_canceled(call: Call, params: list[Any]) -> dict[str, Any]:
    args = rpc_params.first_dict(params, "check_job_canceled")
    [job] = await jobs.check_jobs(
        call.deps, await call.user(), [args.get("job_id")], rpc_params.flag(args, "as_admin")
    )
    return {"job_id": job.id, "finished": job.status.terminal, "canceled": job.status.value == "terminated"}


async def is_admin(call: Call, params: list[Any]) -> bool:
    """As in ee2: true for either admin role, read-only included."""
    return (await call.user()).is_read_admin


async def get_admin_permission(call: Call, params: list[Any]) -> dict[str, str]:
    user = await call.user()
    return {"permission": "w" if user.is_admin else "r" if user.is_read_admin else "n"}


def _date_range(args: dict[str, Any]) -> DateRangeRequest:
    ascending = args.get("ascending", True)
    if isinstance(ascending, str):
        ascending = ascending.lower() in ("true", "1", "+")
    return DateRangeRequest(
        start=rpc_params.epoch_seconds(args, "start_time"),
        end=rpc_params.epoch_seconds(args, "end_time"),
        user=rpc_params.opt_str(args, "user"),
        limit=min(rpc_params.opt_int(args, "limit", 1) or 2_000, MAX_DATE_RANGE_RESULTS),
        offset=rpc_params.opt_int(args, "offset", 0) or 0,
        ascending=bool(ascending),
        projection=tuple(rpc_params.str_list(args, "projection")),
        as_admin=rpc_params.flag(args, "as_admin"),
        conditions=tuple(parse_filter(args.get("filter"))),
    )


async def _date_range_result(call: Call, params: list[Any], for_all: bool) -> dict[str, Any]:
    args = rpc_params.first_dict(params, "check_jobs_date_range")
    req = _date_range(args)
    found, total = await jobs.jobs_in_range(call.deps, await call.user(), req, for_all)
    states = [job_state(j) for j in found]
    stats = date_range_stats(states)
    if req.projection:
        keep = {*req.projection, "job_id"}
        states = [{k: v for k, v in s.items() if k in keep} for s in states]
    return {
        "jobs": states,
        "count": len(states),
        "query_count": total,
        "filter": _applied_filter(args, req, for_all),
        "skip": req.offset,
        "projection": list(req.projection),
        "limit": req.limit,
        "sort_order": "+" if req.ascending else "-",
        "stats": stats,
    }


def _applied_filter(args: dict[str, Any], req: DateRangeRequest, for_all: bool) -> dict[str, Any]:
    """The filters applied, as ee2 echoes them: the caller's filter entries with the window and user."""
    raw = args.get("filter")
    given = dict(item.split("=") for item in raw) if isinstance(raw, list) else dict(raw or {})
    user = jobs.ALL_USERS if for_all else req.user
    return {**given, "created_from_ms": ms(req.start), "created_to_ms": ms(req.end), "user": user}


async def check_jobs_date_range_for_user(call: Call, params: list[Any]) -> dict[str, Any]:
    return await _date_range_result(call, params, for_all=False)


async def check_jobs_date_range_for_all(call: Call, params: list[Any]) -> dict[str, Any]:
    return await _date_range_result(call, params, for_all=True)


def _retry_request(args: dict[str, Any], ids: list[Any], single: bool) -> RetryRequest:
    return RetryRequest(
        job_ids=tuple(ids),
        as_admin=rpc_params.flag(args, "as_admin"),
        idempotency_key=check_key(args.get("idempotency_key")),
        job_requirements=rpc_params.requirements(args),
        single=single,
    )


async def retry_job(call: Call, params: list[Any]) -> dict[str, Any]:
    args = rpc_params.first_dict(params, "retry_job")
    if args.get("job_id") is None:
        raise InvalidParams("'job_id' is required")
    [item] = await retry.retry(call.deps, await call.user(), _retry_request(args, [args["job_id"]], True))
    raise_item_error(item)
    return {"job_id": item["job_id"], "retry_id": item["retry_id"]}


async def retry_jobs(call: Call, params: list[Any]) -> list[dict[str, Any]]:
    args = rpc_params.first_dict(params, "retry_jobs")
    ids = rpc_params.opt_list(args, "job_ids") or []
    answer = await retry.retry(call.deps, await call.user(), _retry_request(args, ids, False))
    return wire_items(answer)


async def start_job(call: Call, params: list[Any]) -> None:
    args = rpc_params.first_dict(params, "start_job")
    skip = rpc_params.flag(args, "skip_estimation") if args.get("skip_estimation") is not None else True
    await callbacks.start_job(
        call.deps, await call.user(), args.get("job_id"), rpc_params.flag(args, "as_admin"), skip
    )


async def finish_job(call: Call, params: list[Any]) -> None:
    args = rpc_params.first_dict(params, "finish_job")
    await callbacks.finish_job(
        call.deps,
        await call.user(),
        args.get("job_id"),
        rpc_params.flag(args, "as_admin"),
        error_message=rpc_params.opt_str(args, "error_message"),
        error_code=rpc_params.opt_int(args, "error_code"),
        error=rpc_params.job_error(args, "error"),
        job_output=args.get("job_output"),
    )


async def update_job_status(call: Call, params: list[Any]) -> str:
    args = rpc_params.first_dict(params, "update_job_status")
    user = await call.user()
    await callbacks.update_job_status(
        call.deps,
        user,
        args.get("job_id"),
        rpc_params.req_str(args, "status"),
        rpc_params.flag(args, "as_admin"),
    )
    return str(args.get("job_id"))


async def add_job_logs(call: Call, params: list[Any]) -> dict[str, Any]:
    args = rpc_params.first_dict(params, "add_job_logs")
    lines = params[1] if len(params) > 1 else None
    if not isinstance(lines, list) or not all(isinstance(ln, dict) for ln in lines):
        raise InvalidParams("add_job_logs takes {job_id} and a list of {line, is_error} objects")
    total = await callbacks.add_job_logs(
        call.deps, await call.user(), args.get("job_id"), lines, rpc_params.flag(args, "as_admin")
    )
    return {"success": True, "line_number": total}


async def get_job_logs(call: Call, params: list[Any]) -> dict[str, Any]:
    args = rpc_params.first_dict(params, "get_job_logs")
    skip = rpc_params.opt_int(args, "skip_lines", 0)
    if skip is None:
        skip = rpc_params.opt_int(args, "offset", 0) or 0
    limit = min(rpc_params.opt_int(args, "limit", 1) or DEFAULT_LOG_PAGE, MAX_LOG_PAGE_LINES)
    lines, total = await callbacks.get_job_logs(
        call.deps, await call.user(), args.get("job_id"), skip, limit, rpc_params.flag(args, "as_admin")
    )
    return log_page(lines, skip, total)


async def get_job_params(call: Call, params: list[Any]) -> dict[str, Any]:
    args = rpc_params.first_dict(params, "get_job_params")
    job = await callbacks.get_job_params(
        call.deps, await call.user(), args.get("job_id"), rpc_params.flag(args, "as_admin")
    )
    return run_job_params(job)


METHODS: dict[str, Handler] = {
    "ver": ver,
    "status": status,
    "run_job": run_job,
    "run_job_batch": run_job_batch,
    "check_job": check_job,
    "check_jobs": check_jobs,
    "check_job_batch": check_job_batch,
    "cancel_job": cancel_job,
    "check_job_canceled": check_job_canceled,
    "is_admin": is_admin,
    "get_admin_permission": get_admin_permission,
    "check_jobs_date_range_for_user": check_jobs_date_range_for_user,
    "check_jobs_date_range_for_all": check_jobs_date_range_for_all,
    "retry_job": retry_job,
    "retry_jobs": retry_jobs,
    "start_job": start_job,
    "finish_job": finish_job,
    "update_job_status": update_job_status,
    "add_job_logs": add_job_logs,
    "get_job_logs": get_job_logs,
    "get_job_params": get_job_params,
}

METHODS.update(EE2_METHODS)
METHODS.update(OPS_METHODS)
METHODS.update(POLICY_METHODS)

# Methods whose params are never stored; every other method's params are checked, before it runs,
# for values a store cannot hold (ee_retry.domain.storable).
READ_ONLY_METHODS = frozenset(
    {
        "ver",
        "status",
        "check_job",
        "check_jobs",
        "check_job_batch",
        "check_job_canceled",
        "is_admin",
        "get_admin_permission",
        "check_jobs_date_range_for_user",
        "check_jobs_date_range_for_all",
        "get_job_logs",
        "get_job_params",
        "get_job_lineage",
        "job_stats",
        "get_retry_policy",
        "list_config",
        "get_client_groups",
        "check_workspace_jobs",
        "get_job_status",
    }
)
