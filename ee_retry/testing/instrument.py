"""A proxy around any port that counts calls, injects latency, and can crash after a named call, lose
one or fail one.

The benchmark uses it to count store round trips and scheduler transactions with realistic latency.
The crash-point tests use it to stop a request right after one lifecycle step, as a process death
would (`Crash` derives from BaseException so no `except Exception` in the service swallows it); to
answer one write as done without doing it, as a database that loses an acknowledged write when it
dies does; and to fail one call, as a store or scheduler that is away does.
"""

from __future__ import annotations

import asyncio
import functools
from collections import Counter
from collections.abc import Callable
from typing import Any


class Crash(BaseException):
    """The process 'died' here."""


class Instrumented:
    """Wraps every coroutine method of `target`; other attributes pass through."""

    def __init__(
        self, target: Any, latency_s: float = 0.0, counted: Callable[[str], bool] | None = None
    ) -> None:
        self._target = target
        self.latency_s = latency_s
        self.calls: Counter[str] = Counter()
        self._counted = counted or (lambda name: True)
        self._crash: tuple[str, int] | None = None
        self._lose: tuple[str, int, Any] | None = None
        self._fail: tuple[str, int, Exception, int | None] | None = None

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def reset(self) -> None:
        self.calls.clear()

    def crash_after(self, method: str, nth: int = 1) -> None:
        """Raise Crash right after the nth call of `method` has taken effect."""
        self._crash = (method, nth)

    def lose(self, method: str, nth: int = 1, answer: Any = None) -> None:
        """Answer the nth call of `method` with `answer` without passing it on: a lost write."""
        self._lose = (method, nth, answer)

    def fail(self, method: str, error: Exception, nth: int = 1, times: int | None = 1) -> None:
        """Raise `error` instead of passing on `times` calls of `method` from its nth on (None: every
        call until `heal`): a port that is away."""
        self._fail = (method, nth, error, times)

    def heal(self) -> None:
        """Pass every call on again: the port is back."""
        self._fail = None

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not asyncio.iscoroutinefunction(attr):
            return attr

        @functools.wraps(attr)
        async def call(*args: Any, **kwargs: Any) -> Any:
            counted = self._counted(name)
            if counted:
                self.calls[name] += 1
                if self.latency_s:
                    await asyncio.sleep(self.latency_s)
            if self._fail is not None and self._fail[0] == name and self.calls[name] >= self._fail[1]:
                method, nth, error, times = self._fail
                left = None if times is None else times - 1
                self._fail = None if left == 0 else (method, nth, error, left)
                raise error
            if self._lose is not None and self._lose[0] == name and self.calls[name] >= self._lose[1]:
                answer, self._lose = self._lose[2], None
                return answer
            result = await attr(*args, **kwargs)
            if self._crash is not None and self._crash[0] == name and self.calls[name] >= self._crash[1]:
                self._crash = None
                raise Crash(f"crash after {name}")
            return result

        return call
