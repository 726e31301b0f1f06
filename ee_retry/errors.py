"""One error tree for the whole service.

    EERetryError                      -32000  base; never raised itself
    +-- ParseError                    -32700  body is not valid JSON
    +-- InvalidRequest                -32600  JSON, but not a JSON-RPC request object
    |   +-- RequestTooLarge           -32600  body over the size limit
    +-- MethodNotFound                -32601  no such method
    +-- InvalidParams                 -32602  params of the wrong shape or type
    |   +-- TooManyIds                -32602  more ids than one call may carry
    |   +-- InvalidJobId              -32602  an id that is not 24 hex characters
    +-- AuthenticationError           -32001  missing or invalid token
    +-- PermissionDenied              -32002  authenticated, but not allowed
    +-- JobNotFound                   -32003  no such job (or, for non-admins, not visible)
    +-- InvalidStatusTransition       -32004  the job is in a status that forbids this
    +-- RetryNotAllowed               -32005  a retry rule refused the item
    |   +-- RetryInFlight             -32006  an attempt of the same original is in flight
    +-- UnknownModule                 -32007  catalog does not know the module, version or commit
    +-- IdempotencyConflict           -32008  the key was used with other params, or is busy
    +-- SchedulerUnavailable          -32009  the scheduler did not answer; nothing was lost
    +-- StoreUnavailable              -32010  the job store did not answer
    +-- DependencyUnavailable         -32011  auth, workspace or catalog did not answer
    +-- InternalError                 -32099  anything unexpected; details go to the log only

Each class carries its JSON-RPC code and a docstring that serves as its default message;
``to_error_object`` is the one place that turns any exception into a wire error. A message names
the value it refuses through ``shown`` (an excerpt, never the whole value), and no message is longer
than ``MESSAGE_MAX_CHARS``, so a huge bad value cannot make a huge answer.
"""

from __future__ import annotations

from typing import Any, ClassVar

ECHO_MAX_CHARS = 100  # of a refused value, at most this much is echoed back in an error
MESSAGE_MAX_CHARS = 2_000  # an error message is cut here, whatever it holds


def shown(value: object, limit: int = ECHO_MAX_CHARS) -> str:
    """`repr(value)` for an error message, cut to `limit` characters with the full length said."""
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f"{len(value)} characters" if isinstance(value, str | bytes) else f"{len(text)} characters shown"
    return f"{text[:limit]}... ({size})"


def _cut(message: str) -> str:
    if len(message) <= MESSAGE_MAX_CHARS:
        return message
    return f"{message[:MESSAGE_MAX_CHARS]}... (message cut at {MESSAGE_MAX_CHARS} characters)"


class EERetryError(Exception):
    """The service could not complete the request."""

    code: ClassVar[int] = -32000
    name: ClassVar[str] = "Server error"

    def __init__(self, message: str | None = None) -> None:
        self.message = _cut(message or (type(self).__doc__ or "").strip())
        super().__init__(self.message)


class ParseError(EERetryError):
    """The request body is not valid JSON; send a JSON object."""

    code = -32700
    name = "Parse error"


class InvalidRequest(EERetryError):
    """The body is not a JSON-RPC request: send one object with 'method', 'params' and 'id'."""

    code = -32600
    name = "Invalid Request"


class RequestTooLarge(InvalidRequest):
    """The request body is larger than 1 MiB; split the request."""

    name = "Request too large"


class MethodNotFound(EERetryError):
    """No such method."""

    code = -32601
    name = "Method not found"


class InvalidParams(EERetryError):
    """The params do not have the expected shape."""

    code = -32602
    name = "Invalid params"


class TooManyIds(InvalidParams):
    """Too many ids in one call; split the call."""

    name = "Too many ids"


class InvalidJobId(InvalidParams):
    """A job id must be a string of 24 hexadecimal characters."""

    name = "Invalid job id"


class AuthenticationError(EERetryError):
    """Authentication failed: send a valid token in the Authorization header."""

    code = -32001
    name = "Authentication error"


class PermissionDenied(EERetryError):
    """You are not allowed to do this."""

    code = -32002
    name = "Permission denied"


class JobNotFound(EERetryError):
    """No such job, or you may not see it."""

    code = -32003
    name = "Job not found"


class InvalidStatusTransition(EERetryError):
    """The job's status does not allow this."""

    code = -32004
    name = "Invalid status transition"


class RetryNotAllowed(EERetryError):
    """This job cannot be retried."""

    code = -32005
    name = "Retry not allowed"


class RetryInFlight(RetryNotAllowed):
    """An attempt of this job is already in flight."""

    code = -32006
    name = "Retry in flight"


class UnknownModule(EERetryError):
    """The catalog does not know this module, version or commit."""

    code = -32007
    name = "Unknown module or version"


class IdempotencyConflict(EERetryError):
    """This idempotency key was already used with different params."""

    code = -32008
    name = "Idempotency conflict"


class SchedulerUnavailable(EERetryError):
    """The scheduler did not answer in time. Nothing was lost: the jobs are recorded and will be submitted."""

    code = -32009
    name = "Scheduler unavailable"


class StoreUnavailable(EERetryError):
    """The job store did not answer; try again shortly."""

    code = -32010
    name = "Job store unavailable"


class DependencyUnavailable(EERetryError):
    """A KBase service this call needs did not answer; try again shortly."""

    code = -32011
    name = "Dependency unavailable"


class InternalError(EERetryError):
    """An unexpected error occurred; it has been logged."""

    code = -32099
    name = "Internal error"


ALL_ERRORS: tuple[type[EERetryError], ...] = (
    ParseError,
    InvalidRequest,
    MethodNotFound,
    InvalidParams,
    AuthenticationError,
    PermissionDenied,
    JobNotFound,
    InvalidStatusTransition,
    RetryNotAllowed,
    RetryInFlight,
    UnknownModule,
    IdempotencyConflict,
    SchedulerUnavailable,
    StoreUnavailable,
    DependencyUnavailable,
    InternalError,
)


def to_error_object(exc: BaseException) -> dict[str, Any]:
    """Turn any exception into a KBase JSON-RPC error object; unknown ones say nothing about internals."""
    err = exc if isinstance(exc, EERetryError) else InternalError()
    return {
        "name": err.name,
        "code": err.code,
        "message": err.message,
        "error": f"{type(err).__name__}: {err.message}",
    }
