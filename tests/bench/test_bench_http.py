"""The HTTP benchmark's tools read what they claim: wrk's report, and the fallback load generator's
counts, statuses and stop conditions (against a tiny server on loopback). No speed is asserted here."""

from __future__ import annotations

import asyncio
import json

import pytest
from starlette.testclient import TestClient

from ee_retry.bench.http.baseline import KINDS, create_baseline
from ee_retry.bench.http.load import run_load
from ee_retry.bench.http.run import Measure, paired_rounds, row, verdicts
from ee_retry.bench.http.wrk import parse_report

WRK_REPORT = """\
Running 5s test @ http://127.0.0.1:5000/
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.10ms    1.20ms  30.00ms   90.00%
    Req/Sec     1.95k   100.00     2.10k    70.00%
  Latency Distribution
     50%    3.90ms
     75%    4.50ms
     90%    5.20ms
     99%  812.00us
  19500 requests in 5.00s, 3.10MB read
  Non-2xx or 3xx responses: 7
Requests/sec:   3900.12
Transfer/sec:    634.00KB
"""


def test_wrk_report_gives_rate_percentiles_in_ms_and_the_non_2xx_count() -> None:
    assert parse_report(WRK_REPORT) == {
        "requests": 19500,
        "requests_per_s": 3900.12,
        "p50_ms": 3.9,
        "p99_ms": 0.812,
        "non_2xx": 7,
    }


async def _tiny_server(seen: list[bytes]) -> asyncio.Server:
    """Answers every POST with 200 and a 2-byte body, on and on over one connection."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                seen.append(await reader.readexactly(length))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0)


async def test_the_load_generator_sends_exactly_the_requests_asked_for_and_reads_each_answer() -> None:
    seen: list[bytes] = []
    server = await _tiny_server(seen)
    port = server.sockets[0].getsockname()[1]
    async with server:
        out = await run_load(f"http://127.0.0.1:{port}/", b'{"a": 1}', ["X-Test: 1"], 4, 30.0, 250)

    assert out["requests"] == 250
    assert out["statuses"] == {"200": 250}
    assert seen == [b'{"a": 1}'] * 250
    assert 0 < float(str(out["p50_ms"])) <= float(str(out["p99_ms"]))


@pytest.mark.parametrize("request_id", ["1", 7, None])
def test_both_baselines_answer_a_json_rpc_call_with_the_same_status_headers_and_bytes(
    request_id: object,
) -> None:
    """The plain ASGI baseline does the Starlette baseline's work without its Request and Response
    objects, no more and no less: the same answer, byte for byte."""
    body = {"version": "1.1", "method": "execution_engine2.status", "params": [], "id": request_id}
    answers = []
    for kind in KINDS:
        with TestClient(create_baseline(kind)) as client:
            response = client.post("/", json=body)
        answers.append((response.status_code, response.headers["content-type"], response.content))
    assert answers[0] == answers[1]
    assert json.loads(answers[0][2])["id"] == request_id


def _measure(rps: float) -> Measure:
    return Measure(rps, 1.0, 2.0, 0)


def test_rounds_run_both_servers_back_to_back_and_alternate_which_goes_first() -> None:
    calls: list[str] = []

    def run(name: str) -> Measure:
        calls.append(name)
        return _measure(100.0)

    base_runs, service_runs = paired_rounds(4, lambda: run("b"), lambda: run("s"))

    assert calls == ["b", "s", "s", "b", "b", "s", "s", "b"]
    assert len(base_runs) == len(service_runs) == 4


def test_the_median_round_decides_and_one_noisy_round_does_not() -> None:
    base = [_measure(v) for v in (1000.0, 3000.0, 1000.0, 1200.0, 1000.0)]
    service = [_measure(v) for v in (800.0, 900.0, 750.0, 960.0, 790.0)]  # round 2: a quiet baseline

    found = row("check_job", base, service)

    assert found.round_ratios == (0.8, 0.3, 0.75, 0.8, 0.79)
    assert found.ratio == 0.79  # median; the ratio of the best rounds would be 960 / 3000
    assert found.best_ratio == pytest.approx(0.32)
    assert (found.service.requests_per_s, found.baseline.requests_per_s) == (960.0, 3000.0)
    [check, *_] = verdicts([found], (100, 100))
    assert check == (True, "check_job: at least 70% of the baseline in the median round (79%)")
