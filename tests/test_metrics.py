"""GET /metrics: Prometheus text that prometheus_client's own parser reads, with the counts calls imply."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from ee_retry.app import create_app
from ee_retry.errors import AuthenticationError, InvalidJobId, SchedulerUnavailable, StoreUnavailable
from ee_retry.metrics import HELP, Metrics
from ee_retry.ports import JobStore
from ee_retry.service.deps import Deps
from ee_retry.service.sync.poller import Poller
from ee_retry.settings import Settings
from ee_retry.testing.clock import FakeClock
from ee_retry.testing.harness import ALICE_TOKEN, service_deps
from ee_retry.testing.scheduler import FakeScheduler

Rpc = Callable[..., tuple[int, Any]]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
LAG = "ee_retry_poller_lag_seconds"
LEADER = "ee_retry_poller_leader"
LAST_PASS = "ee_retry_poller_last_pass_timestamp"
DEADLINE_S = 20.0  # generous bound for a condition polled below; never reached when things work


def parse(text: str) -> Samples:
    """Every sample of a Prometheus text page, by (sample name, sorted labels)."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def scrape(client: TestClient) -> Samples:
    """Every sample of /metrics."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_count_requests_errors_and_retries_as_the_calls_imply(
    client: TestClient, rpc: Rpc, sched: FakeScheduler
) -> None:
    status, body = rpc(client, "run_job", [{"method": "Demo.fail", "wsid": 1}], ALICE_TOKEN)
    assert status == 200, body
    [job_id] = body["result"]
    await sched.complete(job_id, exit_code=1)
    assert rpc(client, "check_job", [{"job_id": "nope"}], ALICE_TOKEN)[0] == 500
    assert rpc(client, "check_job", [{"job_id": job_id}], None)[0] == 500
    status, body = rpc(client, "retry_job", [{"job_id": job_id}], ALICE_TOKEN)
    assert status == 200, body
    await sched.complete(body["result"][0]["retry_id"], exit_code=1)

    samples = scrape(client)

    assert value(samples, "ee_retry_rpc_requests_total", method="run_job") == 1
    assert value(samples, "ee_retry_rpc_requests_total", method="check_job") == 2
    assert value(samples, "ee_retry_rpc_requests_total", method="retry_job") == 1
    assert value(samples, "ee_retry_rpc_latency_seconds_count", method="check_job") == 2
    assert value(samples, "ee_retry_rpc_errors_total", method="check_job", code=str(InvalidJobId.code)) == 1
    auth_code = str(AuthenticationError.code)
    assert value(samples, "ee_retry_rpc_errors_total", method="check_job", code=auth_code) == 1
    assert value(samples, "ee_retry_rpc_errors_total", method="run_job", code=str(InvalidJobId.code)) == 0
    assert value(samples, "ee_retry_retries_started_total") == 1
    assert value(samples, "ee_retry_retry_attempts_failed_total") == 1
    assert value(samples, "ee_retry_scheduler_submit_seconds_count") == 2
    assert value(samples, "ee_retry_scheduler_submit_failures_total") == 0
    assert ("ee_retry_poller_lag_seconds", ()) in samples
    assert ("ee_retry_poller_leader", ()) in samples


async def test_a_dry_run_of_retry_failed_jobs_starts_no_retries(
    client: TestClient, rpc: Rpc, sched: FakeScheduler
) -> None:
    [job_id] = rpc(client, "run_job", [{"method": "Demo.fail", "wsid": 1}], ALICE_TOKEN)[1]["result"]
    await sched.complete(job_id, exit_code=1)
    assert rpc(client, "retry_failed_jobs", [{}], ALICE_TOKEN)[0] == 200
    samples = scrape(client)
    assert value(samples, "ee_retry_rpc_requests_total", method="retry_failed_jobs") == 1
    assert value(samples, "ee_retry_retries_started_total") == 0
    assert rpc(client, "retry_failed_jobs", [{"dry_run": False}], ALICE_TOKEN)[0] == 200
    assert value(scrape(client), "ee_retry_retries_started_total") == 1


def scrape_until(client: TestClient, holds: Callable[[Samples], bool], what: str) -> Samples:
    """Scrape /metrics until `holds` is true of it; fail with `what` after DEADLINE_S."""
    deadline = time.monotonic() + DEADLINE_S
    while not holds(samples := scrape(client)):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for: {what}")
        time.sleep(0.01)
    return samples


async def test_poller_lag_counts_from_start_up_when_no_pass_has_completed(
    store: JobStore, sched: FakeScheduler, clock: FakeClock
) -> None:
    """A scheduler unreachable from start-up: /metrics shows the lag growing from the poller's start
    (it used to show 0), as of the scrape rather than of the last pass."""
    sched.unavailable = True
    settings = Settings(poll_interval_s=3_600, reaper_interval_s=0)  # one pass, at start-up
    deps = service_deps(store, sched, clock, settings)
    with TestClient(create_app(deps, recover=False)) as client:
        samples = scrape_until(client, lambda s: value(s, LEADER) == 1, "the poller to take the lease")
        assert sched.query_calls == 1
        assert value(samples, LAG) == 0
        clock.advance(30)
        assert value(scrape(client), LAG) == 30
        clock.advance(30)
        samples = scrape(client)
    assert value(samples, LAG) == 60
    assert value(samples, LAST_PASS) == 0
    assert sched.query_calls == 1


def poller_gauges(deps: Deps) -> tuple[float, float]:
    """(lag, leader) as this instance's metrics page shows them."""
    samples = parse(deps.metrics.render().decode())
    return value(samples, LAG), value(samples, LEADER)


