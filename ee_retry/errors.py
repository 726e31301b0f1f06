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
    +-- SchedulerUnavailable          -32009  the scheduler did not answer in time
    +-- StoreUnavailable              -32010  the job store did not answer
    +-- DependencyUnavailable         -32011  auth, workspace or catalog did not answer
    +-- OperationTakenOver            -32012  reconcile took the request's operation over
    +-- InternalError                 -32099  anything unexpected; details go to the log only

Each class carries its JSON-RPC code and wire name (set from the table ``_WIRE``, which lists every
class once) and a docstring that serves as its default message; ``to_error_object`` is the one
place that turns any exception into a wire error. A message names the value it refuses through
``shown`` (an excerpt, never the whole value), and no message is longer than ``MESSAGE_MAX_CHARS``,
so a huge bad value cannot make a huge answer.
"""

from __future__ import annotations

from collections.abc import Mapping
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


class InvalidRequest(EERetryError):
    """The body is not a JSON-RPC request: send one object with 'method', 'params' and 'id'."""


class RequestTooLarge(InvalidRequest):
    """The request body is larger than 1 MiB; split the request."""


class MethodNotFound(EERetryError):
    """No such method."""


class InvalidParams(EERetryError):
    """The params do not have the expected shape."""


class TooManyIds(InvalidParams):
    """Too many ids in one call; split the call."""


class InvalidJobId(InvalidParams):
    """A job id must be a string of 24 hexadecimal characters."""

    @classmethod
    def of(cls, value: object) -> InvalidJobId:
        """The error for one malformed id, with the value echoed."""
        return cls(f"Invalid job id {shown(value)}: a job id is 24 hexadecimal characters")


class AuthenticationError(EERetryError):
    """Authentication failed: send a valid token in the Authorization header."""


class PermissionDenied(EERetryError):
    """You are not allowed to do this."""


class JobNotFound(EERetryError):
    """No such job, or you may not see it."""


class InvalidStatusTransition(EERetryError):
    """The job's status does not allow this."""


class RetryNotAllowed(EERetryError):
    """This job cannot be retried."""


class RetryInFlight(RetryNotAllowed):
    """An attempt of this job is already in flight."""


class UnknownModule(EERetryError):
    """The catalog does not know this module, version or commit."""


class IdempotencyConflict(EERetryError):
    """This idempotency key was already used with different params."""


class SchedulerUnavailable(EERetryError):
    """The scheduler did not answer in time; try again shortly."""


class StoreUnavailable(EERetryError):
    """The job store did not answer; try again shortly."""


class DependencyUnavailable(EERetryError):
    """A KBase service this call needs did not answer; try again shortly."""


class OperationTakenOver(EERetryError):
    """The request took longer than reconcile's grace period, so reconcile took its operation over
    and finishes it or rolls it back; repeat the call with the same idempotency_key to see which."""


class InternalError(EERetryError):
    """An unexpected error occurred; it has been logged."""


# Every error with its JSON-RPC code and name, in the order of the tree above; a subclass keeps its
# parent's code, so the code alone names the parent class.
_WIRE: tuple[tuple[type[EERetryError], int, str], ...] = (
    (ParseError, -32700, "Parse error"),
    (InvalidRequest, -32600, "Invalid Request"),
    (RequestTooLarge, -32600, "Request too large"),
    (MethodNotFound, -32601, "Method not found"),
    (InvalidParams, -32602, "Invalid params"),
    (TooManyIds, -32602, "Too many ids"),
    (InvalidJobId, -32602, "Invalid job id"),
    (AuthenticationError, -32001, "Authentication error"),
    (PermissionDenied, -32002, "Permission denied"),
    (JobNotFound, -32003, "Job not found"),
    (InvalidStatusTransition, -32004, "Invalid status transition"),
    (RetryNotAllowed, -32005, "Retry not allowed"),
    (RetryInFlight, -32006, "Retry in flight"),
    (UnknownModule, -32007, "Unknown module or version"),
    (IdempotencyConflict, -32008, "Idempotency conflict"),
    (SchedulerUnavailable, -32009, "Scheduler unavailable"),
    (StoreUnavailable, -32010, "Job store unavailable"),
    (DependencyUnavailable, -32011, "Dependency unavailable"),
    (OperationTakenOver, -32012, "Operation taken over"),
    (InternalError, -32099, "Internal error"),
)
for _error, _code, _name in _WIRE:
    _error.code, _error.name = _code, _name

ALL_ERRORS: tuple[type[EERetryError], ...] = tuple(error for error, _, _ in _WIRE)


_BY_CLASS_NAME = {cls.__name__: cls for cls in ALL_ERRORS}
_BY_CODE = {cls.code: cls for cls in reversed(ALL_ERRORS)}  # a shared code names the parent class


def item_error(err: EERetryError) -> dict[str, Any]:
    """A refused item's error as a stored answer keeps it: the message, and the code and class
    that let a replay raise the same error (the wire form of the item drops both)."""
    return {"error": err.message, "code": err.code, "error_class": type(err).__name__}


def error_of_item(item: Mapping[str, Any]) -> EERetryError | None:
    """The error a stored answer item carries, of its own class; None for an item that succeeded.
    Items stored before the class was kept are matched by code."""
    if "error" not in item:
        return None
    cls = _BY_CLASS_NAME.get(str(item.get("error_class")))
    if cls is None:
        cls = _BY_CODE.get(int(item.get("code", EERetryError.code)), EERetryError)
    return cls(str(item["error"]))


def to_error_object(exc: BaseException) -> dict[str, Any]:
    """Turn any exception into a KBase JSON-RPC error object; unknown ones say nothing about internals."""
    err = exc if isinstance(exc, EERetryError) else InternalError()
    return {
        "name": err.name,
        "code": err.code,
        "message": err.message,
        "error": f"{type(err).__name__}: {err.message}",
    }
