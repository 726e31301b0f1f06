"""The SQL of the embedded job store: its columns, row values and JobQuery conditions."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ee_retry.adapters.store import common as sc
from ee_retry.domain.values import JobQuery

# Stored fields with a column of their own (besides id and doc); dotted ones are named by their leaf.
# fmt: off
JOB_FIELDS = (
    "user", "status", "wsid", "batch_id", "retry_parent", "retry_active", "operation_id", "created",
    "updated", "job_input.method", "job_input.app_id", "error_code", "batch_job", "scheduler_id",
)
# fmt: on
OP_FIELDS = ("user", "state", "idem", "idempotency_key", "created", "updated")


# Fields filtered on through an expression index on the document, not a column of their own.
DOC_ONLY_FIELDS = ("auto_next_at",)


def _column(field: str) -> str:
    if field in DOC_ONLY_FIELDS:
        return f"json_extract(doc, '$.{field}')"
    return "id" if field == "_id" else field.rsplit(".", 1)[-1]


_FIELD_NAME = re.compile(r"[a-z_]+(\.[a-z_]+)*")  # a stored field's name: never a caller's text


def _job_value(field: str) -> str:
    """A job field in a condition: its column, or its value in the stored document when it has none."""
    if field == "_id" or field in JOB_FIELDS:
        return _column(field)
    if not _FIELD_NAME.fullmatch(field):
        raise ValueError(f"not a stored field name: {field!r}")
    return f"json_extract(doc, '$.{field}')"


def insert_sql(table: str, fields: Sequence[str]) -> str:
    names = ", ".join(["id", *map(_column, fields), "doc"])
    return f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * (len(fields) + 2))})"  # noqa: S608


def update_sql(table: str, fields: Sequence[str]) -> str:
    return f"UPDATE {table} SET {', '.join(f'{_column(f)} = ?' for f in (*fields, 'doc'))} WHERE id = ?"  # noqa: S608


def row(doc: Mapping[str, Any], fields: Sequence[str]) -> tuple[Any, ...]:
    """id, the column values, and the document as JSON."""
    return (doc["_id"], *(sc.get_path(doc, f) for f in fields), sc.dumps(doc))


_SQL = {
    "in": "{} IN (SELECT value FROM json_each(?))",
    "eq": "{} = ?",
    "ne": "({0} IS NULL OR {0} != ?)",
    "prefix": "substr({}, 1, ?) = ?",
    "lt": "{} < ?",
    "lte": "{} <= ?",
    "gt": "{} > ?",
    "gte": "{} >= ?",
    "is_null": "{} IS NULL",
    "not_true": "{} = 0",
    "cluster": "({0} = ? OR {0} LIKE ?)",
}


def _render(term: sc.Term, params: list[Any]) -> str:
    column = _job_value(term.field)
    if term.op == "in":
        params.append(sc.dumps(term.value))
    elif term.op == "cluster":
        params += [term.value, f"{term.value}.%"]  # digits only: no LIKE wildcard in it
    elif term.op == "prefix":
        params.extend([len(term.value), term.value])
    elif term.op not in ("is_null", "not_true"):
        params.append(term.value)
    clause = _SQL[term.op].format(column)
    return clause if term.alt is None else f"({clause} OR {_render(term.alt, params)})"


def job_where(q: JobQuery) -> tuple[str, list[Any]]:
    """The SQL condition and its parameters for a JobQuery (column names come from a fixed map)."""
    params: list[Any] = []
    clauses = [_render(t, params) for t in sc.query_terms(q)]
    return (" AND ".join(clauses) or "1"), params
