"""GET /metrics: Prometheus text that prometheus_client's own parser reads, with the counts calls imply."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from ee_retry.errors import AuthenticationError, InvalidJobId
from ee_retry.testing.harness import ALICE_TOKEN
from ee_retry.testing.scheduler import FakeScheduler

Rpc = Callable[..., tuple[int, Any]]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: TestClient) -> Samples:
    """Every sample of /metrics, by (sample name, sorted labels)."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


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
