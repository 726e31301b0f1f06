"""Retry budgets over sliding windows: when may the next automatic retry start?

A budget holds a retry back instead of dropping it: each function answers the earliest time (epoch
ms) at which one more start fits, which becomes the decision's `next_at`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from ee_retry.domain.policy.model import Budgets

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
NEAR_EXHAUSTED_RATIO = 0.8  # get_retry_policy lists budgets used at least this much


@dataclass(frozen=True)
class BudgetUse:
    """What one user's and one app's automatic retries have used, as plain values."""

    user_starts_ms: tuple[int, ...] = ()  # starts of automatic retries of the user's jobs (last hour)
    app_starts_ms: tuple[int, ...] = ()  # starts of automatic retries of the app's jobs (last hour)
    user_failed_core_hours: tuple[tuple[int, float], ...] = ()  # (finished ms, core-hours), last day

    def with_start(self, now_ms: int) -> BudgetUse:
        """The use after one more start now (a pass that starts many retries counts each one)."""
        return replace(
            self,
            user_starts_ms=(*self.user_starts_ms, now_ms),
            app_starts_ms=(*self.app_starts_ms, now_ms),
        )


def count_allows_at(limit: int | None, starts_ms: Iterable[int], window_ms: int, now_ms: int) -> int:
    """Earliest time >= now at which fewer than `limit` starts lie in the window before it."""
    if limit is None:
        return now_ms
    recent = sorted(t for t in starts_ms if t > now_ms - window_ms)
    if len(recent) < limit:
        return now_ms
    return max(now_ms, recent[len(recent) - limit] + window_ms)


def sum_allows_at(
    limit: float | None, entries: Iterable[tuple[int, float]], window_ms: int, now_ms: int
) -> int:
    """Earliest time >= now at which the amounts in the window before it add up to less than `limit`."""
    if limit is None:
        return now_ms
    recent = sorted((at_ms, amount) for at_ms, amount in entries if at_ms > now_ms - window_ms)
    total = sum(amount for _, amount in recent)
    allowed_at = now_ms
    for at_ms, amount in recent:
        if total < limit:
            break
        total -= amount
        allowed_at = max(allowed_at, at_ms + window_ms)
    return allowed_at


def allows_at(budgets: Budgets, use: BudgetUse, now_ms: int) -> int:
    """Earliest time >= now at which one more automatic retry fits every budget."""
    return max(
        count_allows_at(budgets.per_user_per_hour, use.user_starts_ms, HOUR_MS, now_ms),
        count_allows_at(budgets.per_app_per_hour, use.app_starts_ms, HOUR_MS, now_ms),
        sum_allows_at(budgets.core_hours_per_user_per_day, use.user_failed_core_hours, DAY_MS, now_ms),
    )


def usage(budgets: Budgets, use: BudgetUse, now_ms: int) -> dict[str, tuple[float, float]]:
    """Each limited budget's (used, limit) now."""
    out: dict[str, tuple[float, float]] = {}
    if budgets.per_user_per_hour is not None:
        used = sum(1 for t in use.user_starts_ms if t > now_ms - HOUR_MS)
        out["per_user_per_hour"] = (used, budgets.per_user_per_hour)
    if budgets.per_app_per_hour is not None:
        used = sum(1 for t in use.app_starts_ms if t > now_ms - HOUR_MS)
        out["per_app_per_hour"] = (used, budgets.per_app_per_hour)
    if budgets.core_hours_per_user_per_day is not None:
        spent = sum(v for t, v in use.user_failed_core_hours if t > now_ms - DAY_MS)
        out["core_hours_per_user_per_day"] = (round(spent, 6), budgets.core_hours_per_user_per_day)
    return out


def near_exhausted(used: float, limit: float) -> bool:
    return limit <= 0 or used >= NEAR_EXHAUSTED_RATIO * limit
