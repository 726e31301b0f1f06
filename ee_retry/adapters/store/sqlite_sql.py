"""The SQL of the embedded job store: its columns, row values, and the conditions of job and
operation queries."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ee_retry.adapters.store import common
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
    return (doc["_id"], *(common.get_path(doc, f) for f in fields), common.dumps(doc))


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


def _operation_value(field: str) -> str:
    """An operation field in a condition: its column (operations are only filtered on columns)."""
    if field not in OP_FIELDS:
        raise ValueError(f"not an operation column: {field!r}")
    return field


def _render(term: common.Term, params: list[Any], value_of: Callable[[str], str] = _job_value) -> str:
    if term.op == "has" and term.field == "job_ids":  # an operation's jobs are a table of their own
        params.append(term.value)
        return "id IN (SELECT op_id FROM operation_jobs WHERE job_id = ?)"
    column = value_of(term.field)
    if term.op == "in":
        params.append(common.dumps(term.value))
    elif term.op == "cluster":
        params += [term.value, f"{term.value}.%"]  # digits only: no LIKE wildcard in it
    elif term.op == "prefix":
        params.extend([len(term.value), term.value])
    elif term.op not in ("is_null", "not_true"):
        params.append(term.value)
    clause = _SQL[term.op].format(column)
    return clause if term.alt is None else f"({clause} OR {_render(term.alt, params, value_of)})"


def job_where(q: JobQuery) -> tuple[str, list[Any]]:
    """The SQL condition and its parameters for a JobQuery (column names come from a fixed map)."""
    return _where(common.query_terms(q), _job_value)


def operation_where(terms: Sequence[common.Term]) -> tuple[str, list[Any]]:
    """The SQL condition and its parameters for find_operations' terms."""
    return _where(terms, _operation_value)


def _where(terms: Sequence[common.Term], value_of: Callable[[str], str]) -> tuple[str, list[Any]]:
    params: list[Any] = []
    clauses = [_render(t, params, value_of) for t in terms]
    return (" AND ".join(clauses) or "1"), params
