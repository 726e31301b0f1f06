"""Job and operation ids: 24 lowercase hex characters, laid out like a MongoDB ObjectId; and the
git commit hashes that pin an app's version."""

from __future__ import annotations

import itertools
import os
import re
import threading
import time

_HEX24 = re.compile(r"[0-9a-f]{24}")
_COMMIT = re.compile(r"[0-9a-fA-F]{40}")
_counter = itertools.count(int.from_bytes(os.urandom(3), "big"))
_lock = threading.Lock()
_PROCESS_RANDOM = os.urandom(5)


def is_job_id(value: object) -> bool:
    """True for a str of exactly 24 lowercase hex characters (ObjectId's string form)."""
    return isinstance(value, str) and _HEX24.fullmatch(value) is not None


def is_commit_hash(value: object) -> bool:
    """True for a full 40-hex-digit git commit hash."""
    return isinstance(value, str) and _COMMIT.fullmatch(value) is not None


def new_id(now: float | None = None) -> str:
    """A new ObjectId-compatible id: 4-byte seconds, 5 random bytes per process, 3-byte counter."""
    seconds = int(time.time() if now is None else now) & 0xFFFFFFFF
    with _lock:
        count = next(_counter) & 0xFFFFFF
    return (seconds.to_bytes(4, "big") + _PROCESS_RANDOM + count.to_bytes(3, "big")).hex()


def id_time(job_id: str) -> float:
    """The creation second encoded in an id."""
    return float(int(job_id[:8], 16))
