"""run_job and run_job_batch: resolve versions, check permissions, then the submission lifecycle."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from ee_retry.constants import MAX_BATCH_JOBS
from ee_retry.domain.access import Access, check_admin_flag
from ee_retry.domain.ids import new_id
from ee_retry.domain.jobs import new_container, new_job
from ee_retry.domain.model import JobInput, Operation, OperationKind
from ee_retry.domain.values import User
from ee_retry.errors import InvalidParams, PermissionDenied, shown
from ee_retry.service.deps import Deps
from ee_retry.service.submit.requests import RequirementsOverride, RunRequest
from ee_retry.service.submit.specs import specs_builder
from ee_retry.service.submit.submission import reserve, submit_reserved

_METHOD = re.compile(r"[A-Za-z][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class _Resolved:
    request: RunRequest
    job_input: JobInput


async def run_job(deps: Deps, user: User, req: RunRequest) -> str:
    """Record one job and hand it to the scheduler; returns its id."""
    [resolved] = await _resolve_all(deps, user, [req], req.as_admin)
    now = deps.clock.now()
    op_id = new_id(now)
    job = new_job(new_id(now), user.name, resolved.job_input, now, op_id)
    request = {"method": "run_job", "as_admin": req.as_admin}
    op = Operation.reserving(op_id, OperationKind.RUN, user.name, now, (job.id,), request)
    reservation = await reserve(deps, op, [job], answer=job.id)
    await submit_reserved(deps, reservation, specs_builder(deps, user.token))
    return job.id


async def run_job_concierge(deps: Deps, user: User, req: RunRequest, override: RequirementsOverride) -> str:
    """run_job with the resources, client group and account group an EE2_ADMIN chose."""
    check_admin_flag(user, True, Access.WRITE, "run concierge jobs")
    return await run_job(deps, user, replace(req, job_requirements=override, as_admin=True))


async def run_job_batch(
    deps: Deps, user: User, reqs: Sequence[RunRequest], wsid: int | None, as_admin: bool
) -> dict[str, Any]:
    """A batch container and its children, all children in one scheduler transaction."""
    if not reqs:
        raise InvalidParams("run_job_batch needs at least one job in params")
    if len(reqs) > MAX_BATCH_JOBS:
        raise InvalidParams(f"{len(reqs)} jobs in one batch; at most {MAX_BATCH_JOBS}")
    resolved = await _resolve_all(deps, user, reqs, as_admin, batch_wsid=wsid)
    now = deps.clock.now()
    op_id = new_id(now)
    batch_id = new_id(now)
    children = [new_job(new_id(now), user.name, r.job_input, now, op_id, batch_id=batch_id) for r in resolved]
    container = new_container(batch_id, user.name, wsid, [c.id for c in children], now, op_id)
    jobs = [container, *children]
    answer = {"batch_id": batch_id, "child_job_ids": [c.id for c in children]}
    request = {"method": "run_job_batch", "as_admin": as_admin}
    op = Operation.reserving(op_id, OperationKind.BATCH, user.name, now, tuple(j.id for j in jobs), request)
    reservation = await reserve(deps, op, jobs, answer=answer)
    await submit_reserved(deps, reservation, specs_builder(deps, user.token))
    return answer


async def _resolve_all(
    deps: Deps, user: User, reqs: Sequence[RunRequest], as_admin: bool, batch_wsid: int | None = None
) -> list[_Resolved]:
    """Validate every request and resolve its version before anything is written."""
    check_admin_flag(user, as_admin, Access.WRITE, "run jobs as an admin")
    for req in reqs:
        if not _METHOD.fullmatch(req.method):
            raise InvalidParams(f"method must look like 'Module.method', not {shown(req.method)}")
        if req.job_requirements is not None and not (as_admin and user.is_admin):
            raise PermissionDenied("job_requirements may only be set by an EE2_ADMIN with as_admin")
    await _check_workspaces(deps, user, [r.wsid for r in reqs] + [batch_wsid], as_admin)
    out: list[_Resolved] = []
    for req in reqs:
        module, function = req.method.split(".", 1)
        version = await deps.catalog.resolve(module, req.service_ver, function)
        requirements = version.requirements
        if req.job_requirements is not None:
            requirements = req.job_requirements.apply(requirements)
        job_input = JobInput(
            method=req.method,
            service_ver=version.git_commit_hash,
            params=req.params if req.params is not None else [],
            app_id=req.app_id,
            source_ws_objects=req.source_ws_objects,
            wsid=req.wsid if req.wsid is not None else batch_wsid,
            parent_job_id=req.parent_job_id,
            requirements=requirements,
            narrative_cell_info=req.narrative_cell_info,
            meta=req.meta,
        )
        out.append(_Resolved(req, job_input))
    return out


async def _check_workspaces(deps: Deps, user: User, wsids: Sequence[int | None], as_admin: bool) -> None:
    """A job may only be run in a workspace the caller may write (one workspace call)."""
    wanted = sorted({w for w in wsids if w is not None})
    if not wanted or (as_admin and user.is_admin):
        return
    perms = await deps.workspace.permissions(user, wanted)
    denied = [w for w in wanted if not perms.get(w) or not perms[w].can_write]
    if denied:
        raise PermissionDenied(f"You may not write workspace {denied[0]}, so you may not run jobs in it")
