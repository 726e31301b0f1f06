"""Bulk "Retry failed": the jobs page's filters, a preview, and one retry per preview on "Confirm".

The preview page draws one idempotency key and carries it into the Confirm form, so a second Confirm
of the same preview (a double click, a resent form) replays the first answer instead of retrying again.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from ee_retry.constants import RETRY_FAILED_MAX_LIMIT
from ee_retry.domain.model import RETRYABLE_STATUSES, JobStatus
from ee_retry.service import browse
from ee_retry.service.ops import retry_failed
from ee_retry.web.pages import Form, clean_filters, filter_time, form_key, read_form

if TYPE_CHECKING:
    from ee_retry.domain.values import User
    from ee_retry.web.routes import Console

PREVIEW_SHOWN = 50  # jobs listed on the preview page; the counts cover all of them


def failed_request(
    filters: dict[str, str], user: User, key: str | None, dry_run: bool
) -> retry_failed.RetryFailedRequest:
    """retry_failed_jobs' request for the jobs page's filters (its status filter only when retryable)."""
    status = filters.get("status")
    app = filters.get("app")
    statuses = (
        (JobStatus(status),)
        if status in {s.value for s in RETRYABLE_STATUSES}
        else retry_failed.FAILED_STATUSES
    )
    times = {k: filter_time(filters, k) for k in ("since", "until")}
    return retry_failed.RetryFailedRequest(
        filters=retry_failed.FailedJobFilters(
            statuses=statuses,
            user=filters.get("user"),
            method=app if app and "." in app else None,
            module=app if app and "." not in app else None,
            created_from=times["since"],
            created_to=times["until"],
        ),
        limit=RETRY_FAILED_MAX_LIMIT,
        dry_run=dry_run,
        as_admin=user.is_read_admin,
        idempotency_key=key,
    )


async def _filters_and_user(console: Console, request: Request) -> tuple[Form, dict[str, str], User]:
    form = await read_form(request)
    console.sessions.check_csrf(request, form.get("csrf"))
    user = await console.sessions.user(request)
    return form, clean_filters(form, user), user


async def preview(console: Console, request: Request) -> Response:
    _, filters, user = await _filters_and_user(console, request)
    found = await browse.preview_failed(console.deps, user, failed_request(filters, user, None, True))
    context: dict[str, Any] = {
        "user": user,
        "filters": filters,
        "would_retry": len(found.would_retry),
        "refused": sum(len(g.items) for g in found.refusals),
        "refusals": found.refusals,
        "jobs": [c.original.id for c in found.candidates[:PREVIEW_SHOWN]],
        "more": max(0, len(found.candidates) - PREVIEW_SHOWN),
        "idem": "bulk-" + secrets.token_urlsafe(18),
    }
    return console.render(request, "preview.html", **context)


async def confirm(console: Console, request: Request) -> Response:
    form, filters, user = await _filters_and_user(console, request)
    req = failed_request(filters, user, form_key(form), False)
    result = await retry_failed.retry_failed_jobs(console.deps, user, req)
    answer = result.answer or []
    errors = browse.answer_errors(answer)
    context: dict[str, Any] = {
        "user": user,
        "filters": filters,
        "retried": [(a["job_id"], a["retry_id"]) for a in answer if "retry_id" in a],
        "refusals": browse.group_refusals(errors),
        "refused": len(errors),
    }
    return console.render(request, "result.html", **context)
