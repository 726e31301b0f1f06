"""The decision about a failed job: the rule's action, attempts, backoff, memory, and the gate of
budgets and breaker at its due time (fake clock and a recorded random source)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

import ee_retry.demo
from ee_retry import constants
from ee_retry.domain.policy import decide as d
from ee_retry.domain.policy.breaker import Breaker, BreakerState, observe
from ee_retry.domain.policy.budgets import HOUR_MS, BudgetUse
from ee_retry.domain.policy.model import AutoRetry, AutoRetryState, Budgets, FailureFacts
from ee_retry.domain.policy.parse import parse_policy_text

POLICY = parse_policy_text(Path(ee_retry.demo.__file__).with_name("policy.toml").read_text())
NOW = 1_700_000_000_000
ORIG = "0" * 24
FLAKY = FailureFacts(
    job_id=ORIG, original_id=ORIG, app="Flaky.fetch", user="alice", status="error", exit_code=3, error_code=1
)
S = AutoRetryState


def half(a: float, b: float) -> float:
    return (a + b) / 2


def decide(facts: FailureFacts, previous: AutoRetry | None = None) -> AutoRetry | None:
    return d.decide(POLICY, facts, previous, NOW, half)


@pytest.mark.parametrize(
    ("facts", "state", "rule", "next_at", "memory"),
    [
        (FLAKY, S.SCHEDULED, "flaky downloads", NOW + 1000, None),
        (
            replace(FLAKY, exit_code=2, message="invalid input: x"),
            S.STOPPED,
            "bad input never heals",
            None,
            None,
        ),
        (replace(FLAKY, exit_code=7), S.STOPPED, None, None, None),  # no rule matches
        (
            replace(FLAKY, hold_code=34, hold_subcode=102, memory_mb=1000),
            S.SCHEDULED,
            "out of memory",
            NOW + 15_000,
            1500,
        ),
        (
            replace(FLAKY, exit_code=None, signal=9, memory_mb=512),
            S.SCHEDULED,
            "killed by the kernel",
            NOW + 1000,
            768,
        ),
        (
            replace(FLAKY, exit_code=None, hold_code=12),
            S.SCHEDULED,
            "file transfer glitch",
            NOW + 15_000,
            None,
        ),
    ],
)
def test_the_first_rule_decides_a_failure(
    facts: FailureFacts, state: AutoRetryState, rule: str | None, next_at: int | None, memory: int | None
) -> None:
    entry = decide(facts)
    assert entry is not None
    assert (entry.state, entry.rule, entry.next_at, entry.memory_mb) == (state, rule, next_at, memory)
    assert entry.failed_id == facts.job_id


@pytest.mark.parametrize(
    "facts",
    [
        replace(FLAKY, status="terminated", terminated_code=0),
        replace(FLAKY, status="terminated", terminated_code=1),
        replace(FLAKY, batch_job=True),
    ],
)
def test_a_cancel_or_a_batch_container_gets_no_decision(facts: FailureFacts) -> None:
    assert decide(facts) is None


def test_a_system_termination_is_decided() -> None:
    entry = decide(replace(FLAKY, status="terminated", terminated_code=2))
    assert entry is not None and entry.state is S.SCHEDULED


def test_a_failure_already_decided_is_not_decided_again() -> None:
    first = decide(FLAKY)
    assert first is not None
    assert d.decide(POLICY, FLAKY, first, NOW + 999_999, half) == first


def run_attempts(facts: FailureFacts, failures: int) -> list[AutoRetry]:
    """Decide, start and fail `failures` times in a row; the decisions in order."""
    entries: list[AutoRetry] = []
    previous: AutoRetry | None = None
    failed = facts
    for i in range(failures):
        entry = d.decide(POLICY, failed, previous, NOW + i, half)
        assert entry is not None
        entries.append(entry)
        if not entry.state.pending:
            break
        attempt = f"{i + 1:024x}"
        previous = d.started(entry, attempt, NOW + i)
        failed = replace(failed, job_id=attempt)
    return entries


def test_a_flaky_job_is_retried_up_to_the_rule_max_attempts_then_exhausted() -> None:
    entries = run_attempts(FLAKY, 10)
    assert [e.state for e in entries] == [S.SCHEDULED] * 5 + [S.EXHAUSTED]
    assert [e.attempts for e in entries] == [0, 1, 2, 3, 4, 5]
    assert entries[-1].max_attempts == 5


def test_an_uncounted_rule_never_uses_up_max_attempts_but_is_bounded() -> None:
    entries = run_attempts(replace(FLAKY, exit_code=None, hold_code=13), 100)
    assert entries[-1].state is S.EXHAUSTED
    assert entries[-1].attempts == 0
    assert entries[-1].started == constants.AUTO_RETRY_UNCOUNTED_MAX


def test_backoff_grows_with_each_automatic_attempt() -> None:
    entries = run_attempts(replace(FLAKY, exit_code=None, hold_code=34, hold_subcode=102), 3)
    delays = [e.next_at - e.decided_at for e in entries if e.next_at is not None]
    assert delays == [15_000, 30_000, 60_000]  # full jitter drawn at the middle of 30, 60, 120 s


def test_manual_retries_do_not_count_toward_max_attempts() -> None:
    first = decide(FLAKY)
    assert first is not None
    taken_over = d.superseded(first, "f" * 24, NOW)
    manual_failed = replace(FLAKY, job_id="f" * 24)
    again = d.decide(POLICY, manual_failed, taken_over, NOW + 5, half)
    assert again is not None and again.state is S.SCHEDULED and again.attempts == 0


def test_a_cancelled_automatic_attempt_stops_the_automatic_retries() -> None:
    entry = decide(FLAKY)
    assert entry is not None
    running = d.started(entry, "1" * 24, NOW)
    cancel = replace(FLAKY, job_id="1" * 24, status="terminated", terminated_code=0)
    after = d.decide(POLICY, cancel, running, NOW + 10, half)
    assert after is not None and after.state is S.STOPPED and "cancelled" in after.reason


def test_a_succeeded_attempt_ends_the_decision() -> None:
    entry = decide(FLAKY)
    assert entry is not None
    done = d.succeeded(d.started(entry, "1" * 24, NOW), NOW + 5)
    assert done.state is S.SUCCEEDED and not done.due


def test_the_wire_view_has_exactly_the_documented_fields() -> None:
    entry = decide(FLAKY)
    assert entry is not None
    assert entry.to_wire() == {
        "state": "scheduled",
        "rule": "flaky downloads",
        "attempts": 0,
        "max_attempts": 5,
        "next_at": NOW + 1000,
        "reason": entry.reason,
    }
    assert AutoRetry.from_doc(entry.to_doc()) == entry


# The gate at the due time: budgets, then the breaker.
BUDGETED = replace(POLICY, budgets=Budgets(per_user_per_hour=2))


def scheduled(at: int = NOW) -> AutoRetry:
    entry = decide(FLAKY)
    assert entry is not None
    return replace(entry, next_at=at)


def test_nothing_starts_before_the_due_time() -> None:
    gate = d.gate(POLICY, scheduled(NOW + 10), ORIG, BudgetUse(), None, NOW)
    assert not gate.start and gate.entry.state is S.SCHEDULED


def test_a_due_retry_within_budget_starts() -> None:
    gate = d.gate(BUDGETED, scheduled(), ORIG, BudgetUse(user_starts_ms=(NOW - 5,)), None, NOW)
    assert gate.start and gate.entry.state is S.SCHEDULED


def test_a_used_up_budget_holds_the_retry_until_it_allows() -> None:
    use = BudgetUse(user_starts_ms=(NOW - 100, NOW - 50))
    gate = d.gate(BUDGETED, scheduled(), ORIG, use, None, NOW)
    assert not gate.start
    assert gate.entry.state is S.WAITING_BUDGET and gate.entry.next_at == NOW - 100 + HOUR_MS
    assert "per_user_per_hour" in gate.entry.reason

    later = d.gate(BUDGETED, gate.entry, ORIG, use, None, NOW - 100 + HOUR_MS)
    assert later.start and later.entry.state is S.SCHEDULED


def test_an_open_breaker_pauses_then_lets_one_probe_through() -> None:
    assert POLICY.breaker is not None
    open_breaker = observe(POLICY.breaker, Breaker("Flaky.fetch"), 20, 20, NOW)
    paused = d.gate(POLICY, scheduled(), ORIG, BudgetUse(), open_breaker, NOW + 1)
    assert not paused.start and paused.entry.state is S.PAUSED
    assert paused.entry.next_at == NOW + 1_800_000
    assert paused.breaker == open_breaker

    probe = d.gate(POLICY, paused.entry, ORIG, BudgetUse(), open_breaker, NOW + 1_800_000)
    assert probe.start and probe.breaker is not None
    assert probe.breaker.state is BreakerState.HALF_OPEN and probe.breaker.probe_id == ORIG

    other = d.gate(POLICY, scheduled(NOW + 1_800_000), "9" * 24, BudgetUse(), probe.breaker, NOW + 1_800_000)
    assert not other.start and other.entry.state is S.PAUSED


def test_a_budget_hold_does_not_spend_the_breaker_probe() -> None:
    assert POLICY.breaker is not None
    open_breaker = observe(POLICY.breaker, Breaker("Flaky.fetch"), 20, 20, NOW)
    use = BudgetUse(user_starts_ms=(NOW + 1_800_000 - 1, NOW + 1_800_000 - 1))
    gate = d.gate(BUDGETED, scheduled(), ORIG, use, open_breaker, NOW + 1_800_000)
    assert gate.entry.state is S.WAITING_BUDGET and gate.breaker == open_breaker
