"""The `filter` of ee2's check_jobs_date_range_* calls, read into typed FieldConditions.

ee2 accepts two forms and hands either to MongoEngine as keyword filters:
  - a list of "key=value" strings, AND-ed: ["status=error", "error_code=1", "wsid=1234"];
  - a mapping in MongoEngine's filter language: {"finished__gt": t0, "finished__lt": t1}.
A key is a job field, dotted or with "__" between the parts of a sub-document field
("job_input__app_id"), optionally followed by one operator: __gt, __gte, __lt, __lte, __ne, __in.
Here the field must be on a whitelist, each value is typed like its field (times are epoch seconds,
as stored), and the result is a list of conditions the stores render themselves: no caller's key or
value ever reaches a store as an operator or a field name of its own.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from ee_retry.domain.model import JobStatus
from ee_retry.domain.values import Comparison, FieldCondition
from ee_retry.errors import InvalidParams

MAX_FILTER_TERMS = 20  # a filter names a few fields; more is a mistake or an abuse
MAX_IN_VALUES = 1_000  # values in one __in
MAX_TEXT_CHARS = 1_000  # one string value

_INT_TEXT = re.compile(r"-?[0-9]{1,18}")


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT_CHARS:
        raise InvalidParams(f"filter {key!r} takes a string of at most {MAX_TEXT_CHARS} characters")
    return value


def _int(key: str, value: Any) -> int:
    if isinstance(value, str) and _INT_TEXT.fullmatch(value.strip()):
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) >= 2**63:
        raise InvalidParams(f"filter {key!r} takes an integer")
    return value


def _seconds(key: str, value: Any) -> float:
    """A stored time: epoch seconds, as a number or a numeric string."""
    number = value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(number):
        raise InvalidParams(f"filter {key!r} takes a time in epoch seconds")
    if abs(number) > 1e11:
        raise InvalidParams(f"filter {key!r} takes epoch seconds; {value!r} is not a usable time")
    return float(number)


def _bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in (0, 1) or (isinstance(value, str) and value.lower() in ("true", "false", "0", "1")):
        return str(value).lower() in ("true", "1")
    raise InvalidParams(f"filter {key!r} takes a boolean")


def _status(key: str, value: Any) -> str:
    try:
        return JobStatus(value).value
    except ValueError:
        raise InvalidParams(
            f"filter {key!r}: unknown status {value!r}; one of {[s.value for s in JobStatus]}"
        ) from None


_ORDERED = frozenset(Comparison)  # every operator: numbers and times compare
_EQUALITY = frozenset({Comparison.EQ, Comparison.NE, Comparison.IN})

# Filterable job fields (stored names): how a value is typed, and which operators make sense.
_FIELDS: dict[str, tuple[Callable[[str, Any], Any], frozenset[Comparison]]] = {
    "status": (_status, _EQUALITY),
    "user": (_text, _EQUALITY),
    "authstrat": (_text, _EQUALITY),
    "wsid": (_int, _ORDERED),
    "error_code": (_int, _ORDERED),
    "terminated_code": (_int, _ORDERED),
    "errormsg": (_text, _EQUALITY),
    "batch_id": (_text, _EQUALITY),
    "batch_job": (_bool, frozenset({Comparison.EQ, Comparison.NE})),
    "retry_parent": (_text, _EQUALITY),
    "scheduler_type": (_text, _EQUALITY),
    "scheduler_id": (_text, _EQUALITY),
    "queued": (_seconds, _ORDERED),
    "running": (_seconds, _ORDERED),
    "finished": (_seconds, _ORDERED),
    "updated": (_seconds, _ORDERED),
    "job_input.method": (_text, _EQUALITY),
    "job_input.app_id": (_text, _EQUALITY),
    "job_input.service_ver": (_text, _EQUALITY),
    "job_input.wsid": (_int, _ORDERED),
    "job_input.parent_job_id": (_text, _EQUALITY),
    "job_input.requirements.clientgroup": (_text, _EQUALITY),
}
FILTER_FIELDS = frozenset(_FIELDS)
_OPERATORS = {c.value: c for c in Comparison if c is not Comparison.EQ}


def _split_key(key: str) -> tuple[str, Comparison]:
    parts = key.strip().split("__")
    op = Comparison.EQ
    if len(parts) > 1 and parts[-1] in _OPERATORS:
        op = _OPERATORS[parts.pop()]
    field = ".".join(parts)
    if field not in _FIELDS:
        hint = (
            " (the creation window is start_time and end_time)" if field in ("created", "id", "_id") else ""
        )
        raise InvalidParams(
            f"Cannot filter on {key!r}{hint}; filterable fields: {sorted(_FIELDS)}, "
            f"operators: {['__' + o for o in _OPERATORS]}"
        )
    return field, op


def _condition(key: str, value: Any, from_text: bool) -> FieldCondition:
    field, op = _split_key(key)
    typed, allowed = _FIELDS[field]
    if op not in allowed:
        raise InvalidParams(f"filter {key!r}: {field} takes only {sorted('__' + o.value for o in allowed)}")
    if op is not Comparison.IN:
        return FieldCondition(field, op, typed(key, value))
    values = value.split(",") if from_text and isinstance(value, str) else value
    if not isinstance(values, list) or not 0 < len(values) <= MAX_IN_VALUES:
        raise InvalidParams(f"filter {key!r} takes a list of 1 to {MAX_IN_VALUES} values")
    return FieldCondition(field, op, [typed(key, v) for v in values])


def parse_filter(raw: Any) -> list[FieldCondition]:
    """ee2's `filter`: None, a list of "key=value" strings, or a mapping; AND-ed conditions."""
    if raw is None:
        return []
    if isinstance(raw, list):
        pairs: list[tuple[str, Any]] = []
        for item in raw:
            if not isinstance(item, str) or item.count("=") != 1:
                raise InvalidParams(f"Each filter item is a 'key=value' string, not {item!r}")
            key, value = item.split("=")
            pairs.append((key, value.strip()))
        from_text = True
    elif isinstance(raw, Mapping):
        pairs = [(str(k), v) for k, v in raw.items()]
        from_text = False
    else:
        raise InvalidParams("'filter' must be a list of 'key=value' strings or an object")
    if len(pairs) > MAX_FILTER_TERMS:
        raise InvalidParams(f"{len(pairs)} filter terms; at most {MAX_FILTER_TERMS}")
    return [_condition(key, value, from_text) for key, value in pairs]
