"""The OpenAPI 3.1 document of the REST API: the contract, served at /api/v1/openapi.json and
loaded by the tests, which validate it and fuzz the running app against it."""

from __future__ import annotations

import copy
import functools
from typing import Any

from ee_retry import __version__
from ee_retry.constants import APP_NAME_MAX_LEN, IDEMPOTENCY_KEY_MAX_LEN, MAX_LOG_LINES_PER_CALL
from ee_retry.domain.model import JobStatus

JOB_ID = {"type": "string", "pattern": "^[0-9a-f]{24}$", "description": "24 hexadecimal characters"}
STATUS = {"type": "string", "enum": [s.value for s in JobStatus]}
MS = {"type": ["integer", "null"], "description": "epoch milliseconds"}
NULLABLE_STR = {"type": ["string", "null"]}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(required: list[str], props: dict[str, Any], extra: bool = True) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props, "additionalProperties": extra}


def _counts() -> dict[str, Any]:
    return _obj([s.value for s in JobStatus], {s.value: {"type": "integer", "minimum": 0} for s in JobStatus})


SCHEMAS: dict[str, Any] = {
    "Problem": _obj(
        ["type", "title", "status", "detail", "name", "code"],
        {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "name": {"type": "string", "description": "the JSON-RPC error name"},
            "code": {"type": "integer", "description": "the JSON-RPC error code"},
        },
    ),
    "JobState": _obj(
        ["job_id", "user", "status", "created", "updated", "retry_count"],
        {
            "job_id": JOB_ID,
            "user": {"type": "string"},
            "status": STATUS,
            "wsid": {"type": ["integer", "null"]},
            "created": MS,
            "updated": MS,
            "queued": MS,
            "running": MS,
            "finished": MS,
            "errormsg": NULLABLE_STR,
            "error_code": {"type": ["integer", "null"]},
            "batch_job": {"type": "boolean"},
            "batch_id": NULLABLE_STR,
            "retry_ids": {"type": "array", "items": JOB_ID},
            "retry_parent": NULLABLE_STR,
            "retry_count": {"type": "integer", "minimum": 0},
        },
    ),
    "JobList": _obj(
        ["jobs", "next_cursor"],
        {
            "jobs": {"type": "array", "items": _ref("JobState")},
            "next_cursor": {"type": ["string", "null"], "description": "opaque; null on the last page"},
        },
        extra=False,
    ),
    "LogPage": _obj(
        ["lines", "last_line_number", "count"],
        {
            "lines": {
                "type": "array",
                "items": _obj(
                    ["line", "linepos", "is_error"],
                    {
                        "line": {"type": "string"},
                        "linepos": {"type": "integer"},
                        "is_error": {"type": "boolean"},
                        "ts": MS,
                    },
                ),
            },
            "last_line_number": {"type": "integer"},
            "count": {"type": "integer"},
        },
    ),
    "LineageMember": _obj(
        ["job_id", "attempt", "status", "created", "finished"],
        {
            "job_id": JOB_ID,
            "attempt": {"type": "integer", "description": "0: the original"},
            "status": STATUS,
            "created": MS,
            "finished": MS,
            "retry_of": NULLABLE_STR,
        },
    ),
    "JobDetail": {
        "allOf": [
            _ref("JobState"),
            _obj(
                ["lineage", "batch", "logs", "retry"],
                {
                    "lineage": {"type": "array", "items": _ref("LineageMember")},
                    "batch": {
                        "oneOf": [
                            {"type": "null"},
                            _obj(["container_id", "counts"], {"container_id": JOB_ID, "counts": _counts()}),
                        ]
                    },
                    "logs": _ref("LogPage"),
                    "retry": _obj(
                        ["allowed", "reason"],
                        {
                            "allowed": {"type": "boolean"},
                            "reason": {"type": ["string", "null"], "description": "why a retry is refused"},
                            "code": {"type": ["integer", "null"]},
                        },
                    ),
                },
            ),
        ]
    },
    "RetryAnswer": _obj(["job_id", "retry_id"], {"job_id": JOB_ID, "retry_id": JOB_ID}),
    "RetryItem": {
        "oneOf": [
            _obj(["job_id", "retry_id"], {"job_id": {"type": "string"}, "retry_id": JOB_ID}, extra=False),
            _obj(["job_id", "error"], {"job_id": {}, "error": {"type": "string"}}, extra=False),
        ]
    },
    "RetryRequest": _obj(
        ["job_ids"],
        {
            "job_ids": {"type": "array", "items": JOB_ID, "maxItems": 1000},
            "as_admin": {"type": "boolean"},
        },
    ),
    "RetryFailedRequest": _obj(
        [],
        {
            "filters": {"type": "object", "description": "as retry_failed_jobs takes them"},
            "limit": {"type": "integer", "minimum": 1, "maximum": 1000},
            "dry_run": {"type": "boolean", "default": True},
            "as_admin": {"type": "boolean"},
        },
    ),
    "Refusals": _obj(
        ["reason", "code", "count", "jobs"],
        {
            "reason": {"type": "string"},
            "code": {"type": "integer"},
            "count": {"type": "integer"},
            "jobs": {
                "type": "array",
                "items": _obj(
                    ["job_id", "detail"], {"job_id": {"type": "string"}, "detail": {"type": "string"}}
                ),
            },
        },
    ),
    "RetryFailedAnswer": _obj(
        ["dry_run", "refused", "total", "refusals"],
        {
            "dry_run": {"type": "boolean"},
            "would_retry": {"type": "integer", "description": "dry run only"},
            "retried": {"type": "integer", "description": "real run only"},
            "refused": {"type": "integer"},
            "total": {"type": "integer"},
            "jobs": {"type": "array", "items": {"type": "object"}, "description": "dry run: the selection"},
            "results": {"type": "array", "items": _ref("RetryItem"), "description": "real run"},
            "refusals": {"type": "array", "items": _ref("Refusals")},
        },
    ),
    "RetryPolicy": _obj(
        ["enabled", "policy", "loaded_at", "breakers", "budgets"],
        {
            "enabled": {"type": "boolean"},
            "policy": {"type": ["object", "null"]},
            "loaded_at": MS,
            "breakers": {"type": "array", "items": {"type": "object"}},
            "budgets": {"type": "array", "items": {"type": "object"}},
        },
    ),
    "BreakerReset": _obj(
        ["app", "state", "since_ms", "released"],
        {
            "app": {"type": "string"},
            "state": {"const": "closed"},
            "opened_at_ms": MS,
            "since_ms": {"type": "integer", "description": "outcomes finished before this do not count"},
            "probe_id": NULLABLE_STR,
            "probe_at_ms": MS,
            "released": {"type": "integer", "minimum": 0, "description": "paused retries made due now"},
        },
    ),
    "Stats": _obj(
        ["user", "since", "counts", "total", "retries"],
        {
            "user": NULLABLE_STR,
            "since": MS,
            "counts": _counts(),
            "total": {"type": "integer"},
            "retries": {"type": "object", "additionalProperties": {"type": "integer"}},
        },
    ),
}

