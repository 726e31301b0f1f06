"""Matching failures to rules, backoff with jitter, and the memory of the next attempt."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from ee_retry.domain.policy.model import Backoff, FailureFacts, Jitter, MemoryRaise, When
from ee_retry.domain.policy.parse import parse_policy_text
from ee_retry.domain.policy.rules import (
    backoff_delay_s,
    core_hours,
    eligible,
    first_match,
    matches,
    next_memory_mb,
)

FAIL = FailureFacts(
    job_id="a" * 24,
    original_id="a" * 24,
    app="Flaky.fetch",
    user="alice",
    status="error",
    exit_code=3,
    error_code=1,
    message="Job process exited with code 3: download timed out",
)


@pytest.mark.parametrize(
    ("when", "facts", "expected"),
    [
        (When(), FAIL, True),
        (When(app=("Flaky.*",)), FAIL, True),
        (When(app=("Other.*", "Flaky.f*")), FAIL, True),
        (When(app=("flaky.*",)), FAIL, False),  # globs are case-sensitive, as module names are
        (When(exit_code=(3, 4)), FAIL, True),
        (When(exit_code=(4,)), FAIL, False),
        (When(exit_code_not=(0, 1)), FAIL, True),
        (When(exit_code_not=(3,)), FAIL, False),
        (When(exit_code_not=(3,)), replace(FAIL, exit_code=None, signal=9), False),  # needs a known code
        (When(signal=(9,)), replace(FAIL, exit_code=None, signal=9), True),
        (When(signal=(9,)), FAIL, False),
        (When(hold_code=(34,), hold_subcode=(102,)), replace(FAIL, hold_code=34, hold_subcode=102), True),
        (When(hold_code=(34,), hold_subcode=(102,)), replace(FAIL, hold_code=34, hold_subcode=7), False),
        (When(error_code=(1,)), FAIL, True),
        (When(error_code=(3,)), FAIL, False),
        (When(message="timed out"), FAIL, True),
        (When(message="(?i)DOWNLOAD"), FAIL, True),
        (When(message="^download"), FAIL, False),  # searched, but ^ still anchors at the start
        (When(app=("Flaky.*",), exit_code=(2,)), FAIL, False),  # every condition given must hold
    ],
)
def test_a_condition_holds_only_for_the_failures_it_names(
    when: When, facts: FailureFacts, expected: bool
) -> None:
    assert matches(when, facts) is expected


def test_the_first_matching_rule_wins_and_no_match_is_none() -> None:
    policy = parse_policy_text(
        """
        [[rules]]
        name = "specific"
        when = { app = "Flaky.*", exit_code = [3] }
        action = "retry"
        [[rules]]
        name = "catch all exit 3"
        when = { exit_code = [3] }
        action = "stop"
        """
    )
    rule = first_match(policy, FAIL)
    assert rule is not None and rule.name == "specific"
    other = first_match(policy, replace(FAIL, app="Other.run"))
    assert other is not None and other.name == "catch all exit 3"
    assert first_match(policy, replace(FAIL, exit_code=1)) is None


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (FAIL, True),
        (replace(FAIL, status="terminated", terminated_code=2), True),  # by automation (the system)
        (replace(FAIL, status="terminated", terminated_code=0), False),  # a user's cancel
        (replace(FAIL, status="terminated", terminated_code=1), False),  # an admin's cancel
        (replace(FAIL, status="terminated", terminated_code=3), False),  # a person cancelled its batch
        (replace(FAIL, status="terminated", terminated_code=4), True),  # the service could not keep it
        (replace(FAIL, status="terminated", terminated_code=None), False),
        (replace(FAIL, batch_job=True), False),
        (replace(FAIL, status="completed"), False),
    ],
)
def test_only_errors_and_system_terminations_of_real_jobs_are_eligible(
    facts: FailureFacts, expected: bool
) -> None:
    assert eligible(facts) is expected


def never(a: float, b: float) -> float:
    raise AssertionError("no draw expected")


@pytest.mark.parametrize(
    ("n", "expected"),
    [(1, 30.0), (2, 60.0), (3, 120.0), (7, 1920.0), (8, 3600.0), (100, 3600.0), (10_000, 3600.0)],
)
def test_backoff_grows_by_factor_up_to_max(n: int, expected: float) -> None:
    backoff = Backoff(initial_s=30, factor=2.0, max_s=3600, jitter=Jitter.NONE)
    assert backoff_delay_s(backoff, n, never) == expected


def test_full_jitter_is_a_uniform_draw_between_zero_and_the_delay() -> None:
    draws: list[tuple[float, float]] = []

    def uniform(a: float, b: float) -> float:
        draws.append((a, b))
        return b * 0.25

    backoff = Backoff(initial_s=30, factor=2.0, max_s=3600, jitter=Jitter.FULL)
    assert backoff_delay_s(backoff, 3, uniform) == 30.0
    assert draws == [(0.0, 120.0)]


def test_a_zero_delay_needs_no_draw() -> None:
    assert backoff_delay_s(Backoff(initial_s=0, factor=2.0, max_s=10), 4, never) == 0.0


@pytest.mark.parametrize(
    ("memory", "previous", "expected"),
    [
        (MemoryRaise(1.5, 65536), 512, 768),
        (MemoryRaise(1.5, 65536), 1001, 1502),  # ceil(1501.5)
        (MemoryRaise(1.5, 1000), 800, 1000),  # capped at max_mb
        (MemoryRaise(1.0, 1000), 800, 800),
        (None, 800, None),
    ],
)
def test_memory_is_raised_by_factor_up_to_max(
    memory: MemoryRaise | None, previous: int, expected: int | None
) -> None:
    assert next_memory_mb(memory, previous) == expected


def test_core_hours_are_cpus_times_wall_hours() -> None:
    assert math.isclose(core_hours(4, 1000.0, 1000.0 + 1800), 2.0)
    assert core_hours(4, None, 2000.0) == 0.0
    assert core_hours(4, 2000.0, 1000.0) == 0.0
