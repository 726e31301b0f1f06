"""Query parameters of the REST API, parsed into the service's request values."""

from __future__ import annotations

from starlette.requests import Request

from ee_retry.constants import DEFAULT_LOG_PAGE, MAX_LOG_LINES_PER_CALL
from ee_retry.domain.model import JobStatus
from ee_retry.errors import InvalidParams
from ee_retry.rpc import params as rpc_params
from ee_retry.service.browse import LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT, JobListRequest

_STATUSES = sorted(s.value for s in JobStatus)


def _int(request: Request, key: str, default: int, low: int, high: int) -> int:
    text = request.query_params.get(key)
    if text is None:
        return default
    if not text.isascii() or not text.isdigit() or not low <= int(text) <= high:
        raise InvalidParams(f"'{key}' must be an integer from {low} to {high}")
    return int(text)


def _opt_text(request: Request, key: str) -> str | None:
    text = request.query_params.get(key)
    if text is not None and not text.strip():
        raise InvalidParams(f"'{key}' must not be empty")
    return text


def _time(request: Request, key: str) -> float | None:
    text = request.query_params.get(key)
    return None if text is None else rpc_params.epoch_seconds({key: text}, key, refuse_small_ints=True)


def _statuses(request: Request) -> tuple[JobStatus, ...]:
    names = request.query_params.getlist("status")
    for name in names:
        if name not in _STATUSES:
            raise InvalidParams(f"'status' {name!r} is not a job status; use one of {_STATUSES}")
    return tuple(dict.fromkeys(JobStatus(n) for n in names))


def job_list_request(request: Request) -> JobListRequest:
    wsid = request.query_params.get("wsid")
    return JobListRequest(
        statuses=_statuses(request),
        user=_opt_text(request, "user"),
        app=_opt_text(request, "app"),
        wsid=None if wsid is None else _int(request, "wsid", 0, 1, 2**53),
        batch_id=_opt_text(request, "batch_id"),
        since=_time(request, "since"),
        until=_time(request, "until"),
        limit=_int(request, "limit", LIST_DEFAULT_LIMIT, 1, LIST_MAX_LIMIT),
        cursor=_opt_text(request, "cursor"),
    )


def log_range(request: Request) -> tuple[int, int]:
    """(offset, limit) of a log page."""
    offset = _int(request, "offset", 0, 0, 2**53)
    limit = _int(request, "limit", DEFAULT_LOG_PAGE, 1, MAX_LOG_LINES_PER_CALL)
    return offset, limit