_ERRORS = {
    400: "malformed request: a bad id, parameter or body",
    401: "no token, or a token the auth service refuses",
    403: "authenticated, but not allowed",
    404: "no such job, or not one the caller may see",
    409: "not retryable now: its status, a batch container, an attempt in flight, or an unknown commit",
    413: "body over 1 MiB",
    503: "the store, scheduler or a KBase service did not answer",
}


def _answer(description: str, schema: dict[str, Any], media: str = "application/json") -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": schema}}}


def _op(
    summary: str,
    ok: tuple[int, str, dict[str, Any]],
    errors: tuple[int, ...],
    params: list[dict[str, Any]] | None = None,
    body: str | None = None,
) -> dict[str, Any]:
    responses = {str(ok[0]): _answer(ok[1], ok[2])}
    for status in errors:
        responses[str(status)] = _answer(_ERRORS[status], _ref("Problem"), "application/problem+json")
    op: dict[str, Any] = {"summary": summary, "parameters": params or [], "responses": responses}
    if body is not None:
        op["requestBody"] = {"required": False, "content": {"application/json": {"schema": _ref(body)}}}
    return op


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


_TIME = {"type": "string", "description": "ISO 8601, or epoch milliseconds"}
_APP_PATH = {
    "name": "app",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": APP_NAME_MAX_LEN},
    "description": "the app's Module.method",
}
_JOB_PATH = {"name": "job_id", "in": "path", "required": True, "schema": JOB_ID}
_IDEM = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "pattern": f"^[A-Za-z0-9_.:-]{{1,{IDEMPOTENCY_KEY_MAX_LEN}}}$"},
    "description": "the same key with the same request replays the first answer for 24 h",
}
_LIST_PARAMS = [
    _query("status", {"type": "array", "items": STATUS}, "repeatable"),
    _query("user", {"type": "string", "minLength": 1}, "owner (admins, or the caller)"),
    _query("app", {"type": "string", "minLength": 1}, "Module or Module.method"),
    _query("wsid", {"type": "integer", "minimum": 1}, "workspace id"),
    _query("batch_id", JOB_ID, "batch container"),
    _query("since", _TIME, "created at or after"),
    _query("until", _TIME, "created before"),
    _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50}, "page size"),
    _query("cursor", {"type": "string", "minLength": 1}, "next_cursor of the previous page"),
]
_READ = (400, 401, 403, 404, 503)
_WRITE = (400, 401, 403, 404, 409, 413, 503)


