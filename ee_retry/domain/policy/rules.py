"""Which rule a failure matches, how long to wait before the next attempt, and how much memory it gets."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from fnmatch import fnmatchcase

from ee_retry.domain.model import JobStatus, TerminatedCode
from ee_retry.domain.policy.model import Backoff, FailureFacts, Jitter, MemoryRaise, Policy, Rule, When

Uniform = Callable[[float, float], float]  # random.Random().uniform: a draw in [a, b]

# Terminations the system made (not a person's cancel, nor a cancelled batch): these may be retried.
SYSTEM_TERMINATIONS = frozenset(
    {TerminatedCode.TERMINATED_BY_AUTOMATION.value, TerminatedCode.TERMINATED_BY_SERVER_FAILURE.value}
)


def system_terminated(status: str, terminated_code: int | None) -> bool:
    return status == JobStatus.TERMINATED.value and terminated_code in SYSTEM_TERMINATIONS


def eligible(facts: FailureFacts) -> bool:
    """Only a job that ended in error or was terminated by the system, never a batch container;
    a user's or an admin's cancel is never retried automatically."""
    if facts.batch_job:
        return False
    return facts.status == JobStatus.ERROR.value or system_terminated(facts.status, facts.terminated_code)


def matches(when: When, facts: FailureFacts) -> bool:
    """Whether every condition `when` gives holds for the failure."""
    checks = (
        not when.app or any(fnmatchcase(facts.app, glob) for glob in when.app),
        not when.exit_code or facts.exit_code in when.exit_code,
        not when.exit_code_not or (facts.exit_code is not None and facts.exit_code not in when.exit_code_not),
        not when.signal or facts.signal in when.signal,
        not when.hold_code or facts.hold_code in when.hold_code,
        not when.hold_subcode or facts.hold_subcode in when.hold_subcode,
        not when.error_code or facts.error_code in when.error_code,
        when.message is None or re.search(when.message, facts.message or "") is not None,
    )
    return all(checks)


def first_match(policy: Policy, facts: FailureFacts) -> Rule | None:
    """The first rule whose conditions hold; None when no rule matches."""
    return next((rule for rule in policy.rules if matches(rule.when, facts)), None)


def backoff_delay_s(backoff: Backoff, n: int, uniform: Uniform) -> float:
    """Seconds before the n-th automatic attempt (n >= 1): min(max_s, initial_s * factor^(n-1)),
    with full jitter a uniform draw in [0, that]."""
    try:
        raw = backoff.initial_s * backoff.factor ** max(0, n - 1)
    except OverflowError:
        raw = math.inf
    delay = min(backoff.max_s, raw)
    if backoff.jitter is Jitter.FULL and delay > 0:
        return min(delay, max(0.0, uniform(0.0, delay)))
    return delay


def next_memory_mb(memory: MemoryRaise | None, previous_mb: int) -> int | None:
    """min(max_mb, ceil(previous * factor)); None when the rule does not raise memory."""
    if memory is None:
        return None
    return min(memory.max_mb, math.ceil(previous_mb * memory.factor))


def core_hours(cpus: int, started_s: float | None, finished_s: float | None) -> float:
    """Requested cpus times wall hours; 0 when the job never ran."""
    if started_s is None or finished_s is None or finished_s <= started_s:
        return 0.0
    return cpus * (finished_s - started_s) / 3600.0
