"""The embedded job store: one SQLite file in the service's data folder, standard library only.

Each method is one SQLite transaction (`BEGIN IMMEDIATE` for writes, so every read-check-write is
atomic across threads and processes) run on the store's single worker thread, so the event loop
never blocks. WAL mode lets readers run beside a writer; `synchronous=FULL` makes every answered
write durable, even if the service is killed right after. Two processes may share the file (two
service instances, or the service and the reaper): SQLite's file locks serialise their writers and
the unique constraints (job id, `retry_active`, operation `idem`) hold for all of them.

Rows keep the full document as JSON beside real columns for every field that is filtered on or
unique; the columns are recomputed from the document on every write.
"""

from __future__ import annotations

import asyncio
import copy
import json
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import msgspec

from ee_retry.adapters.local.private_files import touch_private
from ee_retry.adapters.store import common, sqlite_sql
from ee_retry.adapters.store.sqlite_reader import InlineReader
from ee_retry.domain.model import SLOT_FIELD, Job, JobStatus, Operation, OperationUpdate
from ee_retry.domain.values import (
    GuardedUpdate,
    IdsById,
    InsertOutcome,
    JobQuery,
    OperationQuery,
    StateWrite,
    Transition,
)
from ee_retry.errors import RetryInFlight, StoreUnavailable

T = TypeVar("T")

BUSY_TIMEOUT_S = 30.0  # how long a write waits for another process's write before giving up
_DOC_DECODER = msgspec.json.Decoder()
INLINE_LOG_LINES = 1_000  # a log page up to this long is read on the caller's thread (about a millisecond)


class _Change(NamedTuple):
    """A compare-and-set of one job: `fields` are set only if `test` passes on its stored document."""

    job_id: str
    test: Callable[[Mapping[str, Any]], bool]
    fields: Mapping[str, Any]


def _status_in(expected: frozenset[JobStatus]) -> Callable[[Mapping[str, Any]], bool]:
    values = {JobStatus(s).value for s in expected}
    return lambda doc: doc["status"] in values


def _guard_is(guard: str, expected: Any) -> Callable[[Mapping[str, Any]], bool]:
    return lambda doc: common.get_path(doc, guard) == expected


