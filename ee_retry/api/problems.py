"""RFC 9457 problem details: the one mapping from the error tree to HTTP answers of the REST API."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from ee_retry import errors

PROBLEM_TYPE = "application/problem+json"
TYPE_BASE = "urn:ee-retry:error:"  # type URIs name the error class; they are not meant to be fetched

# Most specific class first: a subclass may answer differently from its parent.
_STATUS: tuple[tuple[type[errors.EERetryError], int], ...] = (
    (errors.RequestTooLarge, 413),
    (errors.ParseError, 400),
    (errors.InvalidRequest, 400),
    (errors.InvalidParams, 400),
    (errors.MethodNotFound, 404),
    (errors.AuthenticationError, 401),
    (errors.PermissionDenied, 403),
    (errors.JobNotFound, 404),
    (errors.InvalidStatusTransition, 409),
    (errors.RetryNotAllowed, 409),
    (errors.UnknownModule, 409),
    (errors.IdempotencyConflict, 409),
    (errors.SchedulerUnavailable, 503),
    (errors.StoreUnavailable, 503),
    (errors.DependencyUnavailable, 503),
    (errors.OperationTakenOver, 409),
)


def http_status(err: errors.EERetryError) -> int:
    for cls, status in _STATUS:
        if isinstance(err, cls):
            return status
    return 500


def problem(exc: BaseException) -> dict[str, Any]:
    """The problem object of any exception; unknown ones say nothing about internals."""
    err = exc if isinstance(exc, errors.EERetryError) else errors.InternalError()
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