async def failed_pass(poller: Poller) -> None:
    """One pass while the scheduler is down, then the gauges, as the poller's loop does."""
    with pytest.raises(SchedulerUnavailable):
        await poller.run_once()
    poller.export_metrics()


async def test_only_the_instance_holding_the_poller_lease_reports_lag(
    store: JobStore, sched: FakeScheduler, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every instance exports the leader gauge; the lag is the leader's, counted from when it took the
    lease, and a store error keeps the leader's lag growing."""
    sched.unavailable = True
    deps_a, deps_b = service_deps(store, sched, clock), service_deps(store, sched, clock)
    a, b = Poller(deps_a, 1.0), Poller(deps_b, 1.0)

    await failed_pass(a)
    assert await b.run_once() == 0
    b.export_metrics()
    assert poller_gauges(deps_a) == (0, 1)
    assert poller_gauges(deps_b) == (0, 0)
    clock.advance(20)
    await failed_pass(a)
    assert poller_gauges(deps_a) == (20, 1)

    async def store_down(*args: object) -> bool:
        raise StoreUnavailable("the job store did not answer")

    with monkeypatch.context() as patched:
        patched.setattr(store, "acquire_lease", store_down)
        clock.advance(5)
        with pytest.raises(StoreUnavailable):
            await a.run_once()
        a.export_metrics()
    assert poller_gauges(deps_a) == (25, 1)

    await a.stop()
    a.export_metrics()
    clock.advance(100)
    await failed_pass(b)
    assert poller_gauges(deps_b) == (0, 1)
    clock.advance(5)
    await failed_pass(b)
    assert poller_gauges(deps_b) == (5, 1)
    assert poller_gauges(deps_a) == (0, 0)

    sched.unavailable = False
    await b.run_once()
    b.export_metrics()
    assert poller_gauges(deps_b) == (0, 1)
    clock.advance(3)
    b.export_metrics()
    assert poller_gauges(deps_b) == (3, 1)


latencies = st.lists(
    st.one_of(st.sampled_from(Histogram.DEFAULT_BUCKETS[:-1]), st.floats(min_value=0.0, max_value=60.0)),
    max_size=30,
)


@given(st.dictionaries(st.sampled_from(["check_job", "status", "invalid"]), latencies, max_size=3))
def test_request_stats_export_what_prometheus_clients_counter_and_histogram_would(
    observed: dict[str, list[float]],
) -> None:
    """Dashboards and alerts keep reading the same series: every count, bucket (a latency on a
    bucket's bound falls in that bucket) and sum as the client's own Counter and Histogram write
    them; only the created times differ, as two objects created apart do."""
    ours = Metrics()
    registry = CollectorRegistry()
    counter = Counter("ee_retry_rpc_requests", HELP["ee_retry_rpc_requests"], ["method"], registry=registry)
    latency = HELP["ee_retry_rpc_latency_seconds"]
    histogram = Histogram("ee_retry_rpc_latency_seconds", latency, ["method"], registry=registry)
    for method, seconds in observed.items():
        for value_s in seconds:
            ours.rpc.record(method, value_s)
            counter.labels(method).inc()
            histogram.labels(method).observe(value_s)

    def series(text: str) -> Samples:
        return {
            key: v for key, v in parse(text).items() if "_rpc_" in key[0] and not key[0].endswith("_created")
        }

    def created(text: str) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
        return {key for key in parse(text) if "_rpc_" in key[0] and key[0].endswith("_created")}

    theirs_text, ours_text = generate_latest(registry).decode(), ours.render().decode()
    assert series(ours_text) == pytest.approx(series(theirs_text))
    assert created(ours_text) == created(theirs_text)
