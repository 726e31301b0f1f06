"""Reading and cancelling jobs: check_job(s), check_job_batch, cancel_job, date-range listings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ee_retry.domain.access import Access, check_admin_flag
from ee_retry.domain.model import ACTIVE_STATUSES, Job
from ee_retry.domain.status import cancelled
from ee_retry.domain.values import JobQuery, User
from ee_retry.errors import EERetryError, InvalidParams, PermissionDenied
from ee_retry.service.access import check_ids, load_accessible, load_one
from ee_retry.service.deps import Deps
from ee_retry.service.submit.requests import DateRangeRequest


async def check_jobs(deps: Deps, user: User, ids: Sequence[object], as_admin: bool) -> list[Job]:
    """Jobs in the order asked; the first one the caller may not read fails the call."""
    checked = check_ids(ids)
    found = await load_accessible(deps, user, checked, Access.READ, as_admin)
    jobs: list[Job] = []
    for job_id in checked:
        item = found[job_id]
        if isinstance(item, EERetryError):
            raise item
        jobs.append(item)
    return jobs


async def check_job_batch(deps: Deps, user: User, batch_id: object, as_admin: bool) -> tuple[Job, list[Job]]:
    """A batch container and its children (every attempt listed in child_jobs)."""
    container = await load_one(deps, user, batch_id, Access.READ, as_admin)
    if not container.batch_job:
        raise InvalidParams(f"Job {container.id} is not a batch job parent")
    children = await deps.store.get_jobs(container.child_jobs)
    return container, [children[c] for c in container.child_jobs if c in children]


async def cancel_job(
    deps: Deps, user: User, job_id: object, as_admin: bool, reason: str | None = None
) -> None:
    """Cancel a job (a container cancels its active children); cancelling a finished job does nothing."""
    job = await load_one(deps, user, job_id, Access.WRITE, as_admin)
    targets = [job]
    if job.batch_job:
        children = await deps.store.get_jobs(job.child_jobs)
        targets += [c for c in children.values() if c.status in ACTIVE_STATUSES]
    now = deps.clock.now()
    by_admin = as_admin and job.user != user.name
    changed = await deps.store.transition([cancelled(t.id, by_admin, now, reason) for t in targets])
    sids = [t.scheduler_id for t in targets if t.id in changed and t.scheduler_id]
    if sids:
        await deps.scheduler.remove(sids, f"cancelled by {user.name}")


async def jobs_in_range(
    deps: Deps, user: User, req: DateRangeRequest, for_all: bool
) -> tuple[list[Job], int]:
    """Jobs created in [start, end) (one page) and how many match in all: the caller's own,
    another user's (admin), or everyone's (admin)."""
    if req.end <= req.start:
        raise InvalidParams("end_time must be after start_time")
    if for_all or (req.user is not None and req.user != user.name):
        if not user.is_read_admin:
            raise PermissionDenied("Listing other users' jobs needs the EE2_ADMIN or EE2_ADMIN_RO role")
        check_admin_flag(user, True, Access.READ)
    users = None if for_all else [req.user or user.name]
    query = JobQuery(
        users=users,
        created_from=req.start,
        created_to=req.end,
        limit=req.limit,
        offset=req.offset,
        ascending=req.ascending,
    )
    counts = await deps.store.count_jobs(replace(query, limit=0, offset=0))
    return await deps.store.find_jobs(query), sum(counts.values())
