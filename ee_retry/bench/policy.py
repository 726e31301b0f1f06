"""Benchmark of automatic retries: N jobs fail in one status pass, then the policy decides them all and
starts the due retries.

`python -m ee_retry.bench policy` seeds N running `Demo.fail` jobs in a fresh embedded store, reports
them all failed with exit code 3 in one status pass (not measured), and measures two automatic-retry
passes over the same metered fakes as the retry benchmark: the pass that decides every failure, and,
once the rule's backoff has passed, the pass that starts every due retry. The policy is the example's
rules with no budgets and no breaker (both would rightly hold most of a 10,000-job burst back).
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ee_retry.bench.paths import DEMO_COMMIT, DEMO_WSID, Latency, table_lines
from ee_retry.domain.ids import new_id
from ee_retry.domain.model import Job, JobInput, JobStatus
from ee_retry.domain.values import JobQuery, ProcState, SchedulerProc
from ee_retry.service.policy.loop import AutoRetrier
from ee_retry.service.policy.source import PolicySource
from ee_retry.service.sync.status_sync import apply_procs
from ee_retry.settings import demo_file
from ee_retry.testing.clock import FakeClock
from ee_retry.testing.harness import service_deps
from ee_retry.testing.instrument import Instrumented
from ee_retry.testing.mongo import open_test_store
from ee_retry.testing.scheduler import FakeScheduler

DEFAULT_SIZES = (100, 1_000, 10_000)
TARGET_N = 10_000
TARGET_DECIDE_WALL_S = 5.0
TARGET_DECIDE_ROUND_TRIPS = 12  # per pass, whatever N
BATCH = 1_000  # jobs per retry request (one scheduler transaction)
T0 = 1_700_000_000.0


@dataclass(frozen=True)
class Phase:
    wall_s: float
    round_trips: int
    submits: int


@dataclass(frozen=True)
class PolicyRow:
    n: int
    decide: Phase
    start: Phase
    decided: int
    started: int
    originals_with_one_attempt: int


def bench_policy_text() -> str:
    """The example policy's defaults and rules, without budgets or breaker."""
    text = demo_file("policy.toml").read_text(encoding="utf-8")
    return text.split("[budgets]")[0]


def _running(n: int, now: float) -> list[Job]:
    return [
        Job(
            id=new_id(now),
            user="alice",
            status=JobStatus.RUNNING,
            job_input=JobInput(method="Demo.fail", service_ver=DEMO_COMMIT, wsid=DEMO_WSID),
            created=now - 60,
            updated=now - 30,
            queued=now - 50,
            running=now - 30,
            wsid=DEMO_WSID,
            scheduler_type="local",
            scheduler_id=f"bench.{i}",
        )
        for i in range(n)
    ]


async def _phase(retrier: AutoRetrier, store: Instrumented, sched: Instrumented) -> tuple[Phase, int, int]:
    store.reset()
    sched.reset()
    started = time.perf_counter()
    decided, begun = await retrier.run_once()
    wall = time.perf_counter() - started
    return Phase(wall, store.total, sched.calls["submit"]), decided, begun


async def measure(n: int, latency: Latency) -> PolicyRow:
    with tempfile.TemporaryDirectory(prefix="ee-retry-bench-policy-") as tmp:
        async with open_test_store("sqlite", Path(tmp)) as raw:
            clock = FakeClock(T0)
            fake = FakeScheduler(clock=clock)
            store = Instrumented(raw, latency_s=latency.store_s)
            sched = Instrumented(
                fake, latency_s=latency.submit_s, counted=lambda m: m in ("submit", "release")
            )
            deps = service_deps(store, sched, clock)
            jobs = _running(n, clock.now())
            await raw.insert_jobs(jobs)
            procs = [
                SchedulerProc(j.id, None, str(j.scheduler_id), ProcState.COMPLETED, exit_code=3, finished=T0)
                for j in jobs
            ]
            await apply_procs(deps, procs)  # the status pass in which they all fail
            path = Path(tmp) / "policy.toml"
            path.write_text(bench_policy_text())
            source = PolicySource(path)
            source.load_first(clock.now())
            retrier = AutoRetrier(deps, source, 1.0, None, lambda a, b: b)
            decide, decided, _ = await _phase(retrier, store, sched)
            clock.advance(1.0)  # the flaky rule's backoff
            start, _, started = await _phase(retrier, store, sched)
            originals = await raw.find_jobs(JobQuery(ids=[j.id for j in jobs]))
            one = sum(1 for o in originals if len(o.retry_ids) == 1)
            return PolicyRow(n, decide, start, decided, started, one)


async def bench_policy(sizes: tuple[int, ...], latency: Latency) -> list[PolicyRow]:
    return [await measure(n, latency) for n in sizes]


HEADER = (
    "N",
    "decide wall s",
    "decide store round trips",
    "start wall s",
    "start store round trips",
    "scheduler transactions",
    "decided",
    "started",
)


def render(rows: list[PolicyRow], markdown: bool) -> tuple[str, bool]:
    """The table and one PASS/FAIL line per target; and whether every target passed."""
    table = [HEADER] + [
        (
            str(r.n),
            f"{r.decide.wall_s:.3f}",
            str(r.decide.round_trips),
            f"{r.start.wall_s:.3f}",
            str(r.start.round_trips),
            str(r.start.submits),
            str(r.decided),
            str(r.started),
        )
        for r in rows
    ]
    lines = table_lines(table, markdown)
    big = next((r for r in rows if r.n == TARGET_N), None)
    checks = [
        (
            f"decisions in at most {TARGET_DECIDE_ROUND_TRIPS} store round trips per pass at every N",
            all(r.decide.round_trips <= TARGET_DECIDE_ROUND_TRIPS for r in rows),
        ),
        (
            f"starts in at most one scheduler transaction per {BATCH:,} jobs",
            all(r.start.submits <= math.ceil(r.n / BATCH) for r in rows),
        ),
        (
            "every failure decided and started exactly once",
            all(r.decided == r.started == r.n == r.originals_with_one_attempt for r in rows),
        ),
    ]
    if big is not None:
        checks.append(
            (
                f"N = {TARGET_N:,}: decisions under {TARGET_DECIDE_WALL_S:g} s",
                big.decide.wall_s < TARGET_DECIDE_WALL_S,
            )
        )
    bullet = "- " if markdown else ""
    lines.append("")
    lines += [f"{bullet}{'PASS' if ok else 'FAIL'}: {name}" for name, ok in checks]
    return "\n".join(lines), all(ok for _, ok in checks)
