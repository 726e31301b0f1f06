"""Failed tries of a repeated action: the delay before the next try doubles up to its cap, and the
first failure's time and the latest error are kept."""

from __future__ import annotations

from ee_retry.domain import backoff
from tests.builders import T0


def test_the_delay_doubles_from_the_first_delay_up_to_the_cap() -> None:
    tries = None
    delays = []
    now = T0
    for _ in range(6):
        tries = backoff.failed(tries, now, "the job store did not answer", 1.0, 10.0)
        delays.append(tries.next_at - now)
        now = tries.next_at
    assert delays == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert tries is not None
    assert (tries.first_failed_at, tries.failures) == (T0, 6)


def test_the_latest_error_is_kept() -> None:
    first = backoff.failed(None, T0, "the job store did not answer", 1.0, 60.0)
    second = backoff.failed(first, first.next_at, "the scheduler did not answer", 1.0, 60.0)
    assert second.error == "the scheduler did not answer"
    assert second.first_failed_at == T0
