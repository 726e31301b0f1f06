"""The rest of ee2's methods: check_workspace_jobs, get_job_status, list_config, get_client_groups,
abandon_children, handle_held_job and run_job_concierge (parse, call the use case, shape)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ee_retry import __version__
from ee_retry.domain.values import SchedulerKind
from ee_retry.errors import InvalidParams
from ee_retry.rpc import params as rpc_params
from ee_retry.rpc.context import Call, Handler
from ee_retry.rpc.views import job_state, job_states
from ee_retry.service import jobs
from ee_retry.service.submit import run
from ee_retry.service.sync import held
from ee_retry.settings import Settings


def workspace_id(args: dict[str, Any]) -> int:
    """ee2's spec types workspace_id as a string; the Narrative sends an integer. Either names one."""
    wsid = rpc_params.opt_int(args, "workspace_id", 1)
    if wsid is None:
        raise InvalidParams("'workspace_id' is required: a workspace id")
    return wsid


async def check_workspace_jobs(call: Call, params: list[Any]) -> dict[str, Any]:
    args = rpc_params.first_dict(params, "check_workspace_jobs")
    wsid = workspace_id(args)
    found = await jobs.workspace_jobs(call.deps, await call.user(), wsid, rpc_params.flag(args, "as_admin"))
    if not found:
        return {}  # as ee2: a workspace without jobs answers an empty mapping, whatever return_list
    return job_states(found, rpc_params.str_list(args, "exclude_fields"), rpc_params.return_list(args))


async def get_job_status(call: Call, params: list[Any]) -> dict[str, str]:
    args = rpc_params.first_dict(params, "get_job_status")
    [job] = await jobs.check_jobs(
        call.deps, await call.user(), [args.get("job_id")], rpc_params.flag(args, "as_admin")
    )
    return {"status": job.status.value}


def _public_url(url: str | None) -> str | None:
    """A URL without user info, query or fragment: list_config never hands out a credential."""
    if url is None:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _endpoint_url(settings: Settings, own: str | None, path: str) -> str | None:
    """A KBase service URL: its own setting, else the KBase endpoint plus the service's usual path."""
    if own is not None:
        return _public_url(own)
    if settings.kbase_endpoint is None:
        return None
    return _public_url(settings.kbase_endpoint.rstrip("/") + path)


def public_config(settings: Settings) -> dict[str, str | None]:
    """ee2's public configuration keys and ee.server.version; None where not configured."""
    auth = _public_url(settings.auth_url.rstrip("/")) if settings.auth_url else None
    return {
        "external-url": _public_url(settings.url),
        "kbase-endpoint": _public_url(settings.kbase_endpoint),
        "workspace-url": _endpoint_url(settings, settings.workspace_url, "/ws"),
        "catalog-url": _endpoint_url(settings, settings.catalog_url, "/catalog"),
        "shock-url": _endpoint_url(settings, None, "/shock-api"),
        "handle-url": _endpoint_url(settings, None, "/handle_service"),
        "srv-wiz-url": _endpoint_url(settings, None, "/service_wizard"),
        "auth-service-url": _endpoint_url(
            settings,
            auth and auth + "/api/legacy/KBase/Sessions/Login",
            "/auth/api/legacy/KBase/Sessions/Login",
        ),
        "auth-service-url-v2": _endpoint_url(settings, auth and auth + "/api/V2/token", "/auth/api/V2/token"),
        "auth-service-url-allow-insecure": "false",
        "scratch": settings.scratch,
        "executable": settings.condor_runner if settings.scheduler is SchedulerKind.CONDOR else None,
        "docker_timeout": None if settings.docker_timeout_s is None else str(settings.docker_timeout_s),
        "initialdir": settings.condor_initialdir,
        "ref_data_base": settings.ref_data_base,
        "ee.server.version": __version__,
    }


async def list_config(call: Call, params: list[Any]) -> dict[str, str | None]:
    return public_config(call.deps.settings)


async def get_client_groups(call: Call, params: list[Any]) -> list[str]:
    return list(call.deps.settings.client_groups)


async def abandon_children(call: Call, params: list[Any]) -> dict[str, Any]:
    args = rpc_params.first_dict(params, "abandon_children")
    child_ids = rpc_params.opt_list(args, "child_job_ids") or []
    left = await jobs.abandon_children(
        call.deps, await call.user(), args.get("batch_id"), child_ids, rpc_params.flag(args, "as_admin")
    )
    return {"batch_id": args.get("batch_id"), "child_job_ids": left}


async def handle_held_job(call: Call, params: list[Any]) -> dict[str, Any]:
    """ee2 answers the job's record (with `_id`); its cron script reads `_id`, `status`, `job_input`."""
    if not params or isinstance(params[0], dict | list):
        raise InvalidParams("handle_held_job takes one param: the HTCondor cluster id, e.g. ['1234']")
    job = await held.handle_held_job(call.deps, await call.user(), params[0])
    return {"_id": job.id, **job_state(job)}


async def run_job_concierge(call: Call, params: list[Any]) -> str:
    job = rpc_params.first_dict(params, "run_job_concierge")
    concierge = params[1] if len(params) > 1 and params[1] is not None else {}
    if not isinstance(concierge, dict):
        raise InvalidParams("run_job_concierge's second param (concierge_params) must be an object")
    override = rpc_params.concierge_requirements(concierge, call.deps.settings.client_groups)
    return await run.run_job_concierge(call.deps, await call.user(), rpc_params.run_request(job), override)


EE2_METHODS: dict[str, Handler] = {
    "check_workspace_jobs": check_workspace_jobs,
    "get_job_status": get_job_status,
    "list_config": list_config,
    "get_client_groups": get_client_groups,
    "abandon_children": abandon_children,
    "handle_held_job": handle_held_job,
    "run_job_concierge": run_job_concierge,
}
