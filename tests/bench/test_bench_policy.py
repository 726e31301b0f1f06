"""The policy benchmark's invariants at a small N (its speed lives in BENCHMARKS.md, not in a test)."""

from __future__ import annotations

import asyncio

from ee_retry.bench.cli import main
from ee_retry.bench.paths import Latency
from ee_retry.bench.policy import bench_policy, render


def test_every_failure_is_decided_and_started_once_in_bounded_round_trips() -> None:
    [small, larger] = asyncio.run(bench_policy((5, 1_200), Latency(0.0, 0.0)))
    assert small.decided == small.started == small.originals_with_one_attempt == 5
    assert larger.decided == larger.started == larger.originals_with_one_attempt == 1_200
    assert small.decide.round_trips == larger.decide.round_trips  # per pass, not per job
    assert (small.start.submits, larger.start.submits) == (1, 2)  # one transaction per 1,000 jobs
    text, passed = render([small, larger], markdown=True)
    assert passed and "FAIL" not in text


def test_the_policy_benchmark_runs_from_the_command_line() -> None:
    assert main(["policy", "--sizes", "3", "--store-latency-ms", "0", "--submit-latency-ms", "0"]) == 0
