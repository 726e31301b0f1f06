"""Budgets over sliding windows with a fake clock (epoch ms): when one more automatic retry fits."""

from __future__ import annotations

import pytest

from ee_retry.domain.policy.budgets import (
    DAY_MS,
    HOUR_MS,
    BudgetUse,
    allows_at,
    count_allows_at,
    sum_allows_at,
    usage,
)
from ee_retry.domain.policy.model import Budgets

NOW = 10 * DAY_MS


@pytest.mark.parametrize(
    ("limit", "starts", "expected"),
    [
        (None, [NOW] * 100, NOW),
        (3, [NOW - 10, NOW - 5], NOW),
        (3, [NOW - 30, NOW - 20, NOW - 10], NOW - 30 + HOUR_MS),  # the oldest leaves the window
        (2, [NOW - 30, NOW - 20, NOW - 10], NOW - 20 + HOUR_MS),  # two must leave: the second oldest
        (3, [NOW - HOUR_MS, NOW - HOUR_MS - 1, NOW - 5], NOW),  # starts older than an hour do not count
    ],
)
def test_a_count_budget_allows_when_a_start_leaves_the_window(
    limit: int | None, starts: list[int], expected: int
) -> None:
    assert count_allows_at(limit, starts, HOUR_MS, NOW) == expected


def test_a_core_hour_budget_allows_once_enough_hours_leave_the_day() -> None:
    entries = [(NOW - 5000, 300.0), (NOW - 4000, 150.0), (NOW - 3000, 100.0)]
    assert sum_allows_at(1000.0, entries, DAY_MS, NOW) == NOW
    # 550 used, limit 500: the 300 must leave the window
    assert sum_allows_at(500.0, entries, DAY_MS, NOW) == NOW - 5000 + DAY_MS
    # limit 100: all three must leave
    assert sum_allows_at(100.0, entries, DAY_MS, NOW) == NOW - 3000 + DAY_MS


def test_the_latest_of_all_budgets_decides() -> None:
    budgets = Budgets(per_user_per_hour=1, per_app_per_hour=1, core_hours_per_user_per_day=10.0)
    use = BudgetUse(
        user_starts_ms=(NOW - 100,),
        app_starts_ms=(NOW - 50,),
        user_failed_core_hours=((NOW - 1000, 20.0),),
    )
    assert allows_at(budgets, use, NOW) == NOW - 1000 + DAY_MS
    assert allows_at(Budgets(), use, NOW) == NOW


def test_each_start_of_a_pass_uses_the_budget() -> None:
    budgets = Budgets(per_user_per_hour=2)
    use = BudgetUse()
    use = use.with_start(NOW)
    assert allows_at(budgets, use, NOW) == NOW
    use = use.with_start(NOW)
    assert allows_at(budgets, use, NOW) == NOW + HOUR_MS


def test_usage_reports_only_the_limited_budgets_in_their_windows() -> None:
    use = BudgetUse(user_starts_ms=(NOW - 1, NOW - HOUR_MS - 1), user_failed_core_hours=((NOW - 1, 2.5),))
    assert usage(Budgets(per_user_per_hour=5, core_hours_per_user_per_day=10), use, NOW) == {
        "per_user_per_hour": (1, 5),
        "core_hours_per_user_per_day": (2.5, 10),
    }
