"""job_stats: job counts per status, and retry attempts per status."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ee_retry.domain.access import Access, check_admin_flag
from ee_retry.domain.model import JobStatus
from ee_retry.domain.values import JobQuery, User
from ee_retry.errors import PermissionDenied
from ee_retry.service.deps import Deps


@dataclass(frozen=True)
class StatsRequest:
    """job_stats: the caller's own jobs, or (read admins with as_admin) one user's or everyone's."""

    as_admin: bool = False
    user: str | None = None
    since: float | None = None  # epoch seconds; only jobs created at or after it


@dataclass(frozen=True)
class JobStats:
    """Jobs per status (batch containers excluded) and retry attempts per status."""

    user: str | None  # None: every user
    since: float | None
    jobs: dict[JobStatus, int]
    attempts: dict[JobStatus, int]


async def job_stats(deps: Deps, user: User, req: StatsRequest) -> JobStats:
    """Two counts: every job, and originals; attempts are the difference, per status."""
    check_admin_flag(user, req.as_admin, Access.READ)
    admin = req.as_admin and user.is_read_admin
    if req.user is not None and req.user != user.name and not admin:
        raise PermissionDenied(
            "Counting another user's jobs needs as_admin and the EE2_ADMIN or EE2_ADMIN_RO role"
        )
    scope = req.user if admin else user.name
    query = JobQuery(
        users=[scope] if scope is not None else None, created_from=req.since, exclude_batch_containers=True
    )
    every = await deps.store.count_jobs(query)
    originals = await deps.store.count_jobs(replace(query, originals_only=True))
    attempts = {s: every.get(s, 0) - originals.get(s, 0) for s in JobStatus}
    return JobStats(scope, req.since, {s: every.get(s, 0) for s in JobStatus}, attempts)
