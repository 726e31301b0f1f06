"""Reading the console's forms and queries, and the plain values each page's template gets."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.requests import Request

from ee_retry.api.body import read_body
from ee_retry.domain.model import JobStatus
from ee_retry.domain.values import User
from ee_retry.errors import InvalidParams
from ee_retry.rpc import params as rpc_params
from ee_retry.service import browse
from ee_retry.service.submit.idempotency import check_key
from ee_retry.web import present

Form = dict[str, str]
FILTER_KEYS = ("status", "app", "since", "until", "user")
STATUSES = [s.value for s in present.STATUS_ORDER]
MAX_LOG_LINES = 10_000  # "Load more" stops growing the tail here
LOG_STEP = 50


async def read_form(request: Request) -> Form:
    """An urlencoded form body (the console sends no other kind); the last value of a repeated field."""
    raw = (await read_body(request)).decode("utf-8", errors="replace")
    return {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}


def local_path(value: str | None, fallback: str) -> str:
    """A redirect target inside the console, never another site."""
    if value and value.startswith("/ui/") and not value.startswith("//") and "\\" not in value:
        return value
    return fallback


def form_key(form: Form) -> str | None:
    return check_key(form.get("idem") or None)


def clean_filters(source: Any, user: User) -> dict[str, str]:
    """The non-empty filters among FILTER_KEYS (user only for admins)."""
    out = {k: str(source.get(k, "")).strip() for k in FILTER_KEYS}
    if not user.is_read_admin:
        out["user"] = ""
    return {k: v for k, v in out.items() if v}


def list_filters(request: Request, user: User) -> dict[str, str]:
    return clean_filters(request.query_params, user)


def filter_time(filters: dict[str, str], key: str) -> float | None:
    return rpc_params.epoch_seconds(filters, key, refuse_small_ints=True) if key in filters else None


def list_request(filters: dict[str, str], request: Request) -> browse.JobListRequest:
    status = filters.get("status")
    if status is not None and status not in STATUSES:
        raise InvalidParams(f"Unknown status {status!r}")
    return browse.JobListRequest(
        statuses=(JobStatus(status),) if status else (),
        user=filters.get("user"),
        app=filters.get("app"),
        since=filter_time(filters, "since"),
        until=filter_time(filters, "until"),
        cursor=request.query_params.get("cursor") or None,
    )


def jobs_context(user: User, filters: dict[str, str], page: browse.JobPage) -> dict[str, Any]:
    counts = present.counts(page.counts)
    for count in counts:
        count["url"] = "/ui/?" + urlencode({**filters, "status": count["status"]})
    return {
        "user": user,
        "filters": filters,
        "statuses": STATUSES,
        "counts": counts,
        "rows": [present.row(j) for j in page.jobs],
        "here": "/ui/?" + urlencode(filters),
        "next_url": None
        if page.next_cursor is None
        else "/ui/?" + urlencode({**filters, "cursor": page.next_cursor}),
    }


def log_lines_wanted(request: Request) -> int:
    text = request.query_params.get("lines", "")
    if text.isascii() and text.isdigit():
        return max(browse.LOG_TAIL_LINES, min(int(text), MAX_LOG_LINES))
    return browse.LOG_TAIL_LINES


def _lineage(detail: browse.JobDetail) -> list[dict[str, Any]]:
    members = []
    for entry in detail.lineage.entries:
        job = entry.job
        if entry.attempt == 0:
            relation = "original"
        else:
            relation = f"attempt {entry.attempt} of {detail.lineage.original_id}"
        members.append(
            {
                **present.row(job),
                "attempt": entry.attempt,
                "relation": relation,
                "this": job.id == detail.job.id,
            }
        )
    return members


def job_context(user: User, detail: browse.JobDetail, lines: int, retried: str | None) -> dict[str, Any]:
    job = detail.job
    job_input = job.job_input
    refusal = detail.retry_refusal
    original_id = detail.lineage.original_id
    attempts = [e.job.id for e in detail.lineage.entries if e.attempt > 0]
    return {
        "user": user,
        "job": present.row(job),
        "module_method": present.app_of(job),
        "commit": job_input.service_ver if job_input else None,
        "app_id": job_input.app_id if job_input else None,
        "wsid": job.wsid,
        "requirements": present.requirements(job),
        "timeline": present.timeline(job),
        "failed": job.status in (JobStatus.ERROR, JobStatus.TERMINATED),
        "errormsg": job.errormsg,
        "error_code": job.error_code,
        "error_detail": json.dumps(job.error, indent=2, sort_keys=True, default=str) if job.error else None,
        "logs": [{**ln, "pos": detail.logs.first + i} for i, ln in enumerate(detail.logs.lines)],
        "log_total": detail.logs.total,
        "more_lines": lines + LOG_STEP if detail.logs.first > 0 and lines < MAX_LOG_LINES else None,
        "lineage": _lineage(detail),
        "attempt_of": original_id if job.id != original_id else None,
        "retried_as": attempts if job.id == original_id else [],
        "batch": None
        if detail.batch is None
        else {"id": detail.batch.container_id, "counts": present.counts(detail.batch.counts)},
        "retry_allowed": refusal is None,
        "retry_reason": None if refusal is None else refusal.message,
        "retried": retried if retried in attempts else None,
    }
