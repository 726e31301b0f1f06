"""Prometheus metrics, one registry per service instance (so tests can build many apps)."""

from __future__ import annotations

from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

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
        self.requests = self._new(Counter, "ee_retry_rpc_requests", "method")
        self.latency = self._new(Histogram, "ee_retry_rpc_latency_seconds", "method")
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
