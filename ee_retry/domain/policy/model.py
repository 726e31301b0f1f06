"""The values of an automatic retry policy, and the decision recorded on an original job.

Times inside the policy rules are epoch milliseconds (ints), as `next_at` is on the wire.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Jitter(str, Enum):
    FULL = "full"  # the delay is a uniform draw in [0, delay]
    NONE = "none"  # the delay is exactly the computed delay


class Action(str, Enum):
    RETRY = "retry"  # start a new attempt after the backoff
    STOP = "stop"  # never retry a failure this rule matches


@dataclass(frozen=True)
class Backoff:
    """delay = min(max_s, initial_s * factor^(n-1)) for the n-th automatic attempt."""

    initial_s: float = 30.0
    factor: float = 2.0
    max_s: float = 3600.0
    jitter: Jitter = Jitter.FULL


@dataclass(frozen=True)
class MemoryRaise:
    """The new attempt asks for min(max_mb, ceil(previous * factor)) MB."""

    factor: float
    max_mb: int


@dataclass(frozen=True)
class When:
    """Conditions on a failure; every one given must hold, a tuple means any of its members."""

    app: tuple[str, ...] = ()  # globs on Module.method
    exit_code: tuple[int, ...] = ()
    exit_code_not: tuple[int, ...] = ()  # holds when the exit code is known and none of these
    signal: tuple[int, ...] = ()
    hold_code: tuple[int, ...] = ()
    hold_subcode: tuple[int, ...] = ()
    error_code: tuple[int, ...] = ()
    message: str | None = None  # a regular expression searched in errormsg


@dataclass(frozen=True)
class Rule:
    name: str
    when: When
    action: Action
    count: bool = True  # False: an infrastructure failure that does not use up max_attempts
    max_attempts: int | None = None  # None: the defaults' value
    backoff: Backoff | None = None  # None: the defaults' backoff
    memory: MemoryRaise | None = None


@dataclass(frozen=True)
class Budgets:
    """Each None means no limit."""

    per_user_per_hour: int | None = None  # automatic retries started for one user's jobs
    per_app_per_hour: int | None = None  # automatic retries started for one app's jobs
    core_hours_per_user_per_day: float | None = None  # of a user's automatic attempts that failed


@dataclass(frozen=True)
class BreakerConfig:
    window_s: float = 900.0
    min_finished: int = 20
    max_failure_ratio: float = 0.8
    cooldown_s: float = 1800.0


@dataclass(frozen=True)
class Policy:
    rules: tuple[Rule, ...]
    max_attempts: int = 3
    backoff: Backoff = field(default_factory=Backoff)
    budgets: Budgets = field(default_factory=Budgets)
    breaker: BreakerConfig | None = None

    def max_attempts_of(self, rule: Rule) -> int:
        return rule.max_attempts if rule.max_attempts is not None else self.max_attempts

    def backoff_of(self, rule: Rule) -> Backoff:
        return rule.backoff if rule.backoff is not None else self.backoff


@dataclass(frozen=True)
class FailureFacts:
    """What is known about one failed attempt, and the job it is an attempt of."""

    job_id: str  # the failed attempt
    original_id: str
    app: str  # Module.method
    user: str
    status: str  # "error" or "terminated"
    terminated_code: int | None = None
    batch_job: bool = False
    exit_code: int | None = None
    signal: int | None = None
    hold_code: int | None = None
    hold_subcode: int | None = None
    error_code: int | None = None
    message: str = ""
    memory_mb: int = 512
    cpus: int = 1


class AutoRetryState(str, Enum):
    SCHEDULED = "scheduled"  # an attempt starts at next_at (or has started: attempt_id is set)
    WAITING_BUDGET = "waiting_budget"  # a budget holds it back until next_at
    PAUSED = "paused"  # the app's breaker is open; checked again at next_at
    EXHAUSTED = "exhausted"  # max_attempts automatic attempts failed
    STOPPED = "stopped"  # a stop rule matched, no rule matched, or a person cancelled the attempt
    SUPERSEDED = "superseded"  # a person retried the job meanwhile
    SUCCEEDED = "succeeded"  # an automatic attempt completed

    @property
    def pending(self) -> bool:
        """Whether an attempt is still to be started for this decision."""
        return self in _PENDING


_PENDING = frozenset({AutoRetryState.SCHEDULED, AutoRetryState.WAITING_BUDGET, AutoRetryState.PAUSED})


@dataclass(frozen=True)
class AutoRetry:
    """The `auto_retry` field of an original job: the latest decision about it.

    `failed_id` is the attempt whose failure this decides (each failure is decided once);
    `attempt_id` is the attempt started for it (None until started); `started` counts every automatic
    attempt of the original, `attempts` only those that use up `max_attempts`.
    """

    state: AutoRetryState
    rule: str | None
    attempts: int
    max_attempts: int
    next_at: int | None
    reason: str
    failed_id: str
    started: int = 0
    counted: bool = True  # whether the attempt this decision starts uses up max_attempts
    memory_mb: int | None = None  # memory of the attempt to start, when the rule raises it
    attempt_id: str | None = None
    decided_at: int = 0

    @property
    def due(self) -> bool:
        """Whether the starter should look at it (pending and not started yet)."""
        return self.state.pending and self.attempt_id is None

    def to_doc(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "rule": self.rule,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "next_at": self.next_at,
            "reason": self.reason,
            "failed_id": self.failed_id,
            "started": self.started,
            "counted": self.counted,
            "memory_mb": self.memory_mb,
            "attempt_id": self.attempt_id,
            "decided_at": self.decided_at,
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> AutoRetry:
        next_at = doc.get("next_at")
        memory = doc.get("memory_mb")
        return cls(
            state=AutoRetryState(doc["state"]),
            rule=doc.get("rule"),
            attempts=int(doc.get("attempts") or 0),
            max_attempts=int(doc.get("max_attempts") or 0),
            next_at=None if next_at is None else int(next_at),
            reason=str(doc.get("reason") or ""),
            failed_id=str(doc["failed_id"]),
            started=int(doc.get("started") or 0),
            counted=bool(doc.get("counted", True)),
            memory_mb=None if memory is None else int(memory),
            attempt_id=None if doc.get("attempt_id") is None else str(doc["attempt_id"]),
            decided_at=int(doc.get("decided_at") or 0),
        )

    def to_wire(self) -> dict[str, Any]:
        """What check_job shows."""
        doc = self.to_doc()
        return {key: doc[key] for key in WIRE_FIELDS}


WIRE_FIELDS = ("state", "rule", "attempts", "max_attempts", "next_at", "reason")
