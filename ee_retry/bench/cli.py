"""`python -m ee_retry.bench` (`scripts/bench`): the retry, policy and HTTP benchmarks' command line."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence

from ee_retry.bench.http.cli import add_http_parser, run_http
from ee_retry.bench.paths import (
    DEFAULT_STORE_LATENCY_MS,
    DEFAULT_SUBMIT_LATENCY_MS,
    Latency,
    bench_retry,
    profile_ours,
)
from ee_retry.bench.retry import DEFAULT_SIZES, render, verdicts


def _sizes(text: str) -> tuple[int, ...]:
    sizes = tuple(int(s) for s in text.split(",") if s.strip())
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("sizes are positive integers, comma separated")
    return sizes


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ee_retry.bench", description="ee-retry benchmarks")
    sub = parser.add_subparsers(dest="bench", required=True)
    retry = sub.add_parser("retry", help="retry_jobs of N failed jobs: ours against ee2's serial loop")
    retry.add_argument(
        "--sizes", type=_sizes, default=DEFAULT_SIZES, help="comma separated N (default 1,10,100,1000)"
    )
    retry.add_argument(
        "--store",
        choices=("mongomock", "sqlite"),
        default="sqlite",
        help="sqlite: the embedded store (default); mongomock: MongoJobStore over mongomock-ng, whose "
        "unindexed scans grow as N squared (see BENCHMARKS.md)",
    )
    retry.add_argument("--store-latency-ms", type=float, default=DEFAULT_STORE_LATENCY_MS)
    retry.add_argument("--submit-latency-ms", type=float, default=DEFAULT_SUBMIT_LATENCY_MS)
    retry.add_argument("--markdown", action="store_true", help="print a Markdown table")
    retry.add_argument(
        "--profile",
        action="store_true",
        help="after the table, run our path once more at the largest N under cProfile and print it",
    )
    policy = sub.add_parser(
        "policy", help="automatic retries: N failures decided, then their retries started"
    )
    policy.add_argument("--sizes", type=_sizes, default=(100, 1_000, 10_000), help="comma separated N")
    policy.add_argument("--store-latency-ms", type=float, default=DEFAULT_STORE_LATENCY_MS)
    policy.add_argument("--submit-latency-ms", type=float, default=DEFAULT_SUBMIT_LATENCY_MS)
    policy.add_argument("--markdown", action="store_true", help="print a Markdown table")
    add_http_parser(sub)
    return parser


def main_policy(args: argparse.Namespace, latency: Latency) -> int:
    from ee_retry.bench.policy import bench_policy, render

    print(
        f"policy benchmark: store=sqlite, {args.store_latency_ms:g} ms per store round trip, "
        f"{args.submit_latency_ms:g} ms per scheduler call, N in {','.join(map(str, args.sizes))}",
        flush=True,
    )
    text, passed = render(asyncio.run(bench_policy(args.sizes, latency)), args.markdown)
    print(text, flush=True)
    return 0 if passed else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; exit status 1 when a target fails."""
    args = parser().parse_args(argv)
    if args.bench == "http":
        return run_http(args)
    latency = Latency(args.store_latency_ms / 1_000, args.submit_latency_ms / 1_000)
    if args.bench == "policy":
        return main_policy(args, latency)
    print(
        f"retry benchmark: store={args.store}, {args.store_latency_ms:g} ms per store round trip, "
        f"{args.submit_latency_ms:g} ms per scheduler call, N in {','.join(map(str, args.sizes))}",
        flush=True,
    )
    rows = asyncio.run(bench_retry(args.sizes, args.store, latency))
    found = verdicts(rows, latency)
    print(render(rows, found, args.markdown), flush=True)
    if args.profile:
        print()
        print(asyncio.run(profile_ours(max(args.sizes), args.store, latency)))
    return 1 if any(v.passed is False for v in found) else 0
