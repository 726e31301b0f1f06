"""Failed tries of one repeated action, and when to try it next: the delay doubles from a first
delay up to a cap while the failures continue."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tries:
    first_failed_at: float  # epoch seconds of the first failure
    failures: int
    next_at: float  # epoch seconds; not tried again before this
    error: str  # what the latest failure said


def failed(previous: Tries | None, now: float, error: str, first_delay_s: float, cap_s: float) -> Tries:
    """The tries after one more failure at `now`."""
    failures = 1 if previous is None else previous.failures + 1
    delay = min(cap_s, first_delay_s * 2 ** (failures - 1))
    first = now if previous is None else previous.first_failed_at
    return Tries(first, failures, now + delay, error)
