"""The per-app circuit breaker, as pure functions over a `Breaker` value.

state      moved by                            to
closed     observe: >= min_finished finished   open (opened_at = now)
           in the window, failure ratio above
           max_failure_ratio
open       admit after cooldown_s              half_open, one retry let through (the probe)
half_open  probe's attempt completed           closed (outcomes before now no longer count)
half_open  probe's attempt failed              open (opened_at = now)
half_open  probe older than cooldown_s         another probe may be let through
any        reset by an admin                   closed (outcomes before now no longer count)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from ee_retry import constants
from ee_retry.domain.policy.model import BreakerConfig


class BreakerState(str, Enum):
    CLOSED = "closed"  # automatic retries of the app start
    OPEN = "open"  # automatic retries of the app are paused
    HALF_OPEN = "half_open"  # one probe retry is let through; its outcome closes or reopens


@dataclass(frozen=True)
class Breaker:
    app: str
    state: BreakerState = BreakerState.CLOSED
    opened_at_ms: int | None = None
    since_ms: int = 0  # outcomes finished before this do not count (set when it closes)
    probe_id: str | None = None  # the original job whose automatic attempt is the probe
    probe_at_ms: int | None = None


@dataclass(frozen=True)
class Admission:
    allowed: bool
    breaker: Breaker
    next_at: int | None = None  # when to look again, if not allowed


def observe(config: BreakerConfig, breaker: Breaker, finished: int, failed: int, now_ms: int) -> Breaker:
    """A closed breaker opens when the app's recent outcomes (counted since `since_ms`, within the
    window) fail too often; other states change only through admit, probe outcomes and reset."""
    if breaker.state is not BreakerState.CLOSED or finished < config.min_finished or finished <= 0:
        return breaker
    if failed / finished > config.max_failure_ratio:
        return replace(breaker, state=BreakerState.OPEN, opened_at_ms=now_ms, probe_id=None, probe_at_ms=None)
    return breaker


def window_start_ms(config: BreakerConfig, breaker: Breaker, now_ms: int) -> int:
    """Outcomes finished at or after this count toward `observe`."""
    return max(breaker.since_ms, now_ms - int(config.window_s * 1000))


def admit(config: BreakerConfig, breaker: Breaker, original_id: str, now_ms: int) -> Admission:
    """May an automatic retry of `original_id` start now?"""
    cooldown_ms = int(config.cooldown_s * 1000)
    if breaker.state is BreakerState.CLOSED:
        return Admission(True, breaker)
    if breaker.state is BreakerState.OPEN:
        reopen_at = (breaker.opened_at_ms or now_ms) + cooldown_ms
        if now_ms < reopen_at:
            return Admission(False, breaker, reopen_at)
        return Admission(True, _probe(breaker, original_id, now_ms))
    if breaker.probe_id == original_id:
        return Admission(True, breaker)
    probe_expires = (breaker.probe_at_ms or now_ms) + cooldown_ms
    if breaker.probe_id is None or now_ms >= probe_expires:
        return Admission(True, _probe(breaker, original_id, now_ms))
    # look again soon: the probe's success closes the breaker and the paused retries resume
    return Admission(False, breaker, min(probe_expires, now_ms + int(constants.BREAKER_RECHECK_S * 1000)))


def _probe(breaker: Breaker, original_id: str, now_ms: int) -> Breaker:
    return replace(breaker, state=BreakerState.HALF_OPEN, probe_id=original_id, probe_at_ms=now_ms)


def probe_finished(breaker: Breaker, original_id: str, succeeded: bool, now_ms: int) -> Breaker:
    """The outcome of an automatic attempt; only the probe's outcome moves a half-open breaker."""
    if breaker.state is not BreakerState.HALF_OPEN or breaker.probe_id != original_id:
        return breaker
    if succeeded:
        return closed(breaker.app, now_ms)
    return replace(breaker, state=BreakerState.OPEN, opened_at_ms=now_ms, probe_id=None, probe_at_ms=None)


def closed(app: str, now_ms: int) -> Breaker:
    """A closed breaker that ignores outcomes before now (after a success or an admin's reset)."""
    return Breaker(app=app, since_ms=now_ms)
