"""The HTTP benchmark: the service and the baseline under uvicorn, loaded from a second process.

For each measured call the two servers are loaded in turn, `rounds` times, each for `seconds` with
`connections` keep-alive connections; the best round of each server is reported (other work on the
machine only ever slows a round down). Before that, the service's memory is read after 10% of
`memory_requests` and after all of them, sent as status, check_job and get_job_logs in turn (check_jobs
of 100 ids is left out: a tenth of the rate would make the phase ten times as long).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
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
    service: Measure
    baseline: Measure

    @property
    def ratio(self) -> float:
        return self.service.requests_per_s / self.baseline.requests_per_s


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
            runs: dict[str, list[Measure]] = {"service": [], "baseline": []}
            for _ in range(rounds):
                for name, server in (("baseline", baseline), ("service", service)):
                    runs[name].append(measure(server.url, calls[method], connections, seconds, use_wrk))
            best = {k: max(v, key=lambda m: m.requests_per_s) for k, v in runs.items()}
            rows.append(Row(method, best["service"], best["baseline"]))
        return rows, memory
    finally:
        service.stop()
        baseline.stop()


def verdicts(rows: Sequence[Row], memory: tuple[int, int]) -> list[tuple[bool, str]]:
    by_method = {r.method: r for r in rows}
    out = [
        (by_method[m].ratio >= share, f"{m}: at least {share:.0%} of the baseline ({by_method[m].ratio:.0%})")
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
        "| call | service req/s | baseline req/s | service / baseline | service p50 ms | service p99 ms "
        "| baseline p50 ms | baseline p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        s, b = r.service, r.baseline
        lines.append(
            f"| {r.method} | {s.requests_per_s:.0f} | {b.requests_per_s:.0f} | {r.ratio:.0%} "
            f"| {s.p50_ms:.2f} | {s.p99_ms:.2f} | {b.p50_ms:.2f} | {b.p99_ms:.2f} |"
        )
    lines.append("")
    lines += [f"- {'PASS' if ok else 'FAIL'}: {text}" for ok, text in found]
    return "\n".join(lines)
