"""RFC 9457 problem details: the one mapping from the error tree to HTTP answers of the REST API."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from ee_retry import errors as e

PROBLEM_TYPE = "application/problem+json"
TYPE_BASE = "urn:ee-retry:error:"  # type URIs name the error class; they are not meant to be fetched

# Most specific class first: a subclass may answer differently from its parent.
_STATUS: tuple[tuple[type[e.EERetryError], int], ...] = (
    (e.RequestTooLarge, 413),
    (e.ParseError, 400),
    (e.InvalidRequest, 400),
    (e.InvalidParams, 400),
    (e.MethodNotFound, 404),
    (e.AuthenticationError, 401),
    (e.PermissionDenied, 403),
    (e.JobNotFound, 404),
    (e.InvalidStatusTransition, 409),
    (e.RetryNotAllowed, 409),
    (e.UnknownModule, 409),
    (e.IdempotencyConflict, 409),
    (e.SchedulerUnavailable, 503),
    (e.StoreUnavailable, 503),
    (e.DependencyUnavailable, 503),
    (e.OperationTakenOver, 409),
)


def http_status(err: e.EERetryError) -> int:
    for cls, status in _STATUS:
        if isinstance(err, cls):
            return status
    return 500


def problem(exc: BaseException) -> dict[str, Any]:
    """The problem object of any exception; unknown ones say nothing about internals."""
    err = exc if isinstance(exc, e.EERetryError) else e.InternalError()
    slug = type(err).__name__
    return {
        "type": f"{TYPE_BASE}{slug}",
        "title": err.name,
        "status": http_status(err),
        "detail": err.message,
        "name": err.name,
        "code": err.code,
    }


def problem_response(exc: BaseException) -> JSONResponse:
    body = problem(exc)
    headers = {"WWW-Authenticate": 'Bearer realm="ee-retry"'} if body["status"] == 401 else None
    return JSONResponse(body, status_code=body["status"], media_type=PROBLEM_TYPE, headers=headers)
