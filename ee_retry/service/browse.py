"""What the REST API and the console show beyond ee2's methods, over the same rules.

- `list_jobs`: the jobs a caller may read, newest first, filtered, with counts per status and an
  opaque cursor (an offset under a fixed upper bound on `created`, so new jobs never shift a page).
- `job_detail`: one job with its lineage, its batch's counts, its log tail and whether a retry would
  be refused now and why (the retry path's own preflight, run without writing).
- `preview_failed`: retry_failed_jobs' selection with the refusals the retry path would give,
  grouped by reason.

Reads see everything an admin role allows; a write names `as_admin` only for a job the caller does not
own, so a read-only admin is told so by the same check JSON-RPC applies.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from ee_retry.domain.access import Access, check_admin_flag
from ee_retry.domain.ids import is_job_id
from ee_retry.domain.model import Job, JobStatus
from ee_retry.domain.values import JobQuery, User
from ee_retry.errors import EERetryError, InvalidParams, JobNotFound, PermissionDenied, error_of_item
from ee_retry.service.access import check_ids, load_accessible, load_one
from ee_retry.service.deps import Deps
from ee_retry.service.jobs import cancel_job
from ee_retry.service.ops import retry_failed
from ee_retry.service.ops.lineage import Lineage, job_lineage
from ee_retry.service.submit import retry
from ee_retry.service.submit.requests import RetryRequest
from ee_retry.service.submit.retry_plan import plan_retry

LIST_DEFAULT_LIMIT = 50  # jobs per page unless asked otherwise
LIST_MAX_LIMIT = 1_000  # one page's store work stays bounded
LOG_TAIL_LINES = 50  # log lines a job's detail carries
CURSOR_BOUND_STEP_S = 0.001  # the cursor's bound lies 1 ms (the wire's resolution) past page 1's newest


@dataclass(frozen=True)
class JobListRequest:
    """Filters of the job list; empty or None does not filter."""

    statuses: tuple[JobStatus, ...] = ()
    user: str | None = None
    app: str | None = None  # "Module" or "Module.method"
    wsid: int | None = None
    batch_id: str | None = None
    since: float | None = None  # created at or after, epoch seconds
    until: float | None = None  # created before
    limit: int = LIST_DEFAULT_LIMIT
    cursor: str | None = None


@dataclass(frozen=True)
class JobPage:
    jobs: list[Job]
    next_cursor: str | None
    counts: dict[JobStatus, int]  # every job the filters match, by status (the status filter aside)


def _encode_cursor(offset: int, bound: float) -> str:
    raw = json.dumps({"o": offset, "b": bound}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int, float]:
    foreign = InvalidParams("'cursor' is not one this service gave out; start again without it")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        doc = json.loads(raw)
        offset, bound = doc["o"], doc["b"]
    except (binascii.Error, ValueError, TypeError, KeyError) as exc:
        raise foreign from exc
    offset_ok = isinstance(offset, int) and not isinstance(offset, bool) and offset >= 0
    if not offset_ok or not isinstance(bound, int | float) or isinstance(bound, bool):
        raise foreign
    return offset, float(bound)


async def _scope(deps: Deps, user: User, req: JobListRequest) -> tuple[list[str] | None, list[int] | None]:
    """Owners and workspaces the list covers (either matches when both are set; None: any)."""
    if user.is_read_admin:
        return ([req.user] if req.user is not None else None), None
    if req.user is not None and req.user != user.name:
        raise PermissionDenied("Listing another user's jobs needs the EE2_ADMIN or EE2_ADMIN_RO role")
    if req.user is not None:
        return [user.name], None
    return [user.name], (await deps.workspace.readable_workspaces(user)) or None


def _module_and_method(app: str | None) -> tuple[str | None, str | None]:
    if app is None:
        return None, None
    return (None, app) if "." in app else (app, None)


async def list_jobs(deps: Deps, user: User, req: JobListRequest) -> JobPage:
    """One page of the jobs the caller may read, newest first."""
    if not 1 <= req.limit <= LIST_MAX_LIMIT:
        raise InvalidParams(f"'limit' must be between 1 and {LIST_MAX_LIMIT}")
    if req.batch_id is not None:
        check_ids([req.batch_id], "batch_id")
    offset, bound = _decode_cursor(req.cursor) if req.cursor else (0, None)
    users, wsids = await _scope(deps, user, req)
    module, method = _module_and_method(req.app)
    until = req.until if bound is None else min(bound, req.until) if req.until is not None else bound
    query = JobQuery(
        users=users,
        wsids=wsids,
        wsid=req.wsid,
        method=method,
        module=module,
        batch_id=req.batch_id,
        created_from=req.since,
        created_to=until,
        ascending=False,
    )
    counts = await deps.store.count_jobs(query)
    page_query = replace(query, statuses=list(req.statuses) or None, limit=req.limit + 1, offset=offset)
    found = await deps.store.find_jobs(page_query)
    jobs = found[: req.limit]
    next_cursor = None
    if len(found) > req.limit:
        if bound is None:
            bound = jobs[0].created + CURSOR_BOUND_STEP_S
        next_cursor = _encode_cursor(offset + req.limit, bound)
    return JobPage(jobs, next_cursor, counts)


# ---------------------------------------------------------------- one job


@dataclass(frozen=True)
class BatchSummary:
    container_id: str
    counts: dict[JobStatus, int]  # children (and their attempts) by status


@dataclass(frozen=True)
class LogTail:
    lines: list[dict[str, Any]]
    first: int  # the position of lines[0]
    total: int


@dataclass(frozen=True)
class JobDetail:
    job: Job
    lineage: Lineage
    batch: BatchSummary | None
    logs: LogTail
    retry_refusal: EERetryError | None  # why a retry would be refused now; None: it may be retried


async def write_as_admin(deps: Deps, user: User, job_id: object) -> bool:
    """`as_admin` for a write a face makes on the caller's behalf: only on another user's job."""
    if not user.is_read_admin or not is_job_id(job_id):
        return False
    job = (await deps.store.get_jobs([str(job_id)])).get(str(job_id))
    return job is not None and job.user != user.name


async def explain_write_denial(deps: Deps, user: User, job_id: object, err: EERetryError) -> EERetryError:
    """A write refused as "no such job" becomes "not allowed" when the caller may read the job: a
    reader already knows it exists, and is better told why nothing happened."""
    if not isinstance(err, JobNotFound) or not is_job_id(job_id):
        return err
    found = await load_accessible(deps, user, [str(job_id)], Access.READ, user.is_read_admin)
    if isinstance(found[str(job_id)], EERetryError):
        return err
    return PermissionDenied(
        f"You may read job {job_id} but not change it: it is not yours, and you may not write its workspace"
    )


async def retry_one(deps: Deps, user: User, job_id: object, idempotency_key: str | None) -> dict[str, Any]:
    """retry_job on the caller's behalf (`as_admin` by write_as_admin): `{job_id, retry_id}`, or the
    refusal raised (a caller who may read the job is told they may not write it)."""
    req = RetryRequest(
        job_ids=(job_id,),
        as_admin=await write_as_admin(deps, user, job_id),
        idempotency_key=idempotency_key,
        single=True,
    )
    [item] = await retry.retry(deps, user, req)
    for _, refusal in answer_errors([item]):
        raise await explain_write_denial(deps, user, job_id, refusal)
    return {"job_id": item["job_id"], "retry_id": item["retry_id"]}


async def cancel_one(deps: Deps, user: User, job_id: object) -> None:
    """cancel_job on the caller's behalf, as retry_one."""
    try:
        await cancel_job(deps, user, job_id, await write_as_admin(deps, user, job_id))
    except EERetryError as exc:
        raise await explain_write_denial(deps, user, job_id, exc) from None


