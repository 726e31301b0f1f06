"""retry_failed_jobs: retry what failed, with a preview first.

It selects originals whose latest attempt failed and that have no attempt in flight,
page by page (three reads and one workspace call a page), and hands the selection to the same retry
path as retry_jobs. A non-admin's query only covers their own jobs and the workspaces they may write
(one more workspace call per request); each page is still checked job by job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from ee_retry.constants import MAX_JOB_IDS_PER_CALL, RETRY_FAILED_DEFAULT_LIMIT
from ee_retry.domain.access import Access, check_admin_flag, may_access
from ee_retry.domain.model import RETRYABLE_STATUSES, Job, JobStatus
from ee_retry.domain.values import JobQuery, User
from ee_retry.errors import PermissionDenied
from ee_retry.service.access import permissions_for
from ee_retry.service.deps import Deps
from ee_retry.service.submit import idempotency, retry
from ee_retry.service.submit.requests import RetryRequest

PAGE_SIZE = MAX_JOB_IDS_PER_CALL  # originals examined per round of reads while selecting
FAILED_STATUSES = (JobStatus.ERROR, JobStatus.TERMINATED)  # what "failed" means when no status is named


@dataclass(frozen=True)
class FailedJobFilters:
    """Which failed jobs retry_failed_jobs may select; None does not filter."""

    statuses: tuple[JobStatus, ...] = FAILED_STATUSES  # of the latest attempt
    user: str | None = None  # owner of the original (admins, or the caller naming themself)
    wsid: int | None = None
    method: str | None = None
    module: str | None = None  # any method of this module
    app_id: str | None = None
    batch_id: str | None = None
    error_code: int | None = None  # of the latest attempt
    created_from: float | None = None  # epoch seconds, inclusive; of the original
    created_to: float | None = None  # exclusive

    def to_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {k: v for k, v in self.__dict__.items() if v is not None}
        doc["statuses"] = [s.value for s in self.statuses]
        return doc


@dataclass(frozen=True)
class RetryFailedRequest:
    """retry_failed_jobs."""

    filters: FailedJobFilters
    limit: int = RETRY_FAILED_DEFAULT_LIMIT
    dry_run: bool = True
    as_admin: bool = False
    idempotency_key: str | None = None

    def origin(self) -> dict[str, Any]:
        """What the audit record keeps and an idempotency key is matched against."""
        return {
            "method": "retry_failed_jobs",
            "filters": self.filters.to_doc(),
            "limit": self.limit,
            "as_admin": self.as_admin,
        }


@dataclass(frozen=True)
class RetryFailedResult:
    """A preview (`candidates`) or, when not a dry run, the retry answer items as well."""

    candidates: list[Candidate]
    answer: list[dict[str, Any]] | None = None  # retry's answer items (with codes); None in a dry run

    @property
    def dry_run(self) -> bool:
        return self.answer is None


@dataclass(frozen=True)
class Candidate:
    """An original that would be retried, and its latest attempt (the original itself if none)."""

    original: Job
    latest: Job


async def retry_failed_jobs(deps: Deps, user: User, req: RetryFailedRequest) -> RetryFailedResult:
    """Select, then preview or retry through the retry_jobs path."""
    check_admin_flag(user, req.as_admin, Access.WRITE, "retry jobs")
    admin = req.as_admin and user.is_admin
    if req.filters.user is not None and req.filters.user != user.name and not admin:
        raise PermissionDenied("Only an EE2_ADMIN with as_admin may select another user's jobs")
    if not req.dry_run and req.idempotency_key is not None:
        held = await idempotency.holder(deps, user.name, req.idempotency_key)
        if held is not None:
            origin_hash = idempotency.request_hash(req.origin())
            return RetryFailedResult([], list(await idempotency.replay(deps, held, origin_hash)))
    candidates = await select_failed(deps, user, req.filters, req.limit, admin)
    if req.dry_run or not candidates:
        return RetryFailedResult(candidates, None if req.dry_run else [])
    retry_req = RetryRequest(
        job_ids=tuple(c.original.id for c in candidates),
        as_admin=req.as_admin,
        idempotency_key=req.idempotency_key,
    )
    answer = await retry.retry(deps, user, retry_req, origin=req.origin())
    return RetryFailedResult(candidates, answer)


async def select_failed(
    deps: Deps, user: User, filters: FailedJobFilters, limit: int, admin: bool
) -> list[Candidate]:
    """Up to `limit` originals the caller may retry whose latest attempt matches, oldest first."""
    query = await _originals_query(deps, user, filters, admin)
    selected: list[Candidate] = []
    offset = 0
    while len(selected) < limit:
        page = await deps.store.find_jobs(replace(query, limit=PAGE_SIZE, offset=offset))
        selected += await _select_page(deps, user, page, filters, admin)
        if len(page) < PAGE_SIZE:
            break
        offset += PAGE_SIZE
    return selected[:limit]


async def _originals_query(deps: Deps, user: User, filters: FailedJobFilters, admin: bool) -> JobQuery:
    """Originals that could qualify. An original with attempts is itself error or terminated, since
    only such jobs are ever retried; the latest attempt's status is checked per page."""
    users, wsids = await _scope(deps, user, filters, admin)
    return JobQuery(
        users=users,
        wsids=wsids,
        statuses=sorted(RETRYABLE_STATUSES),
        method=filters.method,
        module=filters.module,
        app_id=filters.app_id,
        batch_id=filters.batch_id,
        originals_only=True,
        exclude_batch_containers=True,
        created_from=filters.created_from,
        created_to=filters.created_to,
    )


async def _scope(
    deps: Deps, user: User, filters: FailedJobFilters, admin: bool
) -> tuple[list[str] | None, list[int] | None]:
    """The owners and workspaces the query covers (either matches when both are set; None: any).
    When only owners are set, a wsid filter is applied per page."""
    if filters.user is not None:
        return [filters.user], None  # a non-admin may only name themself (checked before)
    if admin:
        return None, [filters.wsid] if filters.wsid is not None else None
    writable = await deps.workspace.writable_workspaces(user)
    if filters.wsid is None:
        return [user.name], writable or None
    return (None, [filters.wsid]) if filters.wsid in writable else ([user.name], None)


async def _select_page(
    deps: Deps, user: User, page: Sequence[Job], filters: FailedJobFilters, admin: bool
) -> list[Candidate]:
    """The originals of one page that the caller may write, whose latest attempt matches."""
    if filters.wsid is not None:
        page = [j for j in page if j.wsid == filters.wsid]
    perms = await permissions_for(deps, user, page, admin)
    mine = [j for j in page if may_access(user, j, perms, Access.WRITE, admin)]
    if not mine:
        return []
    latest_ids = [j.retry_ids[-1] for j in mine if j.retry_ids]
    attempts = await deps.store.get_jobs(latest_ids) if latest_ids else {}
    in_flight = await deps.store.active_attempts([j.id for j in mine])
    out: list[Candidate] = []
    for original in mine:
        latest = attempts.get(original.retry_ids[-1]) if original.retry_ids else original
        if latest is not None and original.id not in in_flight and _matches(latest, filters):
            out.append(Candidate(original, latest))
    return out


def _matches(latest: Job, filters: FailedJobFilters) -> bool:
    if latest.status not in filters.statuses or latest.status not in RETRYABLE_STATUSES:
        return False
    return filters.error_code is None or latest.error_code == filters.error_code
