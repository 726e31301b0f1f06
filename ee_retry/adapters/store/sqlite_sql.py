"""The SQL of the embedded job store: its columns, row values, the conditions of job and operation
queries, and the reads and writes of operations, log lines and state documents."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ee_retry.adapters.store import common
from ee_retry.domain.values import STATE_REV, JobQuery, StateWrite

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


def job_where(query: JobQuery) -> tuple[str, list[Any]]:
    """The SQL condition and its parameters for a JobQuery (column names come from a fixed map)."""
    return _where(common.query_terms(query), _job_value)


def operation_where(terms: Sequence[common.Term]) -> tuple[str, list[Any]]:
    """The SQL condition and its parameters for find_operations' terms."""
    return _where(terms, _operation_value)


def _where(terms: Sequence[common.Term], value_of: Callable[[str], str]) -> tuple[str, list[Any]]:
    params: list[Any] = []
    clauses = [_render(t, params, value_of) for t in terms]
    return (" AND ".join(clauses) or "1"), params


# The schema (created by `setup`, idempotent) and the fixed statements of the store.
SCHEMA = """
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, user TEXT NOT NULL, status TEXT NOT NULL, wsid INTEGER, batch_id TEXT,
    retry_parent TEXT, retry_active TEXT UNIQUE, operation_id TEXT, created REAL NOT NULL,
    updated REAL NOT NULL, method TEXT, app_id TEXT, error_code INTEGER, batch_job INTEGER NOT NULL,
    scheduler_id TEXT, doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status);
CREATE INDEX IF NOT EXISTS jobs_user ON jobs (user);
CREATE INDEX IF NOT EXISTS jobs_wsid ON jobs (wsid);
CREATE INDEX IF NOT EXISTS jobs_batch_id ON jobs (batch_id);
CREATE INDEX IF NOT EXISTS jobs_retry_parent ON jobs (retry_parent);
CREATE INDEX IF NOT EXISTS jobs_operation_id ON jobs (operation_id);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created, id);
CREATE INDEX IF NOT EXISTS jobs_updated ON jobs (updated);
CREATE INDEX IF NOT EXISTS jobs_scheduler_id ON jobs (scheduler_id);
CREATE INDEX IF NOT EXISTS jobs_auto_next_at ON jobs (json_extract(doc, '$.auto_next_at'));
CREATE TABLE IF NOT EXISTS operations (
    id TEXT PRIMARY KEY, user TEXT NOT NULL, state TEXT NOT NULL, idem TEXT UNIQUE,
    idempotency_key TEXT, created REAL NOT NULL, updated REAL NOT NULL, doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS operations_state ON operations (state);
CREATE INDEX IF NOT EXISTS operations_user_key ON operations (user, idempotency_key);
CREATE INDEX IF NOT EXISTS operations_created ON operations (created, id);
CREATE TABLE IF NOT EXISTS operation_jobs (
    job_id TEXT NOT NULL, op_id TEXT NOT NULL, PRIMARY KEY (job_id, op_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS logs (
    job_id TEXT NOT NULL, pos INTEGER NOT NULL, line TEXT NOT NULL, PRIMARY KEY (job_id, pos)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS states (key TEXT PRIMARY KEY, doc TEXT NOT NULL);
COMMIT;
"""

INSERT_JOB, UPDATE_JOB = (
    insert_sql("jobs", JOB_FIELDS),
    update_sql("jobs", JOB_FIELDS),
)
INSERT_OP, UPDATE_OP = (
    insert_sql("operations", OP_FIELDS),
    update_sql("operations", OP_FIELDS),
)
JOBS_BY_ID = "SELECT doc FROM jobs WHERE id IN (SELECT value FROM json_each(?))"
JOB_BY_ID = "SELECT doc FROM jobs WHERE id = ?"
ACTIVE = "SELECT retry_active, id FROM jobs WHERE retry_active IN (SELECT value FROM json_each(?))"
DELETE_CREATED = (
    "DELETE FROM jobs WHERE id IN (SELECT value FROM json_each(?)) AND status = ? AND scheduler_id IS NULL"
)
OP_BY_ID = "SELECT doc FROM operations WHERE id = ?"
OP_BY_SLOT = "SELECT doc FROM operations WHERE idem = ?"


def load_doc(conn: sqlite3.Connection, sql: str, value: str) -> dict[str, Any] | None:
    """The document the one-row query `sql` finds for `value`, or None."""
    row = conn.execute(sql, (value,)).fetchone()
    return None if row is None else dict(json.loads(row[0]))


def append_logs(conn: sqlite3.Connection, job_id: str, lines: Sequence[Mapping[str, Any]]) -> int:
    """Append a job's log lines; its line count after."""
    start = int(conn.execute("SELECT COUNT(*) FROM logs WHERE job_id = ?", (job_id,)).fetchone()[0])
    rows = [(job_id, start + i, common.dumps(common.clean(line))) for i, line in enumerate(lines)]
    conn.executemany("INSERT INTO logs (job_id, pos, line) VALUES (?, ?, ?)", rows)
    return start + len(rows)


def log_page(
    conn: sqlite3.Connection, job_id: str, skip: int, limit: int, decode: Callable[[str], Any]
) -> tuple[list[dict[str, Any]], int]:
    """Up to `limit` log lines of a job from position `skip`, decoded, and the job's line count."""
    total = int(conn.execute("SELECT COUNT(*) FROM logs WHERE job_id = ?", (job_id,)).fetchone()[0])
    if limit <= 0:
        return [], total
    sql = "SELECT line FROM logs WHERE job_id = ? AND pos >= ? ORDER BY pos LIMIT ?"
    rows = conn.execute(sql, (job_id, max(skip, 0), limit)).fetchall()
    return [decode(r[0]) for r in rows], total


def read_states(conn: sqlite3.Connection, prefix: str) -> dict[str, dict[str, Any]]:
    rows = conn.execute("SELECT key, doc FROM states WHERE substr(key, 1, ?) = ?", (len(prefix), prefix))
    return {r[0]: dict(json.loads(r[1])) for r in rows.fetchall()}


def write_states(conn: sqlite3.Connection, docs: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Insert or replace state documents, each with a new revision; the keys with their revisions."""
    stored = {key: common.state_doc(doc) for key, doc in docs.items()}
    sql = "INSERT INTO states (key, doc) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET doc = excluded.doc"
    conn.executemany(sql, [(key, common.dumps(doc)) for key, (doc, _) in stored.items()])
    return {key: rev for key, (_, rev) in stored.items()}


def write_states_if(conn: sqlite3.Connection, writes: Sequence[StateWrite]) -> dict[str, str]:
    """In the caller's transaction, the writes whose stored revision is still the expected one."""
    sql = "SELECT json_extract(doc, ?) FROM states WHERE key = ?"
    path = f"$.{STATE_REV}"
    rows = {w.key: conn.execute(sql, (path, w.key)).fetchone() for w in writes}
    return write_states(conn, {w.key: w.doc for w in writes if (rows[w.key] or (None,))[0] == w.expected})
