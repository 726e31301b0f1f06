"""The `http` subcommand of `python -m ee_retry.bench` (`scripts/bench http`)."""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ee_retry.bench.http import wrk
from ee_retry.bench.http.baseline import KINDS
from ee_retry.bench.http.run import bench_http, render, verdicts


def add_http_parser(sub: Any) -> None:
    h = sub.add_parser(
        "http",
        help="the service's HTTP path against a bare Starlette app under the same uvicorn",
        description="Loads the service and a bare Starlette baseline from a second process on loopback "
        "(wrk when installed, else the package's load generator) and prints requests/s, p50, p99 and the "
        "ratio to the baseline for status, check_job, check_jobs of 100 ids and get_job_logs, then the "
        "service's memory after 10%% and 100%% of --memory-requests. Exit 1 when a target fails.",
    )
    h.add_argument("--seconds", type=float, default=3.0, help="length of one measured run (default 3)")
    h.add_argument(
        "--rounds",
        type=int,
        default=9,
        help="rounds per call, each one run of either server back to back; the median round's ratio "
        "counts (default 9)",
    )
    h.add_argument("--connections", type=int, default=16, help="concurrent connections (default 16)")
    h.add_argument("--memory-requests", type=int, default=100_000, help="requests of the memory phase")
    h.add_argument("--load", choices=("auto", "wrk", "python"), default="auto", help="load generator")
    h.add_argument(
        "--baseline",
        choices=KINDS,
        default="starlette",
        help="the baseline app: a bare Starlette route with Request and JSONResponse (the targets' "
        "reference, default), or the same as a plain ASGI app, as the service's JSON-RPC route is written",
    )


def run_http(args: argparse.Namespace) -> int:
    use_wrk = args.load == "wrk" or (args.load == "auto" and wrk.available())
    if args.load == "wrk" and not wrk.available():
        print("bench http: wrk is not installed (apt-get install wrk), use --load python")
        return 2
    tool = "wrk" if use_wrk else "the package's load generator (python -m ee_retry.bench.http.load)"
    print(
        f"http benchmark: {args.connections} connections; per call {args.rounds} rounds, each a run of "
        f"{args.seconds:g} s of either server back to back (the median round's ratio counts); load from "
        f"{tool}; memory over {args.memory_requests} requests; baseline: {args.baseline}",
        flush=True,
    )
    work_dir = Path(tempfile.mkdtemp(prefix="ee-retry-bench-"))
    try:
        rows, memory = bench_http(
            work_dir,
            args.seconds,
            args.rounds,
            args.connections,
            args.memory_requests,
            use_wrk,
            args.baseline,
        )
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    found = verdicts(rows, memory)
    print(render(rows, found), flush=True)
    return 0 if all(ok for ok, _ in found) else 1
