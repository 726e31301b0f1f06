"""Point reads of the embedded store on the calling thread, beside the store's worker thread.

A read by id is a single SELECT that takes tens of microseconds, while handing it to the worker thread
and back costs two thread wake-ups, which on a busy machine cost more than the read. In WAL mode a
reader never waits for a writer, so the read runs right where it is asked, on its own read-only
connection. Anything unusual (the lock held by another thread, a busy or missing database) answers
None at once and the caller uses the worker thread as before: the event loop never waits here.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class InlineReader:
    """One read-only connection, shared by threads under a lock that is never waited for."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._closed = False

    def read(self, fn: Callable[[sqlite3.Connection], T]) -> T | None:
        """fn's answer on this thread, or None when the caller must read on the worker thread."""
        if self._closed or not self._lock.acquire(blocking=False):
            return None
        try:
            if self._conn is None:
                if not self._path.exists():  # before setup: the worker thread creates the file
                    return None
                self._conn = sqlite3.connect(
                    self._path, timeout=0, isolation_level=None, check_same_thread=False
                )
                self._conn.execute("PRAGMA query_only=ON")
            return fn(self._conn)
        except sqlite3.Error:
            return None
        finally:
            self._lock.release()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None
