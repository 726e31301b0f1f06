"""The decision about a failed job, and how a pending decision moves until its attempt starts.

    state            set by                                   next
    scheduled        decide (rule says retry, attempts left)  gate at next_at: start, or held back
    waiting_budget   gate: a budget is used up until next_at  gate again at next_at
    paused           gate: the app's breaker is open          gate again at next_at
    exhausted        decide: max_attempts attempts failed     final
    stopped          decide: stop rule, no rule, or a person  final
                     cancelled the automatic attempt
    superseded       a person retried the job meanwhile       final (a later failure is decided anew)
    succeeded        the automatic attempt completed          final

Once started, a decision stays `scheduled` with `attempt_id` set until that attempt ends.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ee_retry import constants
from ee_retry.domain.policy import budgets as budget_rules
from ee_retry.domain.policy.breaker import Breaker, admit
from ee_retry.domain.policy.budgets import BudgetUse
from ee_retry.domain.policy.model import Action, AutoRetry, AutoRetryState, FailureFacts, Policy
from ee_retry.domain.policy.rules import Uniform, backoff_delay_s, eligible, first_match, next_memory_mb


def decide(
    policy: Policy, facts: FailureFacts, previous: AutoRetry | None, now_ms: int, uniform: Uniform
) -> AutoRetry | None:
    """The decision about one failed attempt; None when automatic retries do not apply to it.

    `previous` is the original's current `auto_retry`; a failure it already decides is returned as is,
    so deciding twice changes nothing."""
    if previous is not None and previous.failed_id == facts.job_id:
        return previous
    if not eligible(facts):
        if previous is not None and previous.attempt_id == facts.job_id and not facts.batch_job:
            return replace(
                previous,
                state=AutoRetryState.STOPPED,
                next_at=None,
                reason=f"automatic attempt {facts.job_id} was cancelled",
                failed_id=facts.job_id,
                decided_at=now_ms,
            )
        return None
    attempts = previous.attempts if previous else 0
    started = previous.started if previous else 0
    base = AutoRetry(
        state=AutoRetryState.STOPPED,
        rule=None,
        attempts=attempts,
        max_attempts=policy.max_attempts,
        next_at=None,
        reason="no rule matched",
        failed_id=facts.job_id,
        started=started,
        decided_at=now_ms,
    )
    rule = first_match(policy, facts)
    if rule is None:
        return base
    max_attempts = policy.max_attempts_of(rule)
    base = replace(base, rule=rule.name, max_attempts=max_attempts, counted=rule.count)
    if rule.action is Action.STOP:
        return replace(base, reason=f"stop rule {rule.name!r} matched")
    if rule.count and attempts >= max_attempts:
        return replace(base, state=AutoRetryState.EXHAUSTED, reason=f"{attempts} automatic attempts failed")
    if not rule.count and started - attempts >= constants.AUTO_RETRY_UNCOUNTED_MAX:
        return replace(
            base,
            state=AutoRetryState.EXHAUSTED,
            reason=f"{started - attempts} uncounted automatic attempts failed",
        )
    delay_s = backoff_delay_s(policy.backoff_of(rule), started + 1, uniform)
    counted = f"attempt {attempts + 1} of {max_attempts}" if rule.count else "an attempt not counted"
    return replace(
        base,
        state=AutoRetryState.SCHEDULED,
        next_at=now_ms + round(delay_s * 1000),
        reason=f"{counted} after a {delay_s:.1f} s backoff",
        memory_mb=next_memory_mb(rule.memory, facts.memory_mb),
    )


@dataclass(frozen=True)
class Gate:
    """What the starter does with one pending decision now."""

    entry: AutoRetry  # the decision, held back (waiting_budget/paused) or scheduled
    breaker: Breaker | None  # the breaker after this start (a half-open breaker records its probe)
    start: bool  # start the attempt now


def gate(
    policy: Policy,
    entry: AutoRetry,
    original_id: str,
    use: BudgetUse,
    breaker: Breaker | None,
    now_ms: int,
) -> Gate:
    """Budgets, then the breaker, at the decision's due time: start it, or hold it back until when
    they allow. Before the due time nothing starts, but a held-back state shows already."""
    if not entry.due:
        return Gate(entry, breaker, False)
    at = max(now_ms, entry.next_at if entry.next_at is not None else now_ms)
    budget_at, budget_name = _budget_hold(policy, use, at)
    if budget_at > at:
        held = replace(
            entry,
            state=AutoRetryState.WAITING_BUDGET,
            next_at=budget_at,
            reason=f"budget {budget_name} is used up",
        )
        return Gate(held, breaker, False)
    if policy.breaker is not None and breaker is not None:
        admission = admit(policy.breaker, breaker, original_id, at)
        if not admission.allowed:
            paused = replace(
                entry,
                state=AutoRetryState.PAUSED,
                next_at=admission.next_at,
                reason=f"circuit breaker of {breaker.app} is open",
            )
            return Gate(paused, breaker, False)
        if at <= now_ms:
            breaker = admission.breaker
    scheduled = entry if entry.state is AutoRetryState.SCHEDULED else _rescheduled(entry, at)
    return Gate(scheduled, breaker, at <= now_ms)


def _rescheduled(entry: AutoRetry, at: int) -> AutoRetry:
    return replace(entry, state=AutoRetryState.SCHEDULED, next_at=at, reason="no longer held back")


def _budget_hold(policy: Policy, use: BudgetUse, at: int) -> tuple[int, str]:
    budgets = policy.budgets
    holds = (
        (
            budget_rules.count_allows_at(
                budgets.per_user_per_hour, use.user_starts_ms, budget_rules.HOUR_MS, at
            ),
            "per_user_per_hour",
        ),
        (
            budget_rules.count_allows_at(
                budgets.per_app_per_hour, use.app_starts_ms, budget_rules.HOUR_MS, at
            ),
            "per_app_per_hour",
        ),
        (
            budget_rules.sum_allows_at(
                budgets.core_hours_per_user_per_day, use.user_failed_core_hours, budget_rules.DAY_MS, at
            ),
            "core_hours_per_user_per_day",
        ),
    )
    return max(holds)


def started(entry: AutoRetry, attempt_id: str, now_ms: int) -> AutoRetry:
    """The decision once its attempt exists."""
    return replace(
        entry,
        state=AutoRetryState.SCHEDULED,
        attempt_id=attempt_id,
        started=entry.started + 1,
        attempts=entry.attempts + (1 if entry.counted else 0),
        next_at=now_ms,
        reason=f"automatic attempt {attempt_id} started",
    )


def succeeded(entry: AutoRetry, now_ms: int) -> AutoRetry:
    return ended(entry, AutoRetryState.SUCCEEDED, f"automatic attempt {entry.attempt_id} completed", now_ms)


def superseded(entry: AutoRetry, attempt_id: str, now_ms: int) -> AutoRetry:
    """A person's retry of the original replaces a pending automatic one."""
    return ended(entry, AutoRetryState.SUPERSEDED, f"retried by a person as {attempt_id}", now_ms)


def ended(entry: AutoRetry, state: AutoRetryState, reason: str, now_ms: int) -> AutoRetry:
    """A final state: nothing more is started for this decision."""
    return replace(entry, state=state, next_at=None, reason=reason, decided_at=now_ms)
