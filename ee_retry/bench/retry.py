"""Benchmark of bulk retries: our one-transaction path against a model of ee2's serial `_retry` loop.

`python -m ee_retry.bench retry` seeds N failed jobs (every tenth a batch child) in a fresh store, then
retries them all in one request two ways, over the same fakes with the same injected latency:

- ours: `ee_retry.service.submit.retry.retry`, i.e. what `retry_jobs` runs;
- serial: ee2's loop, one job at a time: read, insert, submit, mark queued, `$addToSet` retry_ids,
  `$addToSet` child_jobs (batch children only), set retry_saved_toggle.

Latency is injected per call by `Instrumented`: `--store-latency-ms` per store round trip (one JobStore
method call), `--submit-latency-ms` per scheduler call. The table reports wall time, store round trips
and scheduler transactions per request, then PASS/FAIL against the retry speed targets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ee_retry.bench.paths import (
    Latency,
    Row,
    table_lines,
)

DEFAULT_SIZES = (1, 10, 100, 1000)

TARGET_N = 1000  # the speed targets are stated at this N
TARGET_SPEEDUP_X = 50.0
TARGET_OURS_WALL_S = 1.5
TARGET_ROUND_TRIPS = 10
EE2_SERIAL_S_PER_100 = 9.0  # ee2's published figure for 100 serial retries
EE2_N = 100  # ee2's figure is per this many jobs
EE2_TOLERANCE = 0.15  # the serial model counts as reproducing it within +-15 %


@dataclass(frozen=True)
class Verdict:
    """One target or check, and whether this run met it (None: not measured in this run)."""

    name: str
    passed: bool | None
    detail: str = field(default="")


# ---------------------------------------------------------------- verdicts and output


def verdicts(rows: Sequence[Row], latency: Latency) -> list[Verdict]:
    """The retry speed targets, the ee2 calibration check, and equal end states."""
    big = {r.n: r for r in rows}.get(TARGET_N)
    speedup = None if big is None else (big.speedup >= TARGET_SPEEDUP_X, f"{big.speedup:.1f}x")
    wall = None if big is None else (big.ours.wall_s < TARGET_OURS_WALL_S, f"{big.ours.wall_s:.3f} s")
    out = [
        Verdict(
            f"N = {TARGET_N}: ours at least {TARGET_SPEEDUP_X:g}x faster than serial", *(speedup or (None,))
        ),
        Verdict(f"N = {TARGET_N}: ours under {TARGET_OURS_WALL_S:g} s", *(wall or (None,))),
        Verdict(
            f"ours at most {TARGET_ROUND_TRIPS} store round trips at every N",
            all(r.ours.round_trips <= TARGET_ROUND_TRIPS for r in rows),
            "max " + str(max(r.ours.round_trips for r in rows)),
        ),
        Verdict(
            "ours exactly one scheduler submission per request at every N",
            all(r.ours.submits == 1 for r in rows),
            ", ".join(f"N={r.n}: {r.ours.submits}" for r in rows),
        ),
        Verdict(
            "both paths leave the same end state at every N",
            all(r.ours.end == r.serial.end for r in rows),
            "; ".join(f"N={r.n}: {r.ours.end} vs {r.serial.end}" for r in rows if r.ours.end != r.serial.end),
        ),
    ]
    out.append(_ee2_check(rows, latency))
    return out


def _ee2_check(rows: Sequence[Row], latency: Latency) -> Verdict:
    """ee2's figure is for 100 jobs: judged at N = 100 (else the largest N above); every N >= 100 shown."""
    name = f"serial model reproduces ee2's ~{EE2_SERIAL_S_PER_100:g} s per 100 jobs (+-{EE2_TOLERANCE:.0%})"
    large = [r for r in rows if r.n >= EE2_N]
    if not large or not latency.is_default:
        return Verdict(name, None, f"needs N >= {EE2_N}" if not large else "only with the default latencies")
    judged = next((r for r in large if r.n == EE2_N), max(large, key=lambda r: r.n))
    per_100 = judged.serial.wall_s / judged.n * EE2_N
    ok = abs(per_100 - EE2_SERIAL_S_PER_100) <= EE2_SERIAL_S_PER_100 * EE2_TOLERANCE
    shown = ", ".join(f"{r.serial.wall_s / r.n * EE2_N:.2f} s per 100 at N = {r.n}" for r in large)
    return Verdict(name, ok, f"judged at N = {judged.n}; {shown}")


HEADER = (
    "N",
    "ours wall s",
    "serial wall s",
    "speedup x",
    "ours store round trips",
    "ours scheduler calls (submit/release)",
    "serial store round trips",
    "serial scheduler calls (submit/release)",
)


def _cells(row: Row) -> tuple[str, ...]:
    return (
        str(row.n),
        f"{row.ours.wall_s:.3f}",
        f"{row.serial.wall_s:.3f}",
        f"{row.speedup:.1f}",
        str(row.ours.round_trips),
        f"{row.ours.submits}/{row.ours.scheduler_calls['release']}",
        str(row.serial.round_trips),
        f"{row.serial.submits}/{row.serial.scheduler_calls['release']}",
    )


def render(rows: Sequence[Row], found: Sequence[Verdict], markdown: bool) -> str:
    """The table, the scheduler queries footnote, and one PASS/FAIL line per target."""
    lines = table_lines([HEADER, *(_cells(r) for r in rows)], markdown)
    queries = ", ".join(f"N={r.n}: ours {r.ours.queries}, serial {r.serial.queries}" for r in rows)
    removes = sum(r.ours.scheduler_calls["remove"] + r.serial.scheduler_calls["remove"] for r in rows)
    lines += ["", f"Scheduler queries (procs_for_*, poll): {queries}. Scheduler removes: {removes}.", ""]
    bullet = "- " if markdown else ""
    for v in found:
        mark = "SKIP" if v.passed is None else ("PASS" if v.passed else "FAIL")
        lines.append(f"{bullet}{mark}: {v.name}" + (f" ({v.detail})" if v.detail else ""))
    return "\n".join(lines)
