"""The SQL of the embedded job store: its columns, row values and JobQuery conditions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ee_retry.adapters import store_common as sc
from ee_retry.ports import JobQuery

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
    "prefix": "substr({}, 1, ?) = ?",
    "lt": "{} < ?",
    "gte": "{} >= ?",
    "is_null": "{} IS NULL",
    "not_true": "{} = 0",
}


def _render(term: sc.Term, params: list[Any]) -> str:
    column = _column(term.field)
    if term.op == "in":
        params.append(sc.dumps(term.value))
    elif term.op in ("eq", "lt", "gte"):
        params.append(term.value)
    elif term.op == "prefix":
        params.extend([len(term.value), term.value])
    clause = _SQL[term.op].format(column)
    return clause if term.alt is None else f"({clause} OR {_render(term.alt, params)})"


def job_where(q: JobQuery) -> tuple[str, list[Any]]:
    """The SQL condition and its parameters for a JobQuery (column names come from a fixed map)."""
    params: list[Any] = []
    clauses = [_render(t, params) for t in sc.query_terms(q)]
    return (" AND ".join(clauses) or "1"), params
