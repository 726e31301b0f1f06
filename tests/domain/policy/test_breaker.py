"""The per-app circuit breaker with a fake clock: trips on failures, half-opens after the cooldown,
closes on the probe's success, reopens on its failure, and an admin may reset it."""

from __future__ import annotations

from ee_retry.domain.policy.breaker import (
    Breaker,
    BreakerState,
    admit,
    closed,
    observe,
    probe_finished,
    window_start_ms,
)
from ee_retry.domain.policy.model import BreakerConfig

CONFIG = BreakerConfig(window_s=900, min_finished=20, max_failure_ratio=0.8, cooldown_s=1800)
T0 = 1_000_000_000
A, B = "a" * 24, "b" * 24


def opened(at: int = T0) -> Breaker:
    return observe(CONFIG, Breaker("Flaky.fetch"), finished=20, failed=17, now_ms=at)


def test_a_breaker_opens_only_with_enough_finished_jobs_failing_too_often() -> None:
    fresh = Breaker("Flaky.fetch")
    assert observe(CONFIG, fresh, finished=19, failed=19, now_ms=T0).state is BreakerState.CLOSED
    assert (
        observe(CONFIG, fresh, finished=20, failed=16, now_ms=T0).state is BreakerState.CLOSED
    )  # 0.8 is not above
    assert opened().state is BreakerState.OPEN
    assert opened().opened_at_ms == T0


def test_an_open_breaker_pauses_until_its_cooldown_then_lets_one_through() -> None:
    breaker = opened()
    held = admit(CONFIG, breaker, A, T0 + 1_799_999)
    assert not held.allowed and held.next_at == T0 + 1_800_000

    probe = admit(CONFIG, breaker, A, T0 + 1_800_000)
    assert probe.allowed and probe.breaker.state is BreakerState.HALF_OPEN and probe.breaker.probe_id == A

    other = admit(CONFIG, probe.breaker, B, T0 + 1_800_001)
    assert not other.allowed
    assert admit(CONFIG, probe.breaker, A, T0 + 1_800_001).allowed  # the probe itself, asked again


def test_the_probe_succeeding_closes_and_old_failures_no_longer_count() -> None:
    half = admit(CONFIG, opened(), A, T0 + 1_800_000).breaker
    now = T0 + 2_000_000
    after = probe_finished(half, A, succeeded=True, now_ms=now)
    assert after.state is BreakerState.CLOSED
    assert window_start_ms(CONFIG, after, now + 1) == now
    assert admit(CONFIG, after, B, now).allowed


def test_the_probe_failing_opens_again_for_another_cooldown() -> None:
    half = admit(CONFIG, opened(), A, T0 + 1_800_000).breaker
    now = T0 + 2_000_000
    after = probe_finished(half, A, succeeded=False, now_ms=now)
    assert after.state is BreakerState.OPEN and after.opened_at_ms == now
    assert admit(CONFIG, after, B, now + 1_799_999).next_at == now + 1_800_000


def test_only_the_probe_moves_a_half_open_breaker() -> None:
    half = admit(CONFIG, opened(), A, T0 + 1_800_000).breaker
    assert probe_finished(half, B, succeeded=True, now_ms=T0 + 2_000_000) == half
    assert probe_finished(opened(), A, succeeded=True, now_ms=T0 + 2_000_000) == opened()


def test_a_probe_that_never_reports_is_replaced_after_a_cooldown() -> None:
    half = admit(CONFIG, opened(), A, T0 + 1_800_000).breaker
    again = admit(CONFIG, half, B, T0 + 3_600_000)
    assert again.allowed and again.breaker.probe_id == B


def test_an_admin_reset_closes_and_forgets_earlier_outcomes() -> None:
    reset = closed("Flaky.fetch", T0 + 5)
    assert reset.state is BreakerState.CLOSED
    assert window_start_ms(CONFIG, reset, T0 + 10) == T0 + 5
    assert window_start_ms(CONFIG, reset, T0 + 10_000_000) == T0 + 10_000_000 - 900_000
