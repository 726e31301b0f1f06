"""A settable clock for tests."""

from __future__ import annotations

import time


class FakeClock:
    """Starts at a fixed epoch second (or now) and moves only when told."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds
