"""Prometheus metrics, one registry per service instance (so tests can build many apps)."""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterator
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

MetricT = TypeVar("MetricT", Counter, Gauge, Histogram)

# What each metric counts or measures, as /metrics shows it.
HELP = {
    "ee_retry_rpc_requests": "JSON-RPC requests by method",
    "ee_retry_rpc_latency_seconds": "JSON-RPC latency by method",
    "ee_retry_rpc_errors": "JSON-RPC errors by method and code",
    "ee_retry_rpc_disconnects": (
        "Requests whose client went away before the service could read them, by method"
    ),
    "ee_retry_retries_started": "Retry attempts created",
    "ee_retry_retries_refused": "Retry items refused by a preflight rule or the guard",
    "ee_retry_retry_attempts_failed": "Retry attempts that ended in error",
    "ee_retry_scheduler_submit_seconds": "Scheduler submit transaction latency",
    "ee_retry_scheduler_submit_failures": "Scheduler submit calls that failed",
    "ee_retry_poller_lag_seconds": (
        "On the instance holding the poller lease: seconds since its last completed pass, or since it"
        " took the lease when none has completed; 0 elsewhere (see ee_retry_poller_leader)"
    ),
    "ee_retry_poller_leader": "1 on the instance that holds the status poller lease, else 0",
    "ee_retry_poller_last_pass_timestamp": "Epoch seconds of the last completed poller pass",
    "ee_retry_auto_retries": (
        "Automatic retry decisions and starts by rule and outcome (a decision state, or started)"
    ),
    "ee_retry_auto_retry_breaker_state": (
        "Circuit breaker of an app's automatic retries: 0 closed, 1 open, 2 half open"
    ),
    "ee_retry_auto_retry_budget_used_ratio": "Share of a retry budget used now, by budget and user or app",
}


class Metrics:
    """Requests, errors, client disconnects, retries, scheduler submissions, poller lag and leadership."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.rpc = RequestStats()
        self.registry.register(self.rpc)
        self.errors = self._new(Counter, "ee_retry_rpc_errors", "method", "code")
        self.disconnects = self._new(Counter, "ee_retry_rpc_disconnects", "method")
        self.retries_started = self._new(Counter, "ee_retry_retries_started")
        self.retries_refused = self._new(Counter, "ee_retry_retries_refused")
        self.retries_failed = self._new(Counter, "ee_retry_retry_attempts_failed")
        self.submit_latency = self._new(Histogram, "ee_retry_scheduler_submit_seconds")
        self.submit_failures = self._new(Counter, "ee_retry_scheduler_submit_failures")
        self.poller_lag = self._new(Gauge, "ee_retry_poller_lag_seconds")
        self.poller_leader = self._new(Gauge, "ee_retry_poller_leader")
        self.poller_last_pass = self._new(Gauge, "ee_retry_poller_last_pass_timestamp")
        self.auto_retries = self._new(Counter, "ee_retry_auto_retries", "rule", "outcome")
        self.auto_breaker = self._new(Gauge, "ee_retry_auto_retry_breaker_state", "app")
        self.auto_budget = self._new(Gauge, "ee_retry_auto_retry_budget_used_ratio", "budget", "key")

    def _new(self, kind: type[MetricT], name: str, *labels: str) -> MetricT:
        """A metric in this instance's registry, with its help text from HELP."""
        return kind(name, HELP[name], labels, registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class RequestStats:
    """JSON-RPC requests and their latency by method: `ee_retry_rpc_requests` (a counter) and
    `ee_retry_rpc_latency_seconds` (a histogram with prometheus_client's default buckets), as
    Counter and Histogram children would export them.

    Every request records here, so a record is plain arithmetic on the event loop's thread: the
    client's labelled children take a lock per counter they touch, three per request."""

    _BOUNDS = Histogram.DEFAULT_BUCKETS  # ends with +Inf

    def __init__(self) -> None:
        # method -> [requests, latency sum, created, per-bucket counts (not cumulative)...]
        self._by_method: dict[str, list[float]] = {}

    def record(self, method: str, seconds: float) -> None:
        row = self._by_method.get(method)
        if row is None:
            row = self._by_method[method] = [0, 0.0, time.time(), *(0 for _ in self._BOUNDS)]
        row[0] += 1
        row[1] += seconds
        row[3 + bisect.bisect_left(self._BOUNDS, seconds)] += 1

    def describe(self) -> list[Metric]:
        return list(self._families())

    @staticmethod
    def _families() -> tuple[CounterMetricFamily, HistogramMetricFamily, GaugeMetricFamily]:
        return (
            CounterMetricFamily("ee_retry_rpc_requests", HELP["ee_retry_rpc_requests"], labels=["method"]),
            HistogramMetricFamily(
                "ee_retry_rpc_latency_seconds", HELP["ee_retry_rpc_latency_seconds"], labels=["method"]
            ),
            GaugeMetricFamily(  # a histogram family takes no created time; the client writes it so
                "ee_retry_rpc_latency_seconds_created",
                HELP["ee_retry_rpc_latency_seconds"],
                labels=["method"],
            ),
        )

    def collect(self) -> Iterator[Metric]:
        requests, latency, latency_created = self._families()
        for method, row in self._by_method.items():
            requests.add_metric([method], row[0], created=row[2])
            latency_created.add_metric([method], row[2])
            cumulative, buckets = 0.0, []
            for bound, count in zip(self._BOUNDS, row[3:], strict=True):
                cumulative += count
                buckets.append((_le(bound), cumulative))
            latency.add_metric([method], buckets, row[1])
        yield requests
        yield latency
        yield latency_created


def _le(bound: float) -> str:
    """A bucket's `le` label as prometheus_client writes it."""
    return "+Inf" if bound == float("inf") else repr(float(bound))
