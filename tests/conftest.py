"""Shared fixtures for service, wire and end-to-end tests: one service over a fresh SQLite store.

- `mongo_uri` (session): the MongoDB every Mongo test talks to over the wire: EE_RETRY_TEST_MONGO_URI
  when set, otherwise a SecantusDB server started once for the session with its data in a temporary
  folder (ee_retry.testing.secantus). Requested only by tests that use the `mongo` store kind.
- `store`: a set-up SqliteJobStore in tmp_path (tests/adapters overrides it with every store kind).
- `clock`: a FakeClock at 1_700_000_000 s, shared by the service and the scheduler; `clock.advance(s)`.
- `sched`: a FakeScheduler; the test plays the scheduler with its drivers (`await sched.complete(id)`).
- `deps`: the service's ports over `store`, `sched` and `clock`, with the demo tokens, workspaces and
  catalog (ee_retry.testing.harness.service_deps).
- `client`: a starlette TestClient of `create_app(deps, recover=False, poll=False)`, entered as a
  context manager so the lifespan runs.
- `rpc`: the helper `rpc(client, method, params, token) -> (http_status, body)`.
- `clean_env`: no EE_RETRY_* variable set; `data_dir`: EE_RETRY_DATA_DIR at a fresh folder. With
  `SAMPLES` (a valid value for each variable of the README's table), for the configuration tests.

Scheduler reports are applied synchronously: the scheduler's listener is `apply_procs(deps, [proc])`,
so when a driver such as `await sched.complete(job_id)` returns, the job record already shows it.
The app's lifespan installs its own queued listener (StatusFeed.push), so `client` installs the
synchronous one again once the app has started.

Event loops: `deps` is built in the test's loop, while TestClient runs the app in a loop on its own
thread. That is safe because the SQLite store does every call on its own worker thread (whatever loop
awaits it) and the file adapters and fakes hold no loop-bound state. An async test may therefore
call the blocking TestClient and then drive the fake scheduler with `await`. The app's lifespan
closes the store when the client exits, so count stored records while the client is open.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from starlette.testclient import TestClient

from ee_retry.app import create_app
from ee_retry.domain.values import SchedulerProc
from ee_retry.ports import JobStore
from ee_retry.service.deps import Deps
from ee_retry.service.sync.status_sync import apply_procs
from ee_retry.testing.clock import FakeClock
from ee_retry.testing.harness import service_deps
from ee_retry.testing.mongo import mongo_test_uri, open_test_store
from ee_retry.testing.scheduler import FakeScheduler
from ee_retry.testing.secantus import SecantusServer

# Property tests: few examples by default so the suite stays fast; `--hypothesis-profile=long` for a
# deeper search. Deadlines are off: a slow example on a busy machine is not a failure.
settings.register_profile(
    "fast", max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "long", max_examples=3_000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


LONG_PROFILE_TIMEOUT_S = 1_800  # per test under --hypothesis-profile=long: 3,000 examples over a store


@pytest.hookimpl(tryfirst=True)  # before pytest-timeout reads its option
def pytest_configure(config: pytest.Config) -> None:
    """The `--hypothesis-profile` given, else "fast" (loaded here, after the option is read, so that
    the option is not overridden). The long profile's tests may run past the suite's 120 s per test."""
    profile = config.getoption("hypothesis_profile", default=None) or "fast"
    settings.load_profile(profile)
    if profile == "long" and config.getoption("timeout", default=None) is None:
        config.option.timeout = LONG_PROFILE_TIMEOUT_S


RpcAnswer = tuple[int, Any]
CLOCK_START_S = 1_700_000_000.0  # the FakeClock's first reading, epoch seconds

# Configuration (tests/test_settings.py, tests/test_wiring.py). The URI is never contacted: the
# AsyncMongoClient connects lazily.
EXAMPLE_MONGO_URI = "mongodb://db.example.invalid:27017"
# A valid value for every variable of the README's table, different from its default.
SAMPLES = {
    "EE_RETRY_POLICY_FILE": "/srv/ee-retry/policy.toml",
    "EE_RETRY_POLICY_TOKEN": "policy-service-token",
    "EE_RETRY_HOST": "10.1.2.3",
    "EE_RETRY_PORT": "8080",
    "EE_RETRY_DATA_DIR": "/srv/ee-retry",
    "EE_RETRY_MONGO_URI": EXAMPLE_MONGO_URI,
    "EE_RETRY_MONGO_DB": "kbase_jobs",
    "EE_RETRY_SCHEDULER": "condor",
    "EE_RETRY_AUTH_URL": "https://kbase.example/services/auth",
    "EE_RETRY_TOKENS_FILE": "/etc/ee-retry/tokens.json",
    "EE_RETRY_WORKSPACE_URL": "https://kbase.example/services/ws",
    "EE_RETRY_WORKSPACE_FILE": "/etc/ee-retry/workspaces.json",
    "EE_RETRY_CATALOG_URL": "https://kbase.example/services/catalog",
    "EE_RETRY_CATALOG_FILE": "/etc/ee-retry/catalog.json",
    "EE_RETRY_POLL_INTERVAL_S": "2.5",
    "EE_RETRY_REAPER_INTERVAL_S": "0",
    "EE_RETRY_LOCAL_MAX_PARALLEL": "3",
    "EE_RETRY_HEADER_TIMEOUT_S": "4.5",
    "EE_RETRY_BODY_TIMEOUT_S": "60",
    "EE_RETRY_KEEP_ALIVE_S": "2",
    "EE_RETRY_MAX_CONNECTIONS": "200",
    "EE_RETRY_MAX_IN_FLIGHT": "16",
    "EE_RETRY_SERVICE_URL": "https://ee.example.org/",
    "EE_RETRY_SCHEDD": "schedd.example.org",
    "EE_RETRY_CONDOR_RUNNER": "/opt/ee/runner",
    "EE_RETRY_CONDOR_ACCOUNTING_PREFIX": "kb",
    "EE_RETRY_ACCESS_LOG": "1",
    "EE_RETRY_CLIENT_GROUPS": "njs,bigmem",
    "EE_RETRY_KBASE_ENDPOINT": "https://kbase.example/services",
    "EE_RETRY_SCRATCH": "/kb/module/work",
    "EE_RETRY_REF_DATA_BASE": "/kb/data",
    "EE_RETRY_DOCKER_TIMEOUT_S": "604800",
    "EE_RETRY_CONDOR_INITIALDIR": "/condor_shared",
}


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """EE_RETRY_TEST_MONGO_URI, or the URI of a SecantusDB server running for this session."""
    configured = mongo_test_uri()
    if configured is not None:
        yield configured
        return
    with SecantusServer(tmp_path_factory.mktemp("secantus")) as server:
        yield server.uri


def store_mongo_uri(request: pytest.FixtureRequest, kind: str) -> str | None:
    """The session's `mongo_uri` for the `mongo` store kind (starting the server on first use)."""
    return str(request.getfixturevalue("mongo_uri")) if kind == "mongo" else None


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[JobStore]:
    """A fresh, set-up embedded (SQLite) store in this test's tmp_path."""
    async with open_test_store("sqlite", tmp_path) as made:
        yield made