def _paths() -> dict[str, Any]:
    log_params = [
        _JOB_PATH,
        _query("offset", {"type": "integer", "minimum": 0}, "first line"),
        _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LOG_LINES_PER_CALL}, "lines"),
    ]
    return {
        "/api/v1/jobs": {
            "get": _op(
                "Jobs, newest first", (200, "a page", _ref("JobList")), (400, 401, 403, 503), _LIST_PARAMS
            )
        },
        "/api/v1/jobs/{job_id}": {
            "get": _op(
                "A job with its lineage, batch counts, log tail and retry status",
                (200, "the job", _ref("JobDetail")),
                _READ,
                [_JOB_PATH],
            )
        },
        "/api/v1/jobs/{job_id}/logs": {
            "get": _op("Log lines", (200, "a page of lines", _ref("LogPage")), _READ, log_params)
        },
        "/api/v1/jobs/{job_id}/retry": {
            "post": _op(
                "Retry one job", (201, "the new attempt", _ref("RetryAnswer")), _WRITE, [_JOB_PATH, _IDEM]
            )
        },
        "/api/v1/jobs/{job_id}/cancel": {
            "post": _op("Cancel one job", (200, "the job", _ref("JobState")), _WRITE, [_JOB_PATH])
        },
        "/api/v1/retries": {
            "post": _op(
                "Retry several jobs; per-item results as retry_jobs",
                (200, "one item per id", {"type": "array", "items": _ref("RetryItem")}),
                (400, 401, 403, 409, 413, 503),
                [_IDEM],
                "RetryRequest",
            )
        },
        "/api/v1/retries/failed": {
            "post": _op(
                "Retry what failed (dry_run, the default, previews)",
                (200, "the preview or the result", _ref("RetryFailedAnswer")),
                (400, 401, 403, 409, 413, 503),
                [_IDEM],
                "RetryFailedRequest",
            )
        },
        "/api/v1/stats": {
            "get": _op(
                "Counts per status and retry counters",
                (200, "the counts", _ref("Stats")),
                (400, 401, 403, 503),
                [
                    _query("user", {"type": "string", "minLength": 1}, "another user (admins, as_admin)"),
                    _query("since", _TIME, "created at or after"),
                    _query("as_admin", {"type": "string", "enum": ["true", "false"]}, "admin view"),
                ],
            )
        },
        "/api/v1/policy": {
            "get": _op(
                "The automatic retry policy in force, its open breakers and near-exhausted budgets",
                (200, "as get_retry_policy", _ref("RetryPolicy")),
                (401, 503),
            )
        },
        "/api/v1/policy/breakers/{app}/reset": {
            "post": _op(
                "Close an app's circuit breaker now and make the retries it paused due (EE2_ADMIN)",
                (200, "as reset_retry_breaker", _ref("BreakerReset")),
                (400, 401, 403, 503),
                [_APP_PATH],
            )
        },
        "/api/v1/openapi.json": {
            "get": {
                "summary": "This document",
                "security": [],
                "responses": {"200": _answer("OpenAPI 3.1", {"type": "object"})},
            }
        },
    }


@functools.cache
def _document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ee-retry REST API",
            "version": __version__,
            "description": "Jobs, their lineage and logs, and retries; errors are RFC 9457 problems.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": _paths(),
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a KBase token (bare also accepted)",
                }
            },
        },
    }


def document() -> dict[str, Any]:
    """A fresh copy of the document."""
    return copy.deepcopy(_document())
