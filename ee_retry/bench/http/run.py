"""The HTTP benchmark: the service and the baseline under uvicorn, loaded from a second process.

For each measured call the two servers are loaded in `rounds` rounds; a round loads one and then the
other, each for `seconds` with `connections` keep-alive connections, the baseline first in every other
round. The ratio of a round is the service's requests/s over the baseline's in that round, and the
median of those ratios is the one compared with the target: the two runs of a round are seconds
apart, so a slower or faster spell of a shared machine moves both, where the ratio of each server's
best round can pair a quiet spell of one with a busy spell of the other. The table also shows each
server's best round, the lowest and highest round ratio, and the ratio of the best rounds. Before
that, the service's memory is read after 10% of `memory_requests` and after all of them, sent as
status, check_job and get_job_logs in turn (check_jobs of 100 ids is left out: a tenth of the rate
would make the phase ten times as long).
"""

from __future__ import annotations

import functools
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ee_retry.bench.http import wrk
from ee_retry.bench.http.seed import TOKEN, Seeded, seed
from ee_retry.soak.service import ServiceProcess

METHODS = ("status", "check_job", "check_jobs", "get_job_logs")
MEMORY_METHODS = ("status", "check_job", "get_job_logs")
TARGETS = {"status": 0.90, "check_job": 0.70}  # service requests/s as a share of the baseline's
MEMORY_GROWTH_LIMIT = 0.10  # memory after all memory requests vs after the first tenth
SERVICE_ENV = {"EE_RETRY_LOCAL_MAX_PARALLEL": "4"}


@dataclass(frozen=True)
class Measure:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    non_2xx: int


@dataclass(frozen=True)
class Row:
    method: str
    service: Measure  # the best round of each
    baseline: Measure
    round_ratios: tuple[float, ...]  # service / baseline requests/s of each round

    @property
    def ratio(self) -> float:
        """The median round's service / baseline requests/s."""
        return statistics.median(self.round_ratios)

    @property
    def best_ratio(self) -> float:
        return self.service.requests_per_s / self.baseline.requests_per_s


def paired_rounds(
    rounds: int, baseline: Callable[[], Measure], service: Callable[[], Measure]
) -> tuple[list[Measure], list[Measure]]:
    """Each server's measures, one per round, the two of a round taken back to back, the baseline
    first in rounds 1, 3, 5 ... and second in the others (so neither always runs on a warmer machine)."""
    base_runs: list[Measure] = []
    service_runs: list[Measure] = []
    for i in range(rounds):
        if i % 2 == 0:
            base_runs.append(baseline())
            service_runs.append(service())
        else:
            service_runs.append(service())
            base_runs.append(baseline())
    return base_runs, service_runs


def row(method: str, base_runs: Sequence[Measure], service_runs: Sequence[Measure]) -> Row:
    ratios = tuple(s.requests_per_s / b.requests_per_s for s, b in zip(service_runs, base_runs, strict=True))
    best = [max(runs, key=lambda m: m.requests_per_s) for runs in (service_runs, base_runs)]
    return Row(method, best[0], best[1], ratios)


def bodies(seeded: Seeded) -> dict[str, bytes]:
    params = {
        "status": [],
        "check_job": [{"job_id": seeded.job_id}],
        "check_jobs": [{"job_ids": seeded.batch_ids}],
        "get_job_logs": [{"job_id": seeded.job_id, "skip_lines": 0, "limit": 100}],
    }
    return {
        method: json.dumps(
            {"version": "1.1", "method": f"execution_engine2.{method}", "params": call_params, "id": "1"}
        ).encode()
        for method, call_params in params.items()
    }


def python_load(url: str, body: bytes, connections: int, seconds: float, requests: int | None) -> Measure:
    """One run of the package's load generator in a second process."""
    with tempfile.NamedTemporaryFile(suffix=".json") as body_file:
        body_file.write(body)
        body_file.flush()
        command = [sys.executable, "-m", "ee_retry.bench.http.load", url, body_file.name]
        command += ["--header", f"Authorization: {TOKEN}", "--connections", str(connections)]
        command += ["--seconds", str(seconds)] + (["--requests", str(requests)] if requests else [])
        done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60)
    out = json.loads(done.stdout)
    non_2xx = sum(n for status, n in out["statuses"].items() if not status.startswith("2"))
    return Measure(out["requests_per_s"], out["p50_ms"], out["p99_ms"], non_2xx)


