"""A small HTTP/1.1 load generator for the HTTP benchmark, used when `wrk` is not installed.

`python -m ee_retry.bench.http.load URL BODY_FILE --connections 16 (--seconds S | --requests N)` opens
that many keep-alive connections, each sending the same POST as soon as the previous answer is read,
and prints one JSON object: requests, seconds, requests_per_s, p50_ms, p99_ms and the count per HTTP
status. It writes requests and reads answers on raw asyncio streams, so the generator costs far less
per request than an HTTP client library would and the server stays the bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

MAX_SECONDS = 600.0  # every load loop is bounded in time
MAX_REQUESTS = 1_000_000  # ... and in count


@dataclass
class Load:
    """Shared state of one run: the stop condition and what the connections measured."""

    deadline: float
    budget: int | None  # requests still to send in count mode; None: until the deadline
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)

    def take(self) -> bool:
        if time.perf_counter() >= self.deadline:
            return False
        if self.budget is None:
            return True
        if self.budget <= 0:
            return False
        self.budget -= 1
        return True


def request_bytes(url: str, body: bytes, headers: Sequence[str]) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    lines = [f"POST {parts.path or '/'} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
    lines += ["Content-Type: application/json", *headers]
    return host, port, ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _connection(host: str, port: int, request: bytes, load: Load) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while load.take():
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            load.latencies.append(time.perf_counter() - started)
            load.statuses[int(head.split(b" ", 2)[1])] += 1
    finally:
        writer.close()


def percentile(sorted_values: Sequence[float], share: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(share * len(sorted_values)))]


async def run_load(
    url: str, body: bytes, headers: Sequence[str], connections: int, seconds: float, requests: int | None
) -> dict[str, object]:
    host, port, request = request_bytes(url, body, headers)
    started = time.perf_counter()
    load = Load(
        started + min(seconds, MAX_SECONDS), None if requests is None else min(requests, MAX_REQUESTS)
    )
    await asyncio.gather(*(_connection(host, port, request, load) for _ in range(connections)))
    elapsed = time.perf_counter() - started
    ordered = sorted(load.latencies)
    return {
        "requests": len(ordered),
        "seconds": elapsed,
        "requests_per_s": len(ordered) / elapsed if elapsed else 0.0,
        "p50_ms": percentile(ordered, 0.50) * 1000,
        "p99_ms": percentile(ordered, 0.99) * 1000,
        "statuses": {str(k): v for k, v in sorted(load.statuses.items())},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ee_retry.bench.http.load")
    parser.add_argument("url")
    parser.add_argument("body_file", type=Path)
    parser.add_argument("--header", action="append", default=[], help="'Name: value', repeatable")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=MAX_SECONDS)
    parser.add_argument("--requests", type=int, default=None, help="stop after this many answers")
    args = parser.parse_args(argv)
    body = args.body_file.read_bytes()
    result = asyncio.run(run_load(args.url, body, args.header, args.connections, args.seconds, args.requests))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
