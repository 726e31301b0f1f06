"""Reading and cancelling jobs: check_job(s), check_job_batch, check_workspace_jobs, cancel_job,
abandon_children and date-range listings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from ee_retry.constants import MAX_WORKSPACE_JOBS
from ee_retry.domain.access import Access, check_admin_flag
from ee_retry.domain.model import ACTIVE_STATUSES, Job, TerminatedCode
from ee_retry.domain.status import cancelled
from ee_retry.domain.values import JobQuery, User
from ee_retry.errors import EERetryError, InvalidParams, PermissionDenied
from ee_retry.service.access import check_ids, load_accessible, load_one, load_readable_docs
from ee_retry.service.deps import Deps
from ee_retry.service.submit.requests import DateRangeRequest
from ee_retry.service.sync.status_sync import refresh_containers

T = TypeVar("T")


async def check_jobs(deps: Deps, user: User, ids: Sequence[object], as_admin: bool) -> list[Job]:
    """Jobs in the order asked; the first one the caller may not read fails the call."""
    checked = check_ids(ids)
    return _in_order(checked, await load_accessible(deps, user, checked, Access.READ, as_admin))


async def check_job_docs(
    deps: Deps, user: User, ids: Sequence[object], as_admin: bool
) -> list[dict[str, Any]]:
    """check_jobs as stored documents (rpc.views.doc_state shows them): no job is built."""
    checked = check_ids(ids)
    return _in_order(checked, await load_readable_docs(deps, user, checked, as_admin))


def _in_order(ids: Sequence[str], found: Mapping[str, T | EERetryError]) -> list[T]:
    """The items of `ids` in order; the first error among them is raised."""
    items: list[T] = []
    for job_id in ids:
        item = found[job_id]
        if isinstance(item, EERetryError):
            raise item
        items.append(item)
    return items


async def check_job_batch(deps: Deps, user: User, batch_id: object, as_admin: bool) -> tuple[Job, list[Job]]:
    """A batch container and its children (every attempt listed in child_jobs)."""
    container = await load_one(deps, user, batch_id, Access.READ, as_admin)
    if not container.batch_job:
        raise InvalidParams(f"Job {container.id} is not a batch job parent")
    children = await deps.store.get_jobs(container.child_jobs)
    return container, [children[c] for c in container.child_jobs if c in children]


async def workspace_jobs(deps: Deps, user: User, wsid: int, as_admin: bool) -> list[Job]:
    """Every job of a workspace (its `wsid`), oldest first, for a caller who may read the workspace
    or a read admin with as_admin; one indexed query, at most MAX_WORKSPACE_JOBS (the newest)."""
    check_admin_flag(user, as_admin, Access.READ)
    if not as_admin:
        perm = (await deps.workspace.permissions(user, [wsid])).get(wsid)
        if perm is None or not perm.can_read:
            raise PermissionDenied(
                f"User {user.name} does not have permission to read jobs in workspace {wsid}"
            )
    newest = await deps.store.find_jobs(JobQuery(wsids=[wsid], limit=MAX_WORKSPACE_JOBS, ascending=False))
    return newest[::-1]


async def cancel_job(
    deps: Deps,
    user: User,
    job_id: object,
    as_admin: bool,
    code: TerminatedCode = TerminatedCode.TERMINATED_BY_USER,
    reason: str | None = None,
) -> None:
    """Cancel a job with ee2's terminated_code (a container's active children get
    terminated_by_batch_abort); cancelling a finished job does nothing."""
    job = await load_one(deps, user, job_id, Access.WRITE, as_admin)
    now = deps.clock.now()
    changes = [cancelled(job.id, code, now, reason)]
    targets = [job]
    if job.batch_job:
        children = await deps.store.get_jobs(job.child_jobs)
        active = [c for c in children.values() if c.status in ACTIVE_STATUSES]
        targets += active
        changes += [cancelled(c.id, TerminatedCode.TERMINATED_BY_BATCH_ABORT, now, reason) for c in active]
    changed = await deps.store.transition(changes)
    sids = [t.scheduler_id for t in targets if t.id in changed and t.scheduler_id]
    if sids:
        await deps.scheduler.remove(sids, f"cancelled by {user.name}")
    # A cancelled child may have been its batch's last active one: the container follows at once (the
    # scheduler's report of the removed proc changes nothing on a job already terminated).
    await refresh_containers(deps, {t.batch_id for t in targets if t.id in changed and t.batch_id})


async def abandon_children(
    deps: Deps, user: User, batch_id: object, child_ids: Sequence[object], as_admin: bool
) -> list[str]:
    """ee2's abandon_children: drop children from a container the caller may write; every id must be
    one of its children. Returns the children left."""
    if not child_ids:
        raise InvalidParams("'child_job_ids' is required: the ids of the children to abandon")
    checked = check_ids(child_ids, "child_job_ids")
    container = await load_one(deps, user, batch_id, Access.WRITE, as_admin)
    if not container.batch_job:
        raise InvalidParams(f"Job {container.id} is not a batch job parent")
    missing = [c for c in checked if c not in container.child_jobs]
    if missing:
        raise InvalidParams(f"Jobs {missing} are not children of batch {container.id}")
    return await deps.store.remove_children(container.id, checked)


ALL_USERS = "ALL"  # ee2's date-range `user` meaning every user (admins only)


async def jobs_in_range(
    deps: Deps, user: User, req: DateRangeRequest, for_all: bool
) -> tuple[list[Job], int]:
    """Jobs created in [start, end) matching the request's conditions (one page) and how many match
    in all: the caller's own, another user's or, with user "ALL", everyone's (admins)."""
    if req.end <= req.start:
        raise InvalidParams("end_time must be after start_time")
    everyone = for_all or req.user == ALL_USERS
    if everyone or (req.user is not None and req.user != user.name):
        if not user.is_read_admin:
            raise PermissionDenied("Listing other users' jobs needs the EE2_ADMIN or EE2_ADMIN_RO role")
        check_admin_flag(user, True, Access.READ)
    query = JobQuery(
        users=None if everyone else [req.user or user.name],
        created_from=req.start,
        created_to=req.end,
        conditions=req.conditions,
        limit=req.limit,
        offset=req.offset,
        ascending=req.ascending,
    )
    counts = await deps.store.count_jobs(replace(query, limit=0, offset=0))
    return await deps.store.find_jobs(query), sum(counts.values())
