"""Read wire params into typed values; every wrong shape or type is an InvalidParams naming the key."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from ee_retry.constants import RETRY_FAILED_DEFAULT_LIMIT, RETRY_FAILED_MAX_LIMIT
from ee_retry.domain.model import CLIENT_GROUP_RE, RETRYABLE_STATUSES, JobStatus, TerminatedCode
from ee_retry.errors import InvalidParams, shown
from ee_retry.service.access import check_ids
from ee_retry.service.ops import retry_failed
from ee_retry.service.submit.idempotency import check_key
from ee_retry.service.submit.requests import RequirementsOverride, RunRequest

T = TypeVar("T")


def first_dict(params: list[Any], method: str, optional: bool = False) -> dict[str, Any]:
    """KBase methods take one object as their first positional param."""
    if not params:
        if optional:
            return {}
        raise InvalidParams(f"{method} takes one object in params, e.g. [{{...}}]")
    first = params[0]
    if not isinstance(first, dict):
        raise InvalidParams(f"{method} takes an object as its first param, not {type(first).__name__}")
    return first


def _optional(args: Mapping[str, Any], key: str, kind: type[T], what: str) -> T | None:
    """The value under `key` when it is of `kind`, None when absent or null; `what` names the kind."""
    value = args.get(key)
    if value is None:
        return None
    if not isinstance(value, kind):
        raise InvalidParams(f"'{key}' must be {what}")
    return value


def opt_str(args: Mapping[str, Any], key: str) -> str | None:
    return _optional(args, key, str, "a string")


def req_str(args: Mapping[str, Any], key: str) -> str:
    value = opt_str(args, key)
    if not value:
        raise InvalidParams(f"'{key}' is required and must be a non-empty string")
    return value


MAX_INT = 2**63 - 1  # what MongoDB and SQLite store as an integer
_INT_TEXT = re.compile(r"-?[0-9]{1,30}")  # an integer sent as a string: ASCII digits, a sane length


def opt_int(args: Mapping[str, Any], key: str, minimum: int | None = None) -> int | None:
    value = args.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and _INT_TEXT.fullmatch(value.strip()):
            value = int(value)
        else:
            raise InvalidParams(f"'{key}' must be an integer")
    if minimum is not None and value < minimum:
        raise InvalidParams(f"'{key}' must be at least {minimum}")
    if abs(value) > MAX_INT:
        raise InvalidParams(f"'{key}' is too large: at most {MAX_INT}")
    return int(value)


def job_params(args: Mapping[str, Any]) -> list[Any] | None:
    """run_job's params: a list, as in ee2's spec (an SDK method's positional arguments)."""
    value = args.get("params")
    if value is not None and not isinstance(value, list):
        raise InvalidParams("'params' must be a list (a method's arguments; wrap one object as [{...}])")
    return value


def flag(args: Mapping[str, Any], key: str) -> bool:
    """KBase booleans: true/false, 0/1, and the strings 'true'/'false'/'0'/'1'."""
    value = args.get(key, False)
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false", "0", "1"):
        return value.lower() in ("true", "1")
    raise InvalidParams(f"'{key}' must be a boolean (true/false or 0/1)")


def opt_list(args: Mapping[str, Any], key: str) -> list[Any] | None:
    return _optional(args, key, list, "a list")


def str_list(args: Mapping[str, Any], key: str) -> list[str]:
    values = opt_list(args, key) or []
    if not all(isinstance(v, str) for v in values):
        raise InvalidParams(f"'{key}' must be a list of strings")
    return values


def opt_dict(args: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    return _optional(args, key, dict, "an object")


def _client_group(args: Mapping[str, Any]) -> str | None:
    group = opt_str(args, "client_group")
    if group is not None and not CLIENT_GROUP_RE.fullmatch(group):
        raise InvalidParams(
            f"Invalid client_group {shown(group)}: 1 to 64 letters, digits, '_' or '-', not starting with '-'"
        )
    return group


def requirements(args: Mapping[str, Any]) -> RequirementsOverride | None:
    """ee2's job_requirements: request_cpus, request_memory (MB), request_disk (GB), client_group."""
    raw = opt_dict(args, "job_requirements")
    if raw is None:
        return None
    allowed = {"request_cpus", "request_memory", "request_disk", "client_group"}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise InvalidParams(f"Unsupported job_requirements keys {unknown}; supported: {sorted(allowed)}")
    return RequirementsOverride(
        cpus=opt_int(raw, "request_cpus", 1),
        memory_mb=opt_int(raw, "request_memory", 1),
        disk_gb=opt_int(raw, "request_disk", 1),
        client_group=_client_group(raw),
    )


_CONCIERGE_KEYS = {
    "request_cpu", "request_cpus", "request_memory", "request_disk", "client_group", "account_group",
    "job_priority", "ignore_concurrency_limits", "requirements_list", "client_group_regex", "debug_mode",
}  # fmt: skip


def concierge_requirements(raw: Mapping[str, Any], client_groups: Sequence[str]) -> RequirementsOverride:
    """ee2's ConciergeParams, checked like job_requirements; the client group must be one the service
    schedules to. job_priority (unimplemented in ee2 too) and ignore_concurrency_limits are accepted
    and have no effect; a requirements list, a client group regex and debug mode are refused."""
    unknown = sorted(set(raw) - _CONCIERGE_KEYS)
    if unknown:
        raise InvalidParams(
            f"Unsupported concierge_params keys {unknown}; supported: {sorted(_CONCIERGE_KEYS)}"
        )
    opt_int(raw, "job_priority")
    flag(raw, "ignore_concurrency_limits")
    if str_list(raw, "requirements_list") or flag(raw, "client_group_regex") or flag(raw, "debug_mode"):
        raise InvalidParams("requirements_list, client_group_regex and debug_mode are not supported here")
    group = _client_group(raw)
    if group is not None and group not in client_groups:
        raise InvalidParams(
            f"Unknown client_group {shown(group)}; the service schedules to {list(client_groups)}"
        )
    cpus = opt_int(raw, "request_cpu", 1)
    account = opt_str(raw, "account_group")
    if account is not None and not USER_NAME_RE.fullmatch(account):
        raise InvalidParams(f"Invalid account_group {shown(account)}: a KBase user name")
    return RequirementsOverride(
        cpus=cpus if cpus is not None else opt_int(raw, "request_cpus", 1),
        memory_mb=opt_int(raw, "request_memory", 1),
        disk_gb=opt_int(raw, "request_disk", 1),
        client_group=group,
        account_group=account,
    )


USER_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,99}")  # KBase user names: lowercase letters, digits, '_'
_CELL_INFO_KEYS = ("run_id", "token_id", "tag", "cell_id")  # ee2 keeps these of run_job's meta


def run_request(args: dict[str, Any], as_admin: bool | None = None) -> RunRequest:
    """ee2's RunJobParams. As in ee2, meta's run_id, token_id, tag and cell_id become the job's
    narrative_cell_info."""
    meta = opt_dict(args, "meta")
    cell = {k: meta[k] for k in _CELL_INFO_KEYS if meta.get(k) is not None} if meta else None
    return RunRequest(
        method=req_str(args, "method"),
        params=job_params(args),
        service_ver=opt_str(args, "service_ver"),
        app_id=opt_str(args, "app_id"),
        source_ws_objects=tuple(str_list(args, "source_ws_objects")),
        wsid=opt_int(args, "wsid", 1),
        parent_job_id=opt_str(args, "parent_job_id"),
        job_requirements=requirements(args),
        narrative_cell_info=cell if cell is not None else opt_dict(args, "narrative_cell_info"),
        meta=meta,
        as_admin=flag(args, "as_admin") if as_admin is None else as_admin,
    )


def return_list(args: Mapping[str, Any]) -> bool:
    """check_jobs' and check_workspace_jobs' return_list: default 1 (a list), 0 or false a mapping."""
    return True if args.get("return_list") is None else flag(args, "return_list")


def terminated_code(args: Mapping[str, Any]) -> TerminatedCode:
    """cancel_job's terminated_code: one of ee2's codes, 0 (terminated by user) when absent."""
    code = opt_int(args, "terminated_code")
    if code is None:
        return TerminatedCode.TERMINATED_BY_USER
    try:
        return TerminatedCode(code)
    except ValueError:
        codes = {c.value: c.name.lower() for c in TerminatedCode}
        raise InvalidParams(f"Unknown terminated_code {code}; ee2's codes are {codes}") from None


def job_error(args: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    """finish_job's error: ee2's JsonRpcError object; a plain string (as KBase's JobRunner sends
    when a token expires) becomes one."""
    value = args.get(key)
    if isinstance(value, str):
        return {"name": "Job error", "code": -32000, "message": value, "error": value}
    return opt_dict(args, key)


_FILTER_KEYS = frozenset(
    {"status", "user", "wsid", "method", "app_id", "batch_id", "error_code", "created_from", "created_to"}
)


def _statuses(value: object) -> tuple[JobStatus, ...]:
    """'error', 'terminated', or a non-empty list of them."""
    names = [value] if isinstance(value, str) else value
    allowed = sorted(s.value for s in RETRYABLE_STATUSES)
    if not isinstance(names, list) or not names:
        raise InvalidParams(f"'filters.status' must be one of {allowed} or a non-empty list of them")
    for name in names:
        if name not in allowed:
            raise InvalidParams(f"'filters.status' {shown(name)} is not retryable; use {allowed}")
    return tuple(dict.fromkeys(JobStatus(n) for n in names))


def optional_time(args: Mapping[str, Any], key: str) -> float | None:
    """An optional time bound of the calls ee2 does not have (retry_failed_jobs, job_stats, the REST
    API). Unlike ee2's date-range calls, whose clients may send small integers such as 0, these refuse
    an integer that is only plausible as seconds."""
    return epoch_seconds(args, key, refuse_small_ints=True) if args.get(key) is not None else None


def _filters(args: Mapping[str, Any]) -> retry_failed.FailedJobFilters:
    """The filters object; an unknown key is refused (a typo must never widen a mass retry)."""
    unknown = sorted(set(args) - _FILTER_KEYS)
    if unknown:
        raise InvalidParams(f"Unknown filters {unknown}; supported: {sorted(_FILTER_KEYS)}")
    batch_id = opt_str(args, "batch_id")
    if batch_id is not None:
        check_ids([batch_id], "filters.batch_id")
    return retry_failed.FailedJobFilters(
        statuses=_statuses(args["status"])
        if args.get("status") is not None
        else retry_failed.FAILED_STATUSES,
        user=opt_str(args, "user"),
        wsid=opt_int(args, "wsid", 1),
        method=opt_str(args, "method"),
        app_id=opt_str(args, "app_id"),
        batch_id=batch_id,
        error_code=opt_int(args, "error_code", 0),
        created_from=optional_time(args, "created_from"),
        created_to=optional_time(args, "created_to"),
    )


def retry_failed_request(args: Mapping[str, Any]) -> retry_failed.RetryFailedRequest:
    limit = opt_int(args, "limit", 1)
    if limit is not None and limit > RETRY_FAILED_MAX_LIMIT:
        raise InvalidParams(f"'limit' is at most {RETRY_FAILED_MAX_LIMIT}; use filters or several calls")
    return retry_failed.RetryFailedRequest(
        filters=_filters(opt_dict(args, "filters") or {}),
        limit=limit or RETRY_FAILED_DEFAULT_LIMIT,
        dry_run=flag(args, "dry_run") if args.get("dry_run") is not None else True,
        as_admin=flag(args, "as_admin"),
        idempotency_key=check_key(args.get("idempotency_key")),
    )


_TIME_FORMS = "epoch seconds (a float), epoch milliseconds or an ISO 8601 date"
MIN_EPOCH_MS = 100_000_000_000  # 1973-03-03 in epoch ms: a smaller integer is most likely epoch seconds


def epoch_seconds(args: Mapping[str, Any], key: str, *, refuse_small_ints: bool = False) -> float:
    """ee2's time bounds: an integer is epoch milliseconds, a float is epoch seconds (as numbers or as
    numeric strings), anything else an ISO 8601 date. With `refuse_small_ints`, an integer below
    MIN_EPOCH_MS is refused: read as milliseconds it is a time in 1970 or 1971 (which would select
    nothing), so it was almost surely meant as seconds."""
    value = args.get(key)
    if isinstance(value, str):
        text = value.strip()
        if _INT_TEXT.fullmatch(text):
            value = int(text)
        else:
            try:
                value = float(text)
            except ValueError:
                return _iso_seconds(key, text)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidParams(f"'{key}' is required: {_TIME_FORMS}")
    if not isinstance(value, int):
        return _in_range(key, float(value))
    if refuse_small_ints and value < MIN_EPOCH_MS:
        raise InvalidParams(
            f"'{key}' is {value}: integers are epoch milliseconds, so this is before 1973. "
            f"For epoch seconds pass a float ({value}.0), or pass an ISO 8601 date"
        )
    return _in_range(key, value / 1000.0 if abs(value) <= MAX_INT else math.inf)


MAX_EPOCH_S = 100_000_000_000.0  # the year 5138: anything beyond is a mistake, not a date


def _in_range(key: str, seconds: float) -> float:
    if not math.isfinite(seconds) or abs(seconds) > MAX_EPOCH_S:
        raise InvalidParams(f"'{key}' is not a usable time: {_TIME_FORMS}")
    return seconds


def _iso_seconds(key: str, text: str) -> float:
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidParams(f"'{key}' must be {_TIME_FORMS}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()
