"""Read wire params into typed values; every wrong shape or type is an InvalidParams naming the key."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from typing import Any

from ee_retry.domain.model import CLIENT_GROUP_RE
from ee_retry.errors import InvalidParams, shown
from ee_retry.service.requests import RequirementsOverride


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


def opt_str(d: Mapping[str, Any], key: str) -> str | None:
    value = d.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidParams(f"'{key}' must be a string")
    return value


def req_str(d: Mapping[str, Any], key: str) -> str:
    value = opt_str(d, key)
    if not value:
        raise InvalidParams(f"'{key}' is required and must be a non-empty string")
    return value


MAX_INT = 2**63 - 1  # what MongoDB and SQLite store as an integer
_INT_TEXT = re.compile(r"-?[0-9]{1,30}")  # an integer sent as a string: ASCII digits, a sane length


def opt_int(d: Mapping[str, Any], key: str, minimum: int | None = None) -> int | None:
    value = d.get(key)
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


def job_params(d: Mapping[str, Any]) -> list[Any] | None:
    """run_job's params: a list, as in ee2's spec (an SDK method's positional arguments)."""
    value = d.get("params")
    if value is not None and not isinstance(value, list):
        raise InvalidParams("'params' must be a list (a method's arguments; wrap one object as [{...}])")
    return value


def flag(d: Mapping[str, Any], key: str) -> bool:
    """KBase booleans: true/false, 0/1, and the strings 'true'/'false'/'0'/'1'."""
    value = d.get(key, False)
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false", "0", "1"):
        return value.lower() in ("true", "1")
    raise InvalidParams(f"'{key}' must be a boolean (true/false or 0/1)")


def opt_list(d: Mapping[str, Any], key: str) -> list[Any] | None:
    value = d.get(key)
    if value is None:
        return None
    if not isinstance(value, list):
        raise InvalidParams(f"'{key}' must be a list")
    return value


def str_list(d: Mapping[str, Any], key: str) -> list[str]:
    values = opt_list(d, key) or []
    if not all(isinstance(v, str) for v in values):
        raise InvalidParams(f"'{key}' must be a list of strings")
    return values


def opt_dict(d: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    value = d.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidParams(f"'{key}' must be an object")
    return value


def requirements(d: Mapping[str, Any]) -> RequirementsOverride | None:
    """ee2's job_requirements: request_cpus, request_memory (MB), request_disk (GB), client_group."""
    raw = opt_dict(d, "job_requirements")
    if raw is None:
        return None
    allowed = {"request_cpus", "request_memory", "request_disk", "client_group"}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise InvalidParams(f"Unsupported job_requirements keys {unknown}; supported: {sorted(allowed)}")
    group = opt_str(raw, "client_group")
    if group is not None and not CLIENT_GROUP_RE.fullmatch(group):
        raise InvalidParams(
            f"Invalid client_group {shown(group)}: 1 to 64 letters, digits, '_' or '-', not starting with '-'"
        )
    return RequirementsOverride(
        cpus=opt_int(raw, "request_cpus", 1),
        memory_mb=opt_int(raw, "request_memory", 1),
        disk_gb=opt_int(raw, "request_disk", 1),
        client_group=group,
    )


_TIME_FORMS = "epoch seconds (a float), epoch milliseconds or an ISO 8601 date"
MIN_EPOCH_MS = 100_000_000_000  # 1973-03-03 in epoch ms: a smaller integer is most likely epoch seconds


def epoch_seconds(d: Mapping[str, Any], key: str, *, refuse_small_ints: bool = False) -> float:
    """ee2's time bounds: an integer is epoch milliseconds, a float is epoch seconds (as numbers or as
    numeric strings), anything else an ISO 8601 date. With `refuse_small_ints`, an integer below
    MIN_EPOCH_MS is refused: read as milliseconds it is a time in 1970 or 1971 (which would select
    nothing), so it was almost surely meant as seconds."""
    value = d.get(key)
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
