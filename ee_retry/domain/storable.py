"""Values both job stores can hold, checked once when a request is read.

A request's params end up in job records, operation records and log lines, in SQLite (as JSON) and
in MongoDB (as BSON). A value only one of them can hold, or that breaks every later read of the
record, is refused before anything is written:

- strings (values and keys) must be valid Unicode: JSON's `\\ud800` escapes decode to lone
  surrogates, which neither UTF-8 nor BSON can encode;
- keys must not hold NUL (BSON field names are C strings), start with `$` or hold `.` (MongoDB
  reads those as operators and paths; ee2's records refused them too);
- integers must fit in 64 bits (BSON's widest integer).

`unstorable(value, "params")` returns the first problem as "<path>: <reason>", or None.
"""

from __future__ import annotations

from typing import Any

from ee_retry.errors import shown

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def unstorable(value: Any, path: str) -> str | None:
    """The first value under `path` that a store cannot hold, described, or None when all can be."""
    if isinstance(value, str):
        return (
            None if _is_unicode(value) else f"{path}: a string that is not valid Unicode (a lone surrogate)"
        )
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        if INT64_MIN <= value <= INT64_MAX:
            return None
        return f"{path}: the integer {shown(value, 40)} is outside the 64-bit range stores hold"
    if isinstance(value, dict):
        return _unstorable_dict(value, path)
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = unstorable(item, f"{path}[{i}]")
            if found:
                return found
    return None


def _unstorable_dict(value: dict[Any, Any], path: str) -> str | None:
    for key, item in value.items():
        problem = bad_key(key)
        if problem:
            return f"{path}: the key {shown(key, 60)} {problem}"
        found = unstorable(item, _index(path, key))
        if found:
            return found
    return None


def _index(path: str, key: str) -> str:
    """`path["key"]`, the key quoted as JSON would quote it when it can be, else as Python does."""
    text = shown(key, 60)
    if text.startswith("'") and text.endswith("'") and '"' not in text:
        text = f'"{text[1:-1]}"'
    return f"{path}[{text}]"


def bad_key(key: object) -> str | None:
    """Why a field name cannot be stored, or None."""
    if not isinstance(key, str):
        return "is not a string"
    if not _is_unicode(key):
        return "is not valid Unicode (a lone surrogate)"
    if "\x00" in key:
        return "holds NUL, which no field name may hold"
    if key.startswith("$"):
        return "starts with '$', which MongoDB reads as an operator"
    if "." in key:
        return "holds '.', which MongoDB reads as a path"
    return None


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
