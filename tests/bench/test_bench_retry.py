"""The retry benchmark measures what it claims: both paths do the same work, counted correctly.

No speed is asserted here; the figures live in BENCHMARKS.md and come from `scripts/bench`.
"""

from __future__ import annotations

import pytest

from ee_retry.bench.cli import main
from ee_retry.bench.paths import BATCH_EVERY, Latency, Row, bench_retry

NO_LATENCY = Latency(store_s=0.0, submit_s=0.0)
SIZES = (1, 10)


def _batch_children(n: int) -> int:
    return len(range(0, n, BATCH_EVERY))


@pytest.fixture(params=["mongomock", "sqlite"])
async def rows(request: pytest.FixtureRequest) -> list[Row]:
    return await bench_retry(SIZES, request.param, NO_LATENCY)


async def test_both_paths_retry_every_job_and_leave_the_same_end_state(rows: list[Row]) -> None:
    """Every seeded job gets one attempt: linked, appended to its batch, saved, queued, in the scheduler."""
    for row in rows:
        n, children = row.n, _batch_children(row.n)
        for run in (row.ours, row.serial):
            end = run.end
            assert (end.originals, end.linked, end.saved, end.queued, end.in_scheduler) == (n, n, n, n, n)
            assert end.child_jobs_appended == children
        assert row.ours.end == row.serial.end


async def test_ours_submits_once_with_round_trips_that_do_not_grow_with_n(rows: list[Row]) -> None:
    """Our path: one scheduler submission and one release, and the same round-trip count at N=1 and N=10."""
    for row in rows:
        assert (row.ours.submits, row.ours.scheduler_calls["release"]) == (1, 1)
        assert row.ours.queries == 0
    assert rows[0].ours.round_trips == rows[1].ours.round_trips <= 10


async def test_serial_path_pays_per_job_round_trips_and_submissions(rows: list[Row]) -> None:
    """The ee2 model: five store round trips per job plus one per batch child, one submit per job."""
    for row in rows:
        assert row.serial.round_trips == 5 * row.n + _batch_children(row.n)
        assert row.serial.submits == row.n
        assert row.serial.scheduler_calls["release"] == 0


def test_command_prints_the_table_and_a_verdict_per_target(capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m ee_retry.bench retry --markdown` prints a Markdown table, then PASS/FAIL/SKIP lines."""
    status = main(
        ["retry", "--sizes", "1", "--store-latency-ms", "0", "--submit-latency-ms", "0", "--markdown"]
    )
    out = capsys.readouterr().out
    assert "| N | ours wall s | serial wall s |" in out
    assert "- PASS: ours exactly one scheduler submission per request at every N" in out
    assert "- SKIP: N = 1000: ours under 1.5 s" in out
    assert status == 0