@pytest.fixture
def clock() -> FakeClock:
    """The service's clock; it moves only when the test advances it."""
    return FakeClock(CLOCK_START_S)


@pytest.fixture
def sched(clock: FakeClock) -> FakeScheduler:
    """An in-memory scheduler the test drives; its timestamps come from `clock`."""
    return FakeScheduler(clock=clock)


def apply_synchronously(deps: Deps, sched: FakeScheduler) -> None:
    """Make every scheduler report update the job records before the driver call returns."""

    async def listener(proc: SchedulerProc) -> None:
        await apply_procs(deps, [proc])

    sched.set_listener(listener)


@pytest.fixture
async def deps(store: JobStore, sched: FakeScheduler, clock: FakeClock) -> Deps:
    """The service's ports: `store`, `sched`, `clock` and the demo auth/workspace/catalog files."""
    made = service_deps(store, sched, clock)
    apply_synchronously(made, sched)
    await made.store.setup()
    return made


@pytest.fixture
def client(deps: Deps, sched: FakeScheduler) -> Iterator[TestClient]:
    """The ASGI app over `deps`, started (lifespan run) for the length of the test."""
    app = create_app(deps, recover=False, poll=False)
    with TestClient(app) as started:
        apply_synchronously(deps, sched)
        yield started


def post_rpc(
    client: TestClient,
    method: str,
    params: Any,
    token: str | None,
    *,
    version: str = "1.1",
    id: Any = "1",
) -> RpcAnswer:
    """POST one JSON-RPC call of `execution_engine2.<method>`; returns (HTTP status, decoded body).

    `version="2.0"` sends a JSON-RPC 2.0 body; `token=None` sends no Authorization header.
    """
    head: dict[str, Any] = {"jsonrpc": "2.0"} if version == "2.0" else {"version": version}
    body = {**head, "method": f"execution_engine2.{method}", "params": params, "id": id}
    headers = {"Authorization": token} if token is not None else {}
    # json.dumps escapes non-ASCII, so a test can send any string JSON can carry (lone surrogates too).
    raw = json.dumps(body).encode()
    response = client.post("/", content=raw, headers={**headers, "Content-Type": "application/json"})
    return response.status_code, response.json()


@pytest.fixture
def rpc() -> Callable[..., RpcAnswer]:
    """The `post_rpc` helper, as a fixture so test modules need not import conftest."""
    return post_rpc


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No EE_RETRY_* variable set for this test (the settings and wiring tests use it)."""
    for name in list(os.environ):
        if name.startswith("EE_RETRY_"):
            monkeypatch.delenv(name)


@pytest.fixture
def data_dir(clean_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """EE_RETRY_DATA_DIR pointing at a fresh folder, so nothing is written to the working directory."""
    folder = tmp_path / "data"
    monkeypatch.setenv("EE_RETRY_DATA_DIR", str(folder))
    return folder