def measure(url: str, body: bytes, connections: int, seconds: float, use_wrk: bool) -> Measure:
    if use_wrk:
        out = wrk.run_wrk(url, body, [f"Authorization: {TOKEN}"], connections, seconds)
        return Measure(
            float(str(out["requests_per_s"])),
            float(str(out["p50_ms"])),
            float(str(out["p99_ms"])),
            int(str(out["non_2xx"])),
        )
    return python_load(url, body, connections, seconds, None)


def memory_phase(
    service: ServiceProcess, calls: dict[str, bytes], total: int, connections: int
) -> tuple[int, int]:
    """Service memory (bytes) after the first tenth of `total` requests and after all of them."""
    readings = []
    for share in (0.1, 0.9):
        per_method = max(1, int(total * share) // len(MEMORY_METHODS))
        for method in MEMORY_METHODS:
            python_load(service.url, calls[method], connections, 600.0, per_method)
        rss = service.rss()
        if rss is None:
            raise RuntimeError("the service stopped during the memory phase")
        readings.append(rss)
    return readings[0], readings[1]


def bench_http(
    work_dir: Path,
    seconds: float,
    rounds: int,
    connections: int,
    memory_requests: int,
    use_wrk: bool,
    baseline_kind: str = "starlette",
) -> tuple[list[Row], tuple[int, int]]:
    service = ServiceProcess(work_dir / "data", SERVICE_ENV)
    baseline_env = {"EE_RETRY_BENCH_BASELINE": baseline_kind}
    baseline = ServiceProcess(work_dir / "baseline", baseline_env, module="ee_retry.bench.http.baseline")
    try:
        service.start()
        baseline.start()
        calls = bodies(seed(service.url))
        memory = memory_phase(service, calls, memory_requests, connections)
        rows = []
        for method in METHODS:
            body = calls[method]
            base_runs, service_runs = paired_rounds(
                rounds,
                functools.partial(measure, baseline.url, body, connections, seconds, use_wrk),
                functools.partial(measure, service.url, body, connections, seconds, use_wrk),
            )
            rows.append(row(method, base_runs, service_runs))
        return rows, memory
    finally:
        service.stop()
        baseline.stop()


def verdicts(rows: Sequence[Row], memory: tuple[int, int]) -> list[tuple[bool, str]]:
    by_method = {r.method: r for r in rows}
    out = [
        (
            by_method[m].ratio >= share,
            f"{m}: at least {share:.0%} of the baseline in the median round ({by_method[m].ratio:.0%})",
        )
        for m, share in TARGETS.items()
        if m in by_method
    ]
    warm, end = memory
    growth = end / warm - 1
    out.append(
        (
            growth <= MEMORY_GROWTH_LIMIT,
            f"service memory after all requests within {MEMORY_GROWTH_LIMIT:.0%} of memory after the first "
            f"tenth ({warm / 2**20:.1f} MiB -> {end / 2**20:.1f} MiB, {growth:+.1%})",
        )
    )
    out.append((all(r.service.non_2xx == 0 and r.baseline.non_2xx == 0 for r in rows), "every answer 2xx"))
    return out


def render(rows: Sequence[Row], found: Sequence[tuple[bool, str]]) -> str:
    lines = [
        "| call | service / baseline, median round | lowest - highest round | service req/s, best round "
        "| baseline req/s, best round | best / best | service p50 ms | service p99 ms | baseline p50 ms "
        "| baseline p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        s, b = r.service, r.baseline
        lines.append(
            f"| {r.method} | {r.ratio:.0%} | {min(r.round_ratios):.0%} - {max(r.round_ratios):.0%} "
            f"| {s.requests_per_s:.0f} | {b.requests_per_s:.0f} | {r.best_ratio:.0%} "
            f"| {s.p50_ms:.2f} | {s.p99_ms:.2f} | {b.p50_ms:.2f} | {b.p99_ms:.2f} |"
        )
    lines.append("")
    lines += [f"- {'PASS' if ok else 'FAIL'}: {text}" for ok, text in found]
    return "\n".join(lines)