class SqliteJobStore:
    """JobStore on one SQLite file; safe for several store objects and processes on the same file."""

    def __init__(self, path: Path) -> None:
        self._path = Path(path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ee-retry-sqlite")
        self._conn: sqlite3.Connection | None = None  # used only on the worker thread
        self._reader = InlineReader(self._path)  # reads by id, on the caller's thread
        self._closed = False

    # ------------------------------------------------------------ plumbing

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            touch_private(self._path)  # its -wal and -shm files take the database file's mode
            conn = sqlite3.connect(self._path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            self._conn = conn
        return self._conn

    def _transaction(self, fn: Callable[[sqlite3.Connection], T], write: bool) -> T:
        try:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                result = fn(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return result
        except sqlite3.Error as exc:
            raise StoreUnavailable(
                f"The job store failed ({type(exc).__name__}); try again shortly."
            ) from exc

    async def _run(self, fn: Callable[[sqlite3.Connection], T], write: bool = False) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._transaction, fn, write)

    async def setup(self) -> None:
        def create(conn: sqlite3.Connection) -> None:
            try:
                conn.executescript(sqlite_sql.SCHEMA)
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise StoreUnavailable("The job store could not be created.") from exc

        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, lambda: create(self._connection()))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._reader.close()

        def shut() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, shut)
        self._executor.shutdown(wait=True)

    # ------------------------------------------------------------ jobs

    @staticmethod
    def _load_jobs(
        conn: sqlite3.Connection, ids: Sequence[str], loads: Callable[[str], Any] = json.loads
    ) -> dict[str, dict[str, Any]]:
        if len(ids) == 1:  # the common read (check_job, every callback): a plain key lookup
            rows = conn.execute(sqlite_sql.JOB_BY_ID, ids).fetchall()
            return {ids[0]: loads(rows[0][0])} if rows else {}
        rows = conn.execute(sqlite_sql.JOBS_BY_ID, (common.dumps(list(ids)),)).fetchall()
        docs = [loads(r[0]) for r in rows]
        return {d["_id"]: d for d in docs}

    @staticmethod
    def _save_job(conn: sqlite3.Connection, doc: Mapping[str, Any]) -> bool:
        """Write a changed document back; False when a unique column (retry_active) refused it."""
        row = sqlite_sql.row(doc, sqlite_sql.JOB_FIELDS)
        try:
            conn.execute(sqlite_sql.UPDATE_JOB, (*row[1:], row[0]))
        except sqlite3.IntegrityError:
            return False
        return True

    async def insert_jobs(self, jobs: Sequence[Job]) -> InsertOutcome:
        common.require_job_ids(j.id for j in jobs)
        rows = [sqlite_sql.row(common.job_doc(j), sqlite_sql.JOB_FIELDS) for j in jobs]

        def run(conn: sqlite3.Connection) -> InsertOutcome:
            lost: list[Job] = []
            for job, row in zip(jobs, rows, strict=True):
                try:
                    conn.execute(sqlite_sql.INSERT_JOB, row)
                except sqlite3.IntegrityError:
                    lost.append(job)
            return common.insert_outcome(jobs, lost, self._active(conn, common.guarded_originals(lost)))

        return await self._run(run, write=True) if jobs else common.insert_outcome(jobs, [], {})

    async def get_jobs(self, ids: Sequence[str]) -> dict[str, Job]:
        docs = await self._read_jobs(ids, json.loads)
        return {job_id: Job.from_doc(doc) for job_id, doc in docs.items()}

    async def get_job_docs(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Decoded by msgspec, about three times faster than json: the same values, except that a
        document holding NaN, Infinity or a lone surrogate fails to decode; those are values no
        answer can carry (encoding them fails), so the read that shows them fails as it did."""
        return await self._read_jobs(ids, _DOC_DECODER.decode)

    async def _read_jobs(self, ids: Sequence[str], loads: Callable[[str], Any]) -> dict[str, dict[str, Any]]:
        valid = common.valid_ids(ids)
        docs = self._reader.read(lambda conn: self._load_jobs(conn, valid, loads))
        if docs is None:
            docs = await self._run(lambda conn: self._load_jobs(conn, valid, loads))
        return docs

    async def find_jobs(self, query: JobQuery) -> list[Job]:
        where, params = sqlite_sql.job_where(query)
        order = "ASC" if query.ascending else "DESC"
        sql = f"SELECT doc FROM jobs WHERE {where} ORDER BY created {order}, id {order} LIMIT ? OFFSET ?"  # noqa: S608
        params += [query.limit if query.limit > 0 else -1, max(query.offset, 0)]
        rows = await self._run(lambda conn: conn.execute(sql, params).fetchall())
        return [Job.from_doc(json.loads(r[0])) for r in rows]

    async def count_jobs(self, query: JobQuery) -> dict[JobStatus, int]:
        where, params = sqlite_sql.job_where(query)
        sql = f"SELECT status, COUNT(*) FROM jobs WHERE {where} GROUP BY status"  # noqa: S608
        rows = await self._run(lambda conn: conn.execute(sql, params).fetchall())
        return common.status_counts((r[0], r[1]) for r in rows)

    @staticmethod
    def _active(conn: sqlite3.Connection, original_ids: Sequence[str]) -> dict[str, str]:
        if not original_ids:
            return {}
        return {r[0]: r[1] for r in conn.execute(sqlite_sql.ACTIVE, (common.dumps(list(original_ids)),))}

    async def active_attempts(self, original_ids: Sequence[str]) -> dict[str, str]:
        return await self._run(lambda conn: self._active(conn, original_ids))

    async def transition(self, changes: Sequence[Transition]) -> set[str]:
        return await self._compare_and_set(
            [_Change(c.job_id, _status_in(c.expected), c.stored_fields()) for c in changes]
        )

    async def guarded_update(self, updates: Sequence[GuardedUpdate]) -> set[str]:
        return await self._compare_and_set(
            [_Change(u.job_id, _guard_is(u.guard, u.expected), u.fields) for u in updates]
        )

    async def _compare_and_set(self, changes: Sequence[_Change]) -> set[str]:
        """In one transaction, set each change's fields on its job if the stored document passes the
        change's test (and the save keeps `retry_active` unique); the ids of the jobs that changed."""

        def run(conn: sqlite3.Connection) -> set[str]:
            docs = self._load_jobs(conn, common.valid_ids([c.job_id for c in changes]))
            changed: set[str] = set()
            for change in changes:
                doc = docs.get(change.job_id)
                if doc is None or not change.test(doc):
                    continue
                new = copy.deepcopy(doc)
                common.apply_fields(new, change.fields, common.NEVER_NULL_JOB_FIELDS)
                if self._save_job(conn, new):
                    docs[change.job_id] = new
                    changed.add(change.job_id)
            return changed

        return await self._run(run, write=True) if changes else set()

    async def set_fields(self, updates: Mapping[str, Mapping[str, Any]]) -> None:
        def run(conn: sqlite3.Connection) -> bool:
            refused = False
            for job_id, doc in self._load_jobs(conn, common.valid_ids(list(updates))).items():
                common.apply_fields(doc, updates[job_id], common.NEVER_NULL_JOB_FIELDS)
                refused = not self._save_job(conn, doc) or refused
            return refused

        if not updates:
            return
        if await self._run(run, write=True):
            raise RetryInFlight("Another attempt of this job is already in flight.")

    async def link(self, retry_ids: IdsById, child_jobs: IdsById, saved: Sequence[str]) -> None:
        def run(conn: sqlite3.Connection) -> None:
            docs = self._load_jobs(conn, common.valid_ids([*retry_ids, *child_jobs, *saved]))
            for field, targets in (("retry_ids", retry_ids), ("child_jobs", child_jobs)):
                for owner, new in targets.items():
                    if owner in docs:
                        docs[owner][field] = common.append_unique(docs[owner].get(field) or [], map(str, new))
            for job_id in saved:
                if job_id in docs:
                    docs[job_id]["retry_saved_toggle"] = True
            for doc in docs.values():
                self._save_job(conn, doc)

        if retry_ids or child_jobs or saved:
            await self._run(run, write=True)

    async def remove_children(self, container_id: str, child_ids: Sequence[str]) -> list[str]:
        gone = set(map(str, child_ids))

        def run(conn: sqlite3.Connection) -> list[str]:
            doc = self._load_jobs(conn, common.valid_ids([container_id])).get(container_id)
            if doc is None:
                return []
            doc["child_jobs"] = [c for c in doc.get("child_jobs") or [] if c not in gone]
            self._save_job(conn, doc)
            return list(doc["child_jobs"])

        return await self._run(run, write=True)

    async def delete_created(self, ids: Sequence[str]) -> int:
        params = (common.dumps(common.valid_ids(ids)), JobStatus.CREATED.value)
        return await self._run(
            lambda conn: conn.execute(sqlite_sql.DELETE_CREATED, params).rowcount, write=True
        )

    # ------------------------------------------------------------ operations

    @staticmethod
    def _save_op(conn: sqlite3.Connection, doc: Mapping[str, Any], insert: bool = False) -> None:
        """Write an operation row and its job index (the jobs it created)."""
        row = sqlite_sql.row(doc, sqlite_sql.OP_FIELDS)
        if insert:
            conn.execute(sqlite_sql.INSERT_OP, row)
        else:
            conn.execute(sqlite_sql.UPDATE_OP, (*row[1:], row[0]))
            conn.execute("DELETE FROM operation_jobs WHERE op_id = ?", (row[0],))
        jobs = dict.fromkeys(str(j) for j in doc.get("job_ids") or ())
        conn.executemany(
            "INSERT INTO operation_jobs (job_id, op_id) VALUES (?, ?)", [(j, row[0]) for j in jobs]
        )

    async def insert_operation(self, op: Operation) -> Operation | None:
        doc = common.operation_doc(op)
        slot = doc.get(SLOT_FIELD)

        def run(conn: sqlite3.Connection) -> Operation | None:
            if sqlite_sql.load_doc(conn, sqlite_sql.OP_BY_ID, op.id) is not None:
                return None  # this very operation is already stored
            held = sqlite_sql.load_doc(conn, sqlite_sql.OP_BY_SLOT, slot) if slot is not None else None
            if held is not None:
                holder = Operation.from_doc(held)
                if not common.idempotency_expired(holder, op):
                    return holder
                held.pop(SLOT_FIELD, None)
                self._save_op(conn, held)
            self._save_op(conn, doc, insert=True)
            return None

        return await self._run(run, write=True)

    async def get_operation(self, op_id: str) -> Operation | None:
        doc = await self._run(lambda conn: sqlite_sql.load_doc(conn, sqlite_sql.OP_BY_ID, op_id))
        return None if doc is None else Operation.from_doc(doc)

    async def update_operation(self, update: OperationUpdate) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            doc = sqlite_sql.load_doc(conn, sqlite_sql.OP_BY_ID, update.op_id)
            if doc is None or not update.accepts(doc["state"], doc.get("updated")):
                return False
            common.apply_fields(doc, update.fields, common.NEVER_NULL_OPERATION_FIELDS)
            self._save_op(conn, doc)
            return True

        return await self._run(run, write=True)

    async def find_operations(self, query: OperationQuery) -> list[Operation]:
        where, params = sqlite_sql.operation_where(common.operation_terms(query))
        sql = f"SELECT doc FROM operations WHERE {where} ORDER BY created, id LIMIT ?"  # noqa: S608
        params.append(query.limit if query.limit > 0 else -1)
        rows = await self._run(lambda conn: conn.execute(sql, params).fetchall())
        return [Operation.from_doc(json.loads(r[0])) for r in rows]

    # ------------------------------------------------------------ logs

    async def add_logs(self, job_id: str, lines: Sequence[Mapping[str, Any]]) -> int:
        return await self._run(lambda conn: sqlite_sql.append_logs(conn, job_id, lines), write=bool(lines))

    async def add_logs_many(self, lines: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
        def run(conn: sqlite3.Connection) -> None:
            for job_id, job_lines in lines.items():
                sqlite_sql.append_logs(conn, job_id, job_lines)

        if lines:
            await self._run(run, write=True)

    async def get_states(self, prefix: str) -> dict[str, dict[str, Any]]:
        return await self._run(lambda conn: sqlite_sql.read_states(conn, prefix))

    async def put_states(self, docs: Mapping[str, Mapping[str, Any]]) -> None:
        await self._run(lambda conn: sqlite_sql.write_states(conn, docs), write=bool(docs))

    async def put_states_if(self, writes: Sequence[StateWrite]) -> dict[str, str]:
        return await self._run(lambda conn: sqlite_sql.write_states_if(conn, writes), write=bool(writes))

    async def get_logs(self, job_id: str, skip: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        def run(conn: sqlite3.Connection) -> tuple[list[dict[str, Any]], int]:
            return sqlite_sql.log_page(conn, job_id, skip, limit, _DOC_DECODER.decode)

        # Read and decoded like a job (a line no answer could carry fails), inline for a short page.
        found = self._reader.read(run) if limit <= INLINE_LOG_LINES else None
        return found if found is not None else await self._run(run)

    # ------------------------------------------------------------ leases

    async def acquire_lease(self, name: str, holder: str, ttl_s: float, now: float) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            row = conn.execute("SELECT holder, expires FROM leases WHERE name = ?", (name,)).fetchone()
            if row is not None and not common.lease_is_takeable(row[0], row[1], holder, now):
                return False
            conn.execute("INSERT OR REPLACE INTO leases VALUES (?, ?, ?)", (name, holder, now + ttl_s))
            return True

        return await self._run(run, write=True)

    async def release_lease(self, name: str, holder: str) -> None:
        sql = "DELETE FROM leases WHERE name = ? AND holder = ?"
        await self._run(lambda conn: conn.execute(sql, (name, holder)), write=True)
