"""Configuration from environment variables; every one is optional."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ee_retry import constants
from ee_retry.domain.model import CLIENT_GROUP_RE
from ee_retry.domain.values import SchedulerKind


def demo_file(name: str) -> Path:
    """Path of a demo file shipped in the package (tokens, workspaces, catalog)."""
    return Path(str(resources.files("ee_retry.demo").joinpath(name)))


@dataclass(frozen=True)
class HttpLimits:
    """How long and how many: the bounds on clients the HTTP server enforces (ee_retry.http_limits)."""

    header_timeout_s: float = constants.HEADER_TIMEOUT_S
    body_timeout_s: float = constants.BODY_TIMEOUT_S
    keep_alive_s: float = constants.KEEP_ALIVE_S
    max_connections: int = constants.MAX_CONNECTIONS
    max_in_flight: int = constants.MAX_IN_FLIGHT

    @classmethod
    def from_env(cls, opt: Callable[[str], str | None]) -> HttpLimits:
        def number(name: str, default: float, low: float, kind: type[int] | type[float] = float) -> Any:
            value = _number(opt, name, kind, low)
            return default if value is None else kind(value)

        return cls(
            header_timeout_s=number("EE_RETRY_HEADER_TIMEOUT_S", constants.HEADER_TIMEOUT_S, 0.1),
            body_timeout_s=number("EE_RETRY_BODY_TIMEOUT_S", constants.BODY_TIMEOUT_S, 0.1),
            keep_alive_s=number("EE_RETRY_KEEP_ALIVE_S", constants.KEEP_ALIVE_S, 0.1),
            max_connections=number("EE_RETRY_MAX_CONNECTIONS", constants.MAX_CONNECTIONS, 1, int),
            max_in_flight=number("EE_RETRY_MAX_IN_FLIGHT", constants.MAX_IN_FLIGHT, 1, int),
        )


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 5000
    data_dir: Path = Path(".ee_retry")
    mongo_uri: str | None = None
    mongo_db: str = "ee2"
    scheduler: SchedulerKind = SchedulerKind.LOCAL
    auth_url: str | None = None
    tokens_file: Path | None = None
    workspace_url: str | None = None
    workspace_file: Path | None = None
    catalog_url: str | None = None
    catalog_file: Path | None = None
    service_url: str | None = None  # URL jobs call back to; defaults to http://host:port/
    poll_interval_s: float | None = None
    reaper_interval_s: float | None = None  # the service's own reaper pass; 0: off
    local_max_parallel: int = 0  # 0: one per CPU
    schedd_name: str | None = None  # HTCondor schedd to use; None: the local one from condor config
    condor_runner: str = "/usr/local/bin/ee-retry-runner"  # executable HTCondor jobs run
    condor_accounting_prefix: str = "ee2"  # accounting group prefix; per user: <prefix>.<user>
    # What list_config tells job runners (ee2's public configuration keys); None: not configured.
    kbase_endpoint: str | None = None  # e.g. https://kbase.us/services; the KBase service URLs derive from it
    scratch: str | None = None  # scratch directory on execute nodes
    ref_data_base: str | None = None  # reference data directory on execute nodes
    docker_timeout_s: int | None = None  # seconds before a job's container is stopped
    condor_initialdir: str | None = None  # HTCondor initialdir of jobs
    client_groups: tuple[str, ...] = ("njs",)  # the client groups jobs are scheduled to
    policy_file: Path | None = None  # automatic retry policy (TOML); None: no automatic retries
    policy_token: str | None = field(default=None, repr=False)  # token automatic attempts run with
    access_log: bool = False  # uvicorn's line per request; off: errors are logged and counted anyway
    http: HttpLimits = HttpLimits()  # timeouts and caps on HTTP clients

    @property
    def url(self) -> str:
        return self.service_url or f"http://{self.host}:{self.port}/"

    @property
    def effective_poll_interval_s(self) -> float:
        if self.poll_interval_s is not None:
            return self.poll_interval_s
        return (
            constants.LOCAL_POLL_INTERVAL_S
            if self.scheduler is SchedulerKind.LOCAL
            else constants.POLL_INTERVAL_S
        )

    @property
    def effective_reaper_interval_s(self) -> float:
        """How often the service reaps on its own: by default only with the local executor, whose procs
        no other process can see; with HTCondor the reaper runs from cron."""
        if self.reaper_interval_s is not None:
            return self.reaper_interval_s
        return constants.LOCAL_REAPER_INTERVAL_S if self.scheduler is SchedulerKind.LOCAL else 0.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if env is None else env

        def opt(name: str) -> str | None:
            value = environ.get(name, "").strip()
            return value or None

        def opt_path(name: str) -> Path | None:
            value = opt(name)
            return Path(value) if value else None

        scheduler = SchedulerKind.from_setting(opt("EE_RETRY_SCHEDULER") or "local")

        port = _number(opt, "EE_RETRY_PORT", int, 1, 65_535)
        poll = _number(opt, "EE_RETRY_POLL_INTERVAL_S", float, 0.01)
        reap_every = _number(opt, "EE_RETRY_REAPER_INTERVAL_S", float, 0)
        max_parallel = _number(opt, "EE_RETRY_LOCAL_MAX_PARALLEL", int, 0)
        docker_timeout = _number(opt, "EE_RETRY_DOCKER_TIMEOUT_S", int, 1)
        return cls(
            host=opt("EE_RETRY_HOST") or "127.0.0.1",
            port=int(port) if port is not None else 5000,
            data_dir=Path(opt("EE_RETRY_DATA_DIR") or ".ee_retry"),
            mongo_uri=opt("EE_RETRY_MONGO_URI"),
            mongo_db=opt("EE_RETRY_MONGO_DB") or "ee2",
            scheduler=scheduler,
            auth_url=opt("EE_RETRY_AUTH_URL"),
            tokens_file=opt_path("EE_RETRY_TOKENS_FILE"),
            workspace_url=opt("EE_RETRY_WORKSPACE_URL"),
            workspace_file=opt_path("EE_RETRY_WORKSPACE_FILE"),
            catalog_url=opt("EE_RETRY_CATALOG_URL"),
            catalog_file=opt_path("EE_RETRY_CATALOG_FILE"),
            service_url=opt("EE_RETRY_SERVICE_URL"),
            poll_interval_s=poll,
            reaper_interval_s=reap_every,
            local_max_parallel=int(max_parallel or 0),
            schedd_name=opt("EE_RETRY_SCHEDD"),
            condor_runner=opt("EE_RETRY_CONDOR_RUNNER") or "/usr/local/bin/ee-retry-runner",
            condor_accounting_prefix=opt("EE_RETRY_CONDOR_ACCOUNTING_PREFIX") or "ee2",
            kbase_endpoint=opt("EE_RETRY_KBASE_ENDPOINT"),
            scratch=opt("EE_RETRY_SCRATCH"),
            ref_data_base=opt("EE_RETRY_REF_DATA_BASE"),
            docker_timeout_s=None if docker_timeout is None else int(docker_timeout),
            condor_initialdir=opt("EE_RETRY_CONDOR_INITIALDIR"),
            client_groups=_client_groups(opt("EE_RETRY_CLIENT_GROUPS")),
            policy_file=opt_path("EE_RETRY_POLICY_FILE"),
            policy_token=opt("EE_RETRY_POLICY_TOKEN"),
            access_log=_flag(opt, "EE_RETRY_ACCESS_LOG"),
            http=HttpLimits.from_env(opt),
        )


def _flag(opt: Callable[[str], str | None], name: str) -> bool:
    """An optional on/off switch: 1/true/yes/on or 0/false/no/off (unset: off)."""
    value = (opt(name) or "0").lower()
    if value not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        raise ValueError(f"{name} must be 1 or 0 (true or false), not {value!r}")
    return value in ("1", "true", "yes", "on")


def _number(
    opt: Callable[[str], str | None],
    name: str,
    kind: type[int] | type[float],
    low: float,
    high: float | None = None,
) -> float | None:
    """An optional number within [low, high]; a bad value is an error naming the variable."""
    value = opt(name)
    if value is None:
        return None
    try:
        parsed = kind(value)
    except ValueError:
        raise ValueError(
            f"{name} must be {'an integer' if kind is int else 'a number'}, not {value!r}"
        ) from None
    if not math.isfinite(parsed) or parsed < low or (high is not None and parsed > high):
        bounds = f"at least {low:g}" if high is None else f"between {low:g} and {high:g}"
        raise ValueError(f"{name} must be {bounds}, not {value!r}")
    return parsed


def _client_groups(value: str | None) -> tuple[str, ...]:
    """A comma-separated list of client group names; each is a plain identifier."""
    if value is None:
        return ("njs",)
    groups = tuple(dict.fromkeys(g.strip() for g in value.split(",") if g.strip()))
    bad = [g for g in groups if not CLIENT_GROUP_RE.fullmatch(g)]
    if bad or not groups:
        raise ValueError(f"EE_RETRY_CLIENT_GROUPS must be comma-separated client group names, not {value!r}")
    return groups