async def retry_refusal(deps: Deps, user: User, job: Job) -> EERetryError | None:
    """What retry_job would answer for this job now, short of writing: None, or the refusal."""
    as_admin = user.is_read_admin and job.user != user.name
    try:
        check_admin_flag(user, as_admin, Access.WRITE, "retry jobs")
    except PermissionDenied as exc:
        return exc
    plan = await plan_retry(deps, user, RetryRequest((job.id,), as_admin=as_admin, single=True))
    err = plan.items[0].error
    return None if err is None else await explain_write_denial(deps, user, job.id, err)


async def log_tail(deps: Deps, job_id: str, lines: int = LOG_TAIL_LINES) -> LogTail:
    _, total = await deps.store.get_logs(job_id, 0, 0)
    first = max(0, total - lines)
    found, total = await deps.store.get_logs(job_id, first, lines)
    return LogTail(found, first, total)


async def job_detail(deps: Deps, user: User, job_id: object) -> JobDetail:
    """A job the caller may read, with everything its forensics page shows."""
    job = await load_one(deps, user, job_id, Access.READ, user.is_read_admin)
    lineage = await job_lineage(deps, user, job.id, user.is_read_admin)
    container_id = job.id if job.batch_job else job.batch_id
    batch = None
    if container_id is not None:
        counts = await deps.store.count_jobs(JobQuery(batch_id=container_id))
        batch = BatchSummary(container_id, counts)
    refusal = await retry_refusal(deps, user, job)
    return JobDetail(job, lineage, batch, await log_tail(deps, job.id), refusal)


# ---------------------------------------------------------------- bulk


@dataclass(frozen=True)
class Refusals:
    """Items refused for one reason (an error class's name), with each item's own message."""

    reason: str
    code: int
    items: list[tuple[str, str]]  # (job id, message)


@dataclass(frozen=True)
class FailedPreview:
    candidates: list[retry_failed.Candidate]
    would_retry: list[str]  # originals the retry path would accept now
    refusals: list[Refusals]


def group_refusals(items: Sequence[tuple[str, EERetryError]]) -> list[Refusals]:
    """Refused items grouped by their error class, largest group first."""
    groups: dict[type[EERetryError], list[tuple[str, str]]] = defaultdict(list)
    for job_id, err in items:
        groups[type(err)].append((job_id, err.message))
    ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0].name))
    return [Refusals(cls.name, cls.code, found) for cls, found in ordered]


def answer_errors(answer: Sequence[dict[str, Any]]) -> list[tuple[str, EERetryError]]:
    """The refused items of a retry answer, as errors of their class."""
    errors = [(str(a["job_id"]), error_of_item(a)) for a in answer]
    return [(job_id, err) for job_id, err in errors if err is not None]


async def preview_failed(deps: Deps, user: User, req: retry_failed.RetryFailedRequest) -> FailedPreview:
    """retry_failed_jobs' dry run, plus what the retry path would refuse among what it selected."""
    result = await retry_failed.retry_failed_jobs(deps, user, replace(req, dry_run=True))
    if not result.candidates:
        return FailedPreview([], [], [])
    ids = tuple(c.original.id for c in result.candidates)
    plan = await plan_retry(deps, user, RetryRequest(ids, as_admin=req.as_admin))
    refused = [(str(i.named_id), i.error) for i in plan.items if i.error is not None]
    accepted = [str(i.named_id) for i in plan.items if i.error is None]
    return FailedPreview(result.candidates, accepted, group_refusals(refused))
