"""Prometheus metrics, one registry per service instance (so tests can build many apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    """Requests, errors, client disconnects, retries, scheduler submissions, poller lag and leadership."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "ee_retry_rpc_requests", "JSON-RPC requests by method", ["method"], registry=self.registry
        )
        self.latency = Histogram(
            "ee_retry_rpc_latency_seconds", "JSON-RPC latency by method", ["method"], registry=self.registry
        )
        self.errors = Counter(
            "ee_retry_rpc_errors",
            "JSON-RPC errors by method and code",
            ["method", "code"],
            registry=self.registry,
        )
        self.disconnects = Counter(
            "ee_retry_rpc_disconnects",
            "Requests whose client went away before the service could read them, by method",
            ["method"],
            registry=self.registry,
        )
        self.retries_started = Counter(
            "ee_retry_retries_started", "Retry attempts created", registry=self.registry
        )
        self.retries_refused = Counter(
            "ee_retry_retries_refused",
            "Retry items refused by a preflight rule or the guard",
            registry=self.registry,
        )
        self.retries_failed = Counter(
            "ee_retry_retry_attempts_failed", "Retry attempts that ended in error", registry=self.registry
        )
        self.submit_latency = Histogram(
            "ee_retry_scheduler_submit_seconds",
            "Scheduler submit transaction latency",
            registry=self.registry,
        )
        self.submit_failures = Counter(
            "ee_retry_scheduler_submit_failures", "Scheduler submit calls that failed", registry=self.registry
        )
        self.poller_lag = Gauge(
            "ee_retry_poller_lag_seconds",
            "On the instance holding the poller lease: seconds since its last completed pass, or since it"
            " took the lease when none has completed; 0 elsewhere (see ee_retry_poller_leader)",
            registry=self.registry,
        )
        self.poller_leader = Gauge(
            "ee_retry_poller_leader",
            "1 on the instance that holds the status poller lease, else 0",
            registry=self.registry,
        )
        self.poller_last_pass = Gauge(
            "ee_retry_poller_last_pass_timestamp",
            "Epoch seconds of the last completed poller pass",
            registry=self.registry,
        )

        self.auto_retries = Counter(
            "ee_retry_auto_retries",
            "Automatic retry decisions and starts by rule and outcome (a decision state, or started)",
            ["rule", "outcome"],
            registry=self.registry,
        )
        self.auto_breaker = Gauge(
            "ee_retry_auto_retry_breaker_state",
            "Circuit breaker of an app's automatic retries: 0 closed, 1 open, 2 half open",
            ["app"],
            registry=self.registry,
        )
        self.auto_budget = Gauge(
            "ee_retry_auto_retry_budget_used_ratio",
            "Share of a retry budget used now, by budget and user or app",
            ["budget", "key"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
