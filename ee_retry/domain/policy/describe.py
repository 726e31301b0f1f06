"""A policy as plain data and as lines a person reads (ee-retry-policy check, get_retry_policy)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ee_retry.domain.policy.model import Backoff, Policy, Rule, When


def backoff_dict(backoff: Backoff) -> dict[str, Any]:
    return {
        "initial_s": backoff.initial_s,
        "factor": backoff.factor,
        "max_s": backoff.max_s,
        "jitter": backoff.jitter.value,
    }


def when_dict(when: When) -> dict[str, Any]:
    """Only the conditions given."""
    out: dict[str, Any] = {}
    for key, value in asdict(when).items():
        if value is None or value == ():
            continue
        out[key] = list(value) if isinstance(value, tuple) else value
    return out


def rule_dict(policy: Policy, rule: Rule) -> dict[str, Any]:
    out: dict[str, Any] = {"name": rule.name, "when": when_dict(rule.when), "action": rule.action.value}
    if rule.action.value == "retry":
        out["count"] = rule.count
        out["max_attempts"] = policy.max_attempts_of(rule)
        out["backoff"] = backoff_dict(policy.backoff_of(rule))
        if rule.memory is not None:
            out["memory"] = {"factor": rule.memory.factor, "max_mb": rule.memory.max_mb}
    return out


def policy_dict(policy: Policy) -> dict[str, Any]:
    budgets = policy.budgets
    return {
        "defaults": {"max_attempts": policy.max_attempts, "backoff": backoff_dict(policy.backoff)},
        "rules": [rule_dict(policy, r) for r in policy.rules],
        "budgets": {
            "per_user_per_hour": budgets.per_user_per_hour,
            "per_app_per_hour": budgets.per_app_per_hour,
            "core_hours_per_user_per_day": budgets.core_hours_per_user_per_day,
        },
        "breaker": asdict(policy.breaker) if policy.breaker is not None else None,
    }


def _conditions(when: When) -> str:
    parts = []
    for key, value in when_dict(when).items():
        shown = ", ".join(str(v) for v in value) if isinstance(value, list) else repr(value)
        parts.append(
            f"{key} in [{shown}]" if isinstance(value, list) and len(value) > 1 else f"{key} = {shown}"
        )
    return " and ".join(parts) or "any failure"


def policy_lines(policy: Policy) -> list[str]:
    """One line per rule in matching order, then the budgets and the breaker."""
    lines = []
    for i, rule in enumerate(policy.rules, 1):
        head = f"{i}. {rule.name}: when {_conditions(rule.when)} -> {rule.action.value}"
        if rule.action.value == "retry":
            backoff = policy.backoff_of(rule)
            limit = f"up to {policy.max_attempts_of(rule)} attempts" if rule.count else "not counted"
            head += (
                f" ({limit}; backoff {backoff.initial_s:g} s x {backoff.factor:g}^(n-1), "
                f"at most {backoff.max_s:g} s, "
                f"jitter {backoff.jitter.value}"
            )
            if rule.memory is not None:
                head += f"; memory x {rule.memory.factor:g} up to {rule.memory.max_mb} MB"
            head += ")"
        lines.append(head)
    if not policy.rules:
        lines.append("no rules: no failure is retried automatically")
    limits = {k: v for k, v in policy_dict(policy)["budgets"].items() if v is not None}
    lines.append("budgets: " + (", ".join(f"{k} = {v:g}" for k, v in limits.items()) or "none"))
    breaker = policy.breaker
    lines.append(
        "breaker: none"
        if breaker is None
        else f"breaker: opens when over {breaker.max_failure_ratio:g} of at least {breaker.min_finished} "
        f"jobs of an app finished in {breaker.window_s:g} s failed; one retry let through after "
        f"{breaker.cooldown_s:g} s"
    )
    return lines
