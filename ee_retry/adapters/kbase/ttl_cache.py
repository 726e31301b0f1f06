"""A small time-to-live cache for answers from KBase auth, workspace and catalog.

Entries expire `ttl_s` seconds after they were stored, measured with an injected clock so tests can
move time without sleeping. The cache is bounded: when full, the oldest entries go first.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

DEFAULT_MAX_ENTRIES = 100_000  # bounds memory if many distinct keys (tokens, workspaces) pass through


class TTLCache(Generic[K, V]):
    """Maps keys to values that are forgotten `ttl_s` seconds after they were put."""

    def __init__(
        self,
        ttl_s: float,
        now: Callable[[], float] | None = None,
        max_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        if ttl_s < 0:
            raise ValueError("ttl_s must not be negative")
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._ttl_s = ttl_s
        self._now = now or time.monotonic
        self._max_entries = max_entries
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The live value for `key`, or None when it is absent or has expired."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if self._now() >= expires:
            del self._entries[key]
            return None
        return value

    def put(self, key: K, value: V) -> None:
        """Store `value` under `key` for the cache's time to live."""
        self._entries.pop(key, None)
        self._entries[key] = (self._now() + self._ttl_s, value)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every entry."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
