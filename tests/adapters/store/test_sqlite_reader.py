"""The embedded store's caller-thread reader: it reads committed rows, and whenever it cannot read at
once (no file yet, closed, in use by another thread, a broken query) it says so instead of waiting."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from ee_retry.adapters.store.sqlite_reader import InlineReader


def _count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM t").fetchone()[0])


def _db(path: Path, rows: int) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
    conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(rows)])
    return conn


def test_a_missing_file_is_left_to_the_worker_thread(tmp_path: Path) -> None:
    reader = InlineReader(tmp_path / "none.sqlite3")
    assert reader.read(_count) is None
    assert not (tmp_path / "none.sqlite3").exists()


def test_reads_see_what_another_connection_committed(tmp_path: Path) -> None:
    writer = _db(tmp_path / "s.sqlite3", 2)
    reader = InlineReader(tmp_path / "s.sqlite3")
    assert reader.read(_count) == 2
    writer.execute("INSERT INTO t VALUES (9)")
    assert reader.read(_count) == 3
    reader.close()
    assert reader.read(_count) is None


def test_a_reader_in_use_by_another_thread_is_not_waited_for(tmp_path: Path) -> None:
    _db(tmp_path / "s.sqlite3", 1)
    reader = InlineReader(tmp_path / "s.sqlite3")
    inside, release = threading.Event(), threading.Event()

    def slow(conn: sqlite3.Connection) -> int:
        inside.set()
        release.wait(10)
        return _count(conn)

    other = threading.Thread(target=reader.read, args=(slow,))
    other.start()
    assert inside.wait(10)
    try:
        assert reader.read(_count) is None
    finally:
        release.set()
        other.join()
    assert reader.read(_count) == 1


def test_a_failing_query_is_left_to_the_worker_thread_and_nothing_is_written(tmp_path: Path) -> None:
    _db(tmp_path / "s.sqlite3", 1)
    reader = InlineReader(tmp_path / "s.sqlite3")
    assert reader.read(lambda conn: conn.execute("SELECT * FROM missing").fetchall()) is None
    assert reader.read(lambda conn: conn.execute("INSERT INTO t VALUES (1)").rowcount) is None
    assert reader.read(_count) == 1
