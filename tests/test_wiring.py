"""The wiring: the adapter it builds from the settings for each port (SQLite or MongoDB, the local
executor or HTCondor, the demo files or the KBase auth2, Workspace and Catalog services)."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partialmethod
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx2
import pytest
from starlette.applications import Starlette

from ee_retry.adapters.htcondor import scheduler as condor_scheduler
from ee_retry.adapters.htcondor.scheduler import HTCondorScheduler
from ee_retry.adapters.kbase import KBaseAuth, KBaseCatalog, KBaseWorkspace
from ee_retry.adapters.kbase.static import FileAuth, FileCatalog, FileWorkspace
from ee_retry.adapters.local.executor import LocalExecutor
from ee_retry.adapters.store.mongo import MongoJobStore
from ee_retry.adapters.store.sqlite import SqliteJobStore
from ee_retry.domain.values import Permission, User
from ee_retry.errors import AuthenticationError, UnknownModule
from ee_retry.settings import Settings
from ee_retry.testing.kbase import fake_auth2_app, fake_catalog_app, fake_workspace_app
from ee_retry.wiring import (
    build_auth,
    build_catalog,
    build_deps,
    build_scheduler,
    build_store,
    build_workspace,
)
from tests.conftest import EXAMPLE_MONGO_URI, SAMPLES


class Closable(Protocol):
    """What every port the wiring builds has: an async close()."""

    async def close(self) -> None: ...


Port = TypeVar("Port", bound=Closable)


@asynccontextmanager
async def closing(port: Port) -> AsyncIterator[Port]:
    """The port a test built, closed when the block ends."""
    try:
        yield port
    finally:
        await port.close()


COMMIT = "52ea58866b80a931944b028dd66b9b3a906be270"  # a commit the fake catalog and the catalog file know
CAROL = User(name="carol", token="carol-token")

pytestmark = pytest.mark.usefixtures("clean_env")


# ---------------------------------------------------------------- job store


async def test_without_a_mongo_uri_the_wiring_opens_the_sqlite_file_in_the_data_dir(data_dir: Path) -> None:
    async with closing(build_store(Settings.from_env())) as store:
        assert isinstance(store, SqliteJobStore)
        await store.setup()
        assert (data_dir / "ee_retry.sqlite3").is_file()


async def test_a_mongo_db_name_alone_does_not_switch_to_mongodb(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EE_RETRY_MONGO_DB", "kbase_jobs")
    async with closing(build_store(Settings.from_env())) as store:
        assert isinstance(store, SqliteJobStore)


async def test_a_mongo_uri_puts_records_in_mongodb_database_ee2_on_that_server(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EE_RETRY_MONGO_URI", EXAMPLE_MONGO_URI)
    async with closing(build_store(Settings.from_env())) as store:
        assert isinstance(store, MongoJobStore)
        assert store.database.name == "ee2"
        assert list(store.database.client.topology_description.server_descriptions()) == [
            ("db.example.invalid", 27017)
        ]
        assert not data_dir.exists()


async def test_the_mongo_db_variable_names_the_database(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EE_RETRY_MONGO_URI", EXAMPLE_MONGO_URI)
    monkeypatch.setenv("EE_RETRY_MONGO_DB", "kbase_jobs")
    assert Settings.from_env().mongo_db == "kbase_jobs"
    async with closing(build_store(Settings.from_env())) as store:
        assert isinstance(store, MongoJobStore)
        assert store.database.name == "kbase_jobs"


# ---------------------------------------------------------------- scheduler


async def test_by_default_the_wiring_runs_jobs_locally_with_their_folders_in_the_data_dir(
    data_dir: Path,
) -> None:
    async with closing(build_scheduler(Settings.from_env())) as scheduler:
        assert isinstance(scheduler, LocalExecutor)
        await scheduler.start()
        assert (data_dir / "jobs").is_dir()


def test_by_default_the_local_executor_runs_one_job_per_cpu_at_once(data_dir: Path) -> None:
    scheduler = build_scheduler(Settings.from_env())
    assert scheduler._limit == (os.cpu_count() or 1)  # type: ignore[attr-defined]


def test_the_local_max_parallel_variable_caps_the_jobs_running_at_once(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EE_RETRY_LOCAL_MAX_PARALLEL", "3")
    assert Settings.from_env().local_max_parallel == 3
    scheduler = build_scheduler(Settings.from_env())
    assert scheduler._limit == 3  # type: ignore[attr-defined]


@pytest.fixture
def schedd_names(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The schedd name each HTCondorScheduler built from now on was given."""
    seen: list[str | None] = []
    real = condor_scheduler.WorkerConfig  # type: ignore[attr-defined]

    def recording(*args: Any, **kwargs: Any) -> Any:
        made = real(*args, **kwargs)
        seen.append(made.schedd_name)
        return made

    monkeypatch.setattr(condor_scheduler, "WorkerConfig", recording)
    return seen


async def test_the_htcondor_scheduler_defaults_to_the_local_schedd_the_installed_runner_and_prefix_ee2(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, schedd_names: list[str | None]
) -> None:
    monkeypatch.setenv("EE_RETRY_SCHEDULER", "condor")
    settings = Settings.from_env()
    assert (settings.schedd_name, settings.condor_runner, settings.condor_accounting_prefix) == (
        None,
        "/usr/local/bin/ee-retry-runner",
        "ee2",
    )
    async with closing(build_scheduler(settings)) as scheduler:
        assert isinstance(scheduler, HTCondorScheduler)
        params = scheduler.submit_params
        assert params.runner == "/usr/local/bin/ee-retry-runner"
        assert params.service_url == "http://127.0.0.1:5000/"
        assert params.accounting_prefix == "ee2"
        assert Path(params.log_dir).resolve() == (data_dir / "condor_logs").resolve()
        assert schedd_names == [None]


async def test_the_htcondor_variables_reach_the_scheduler(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, schedd_names: list[str | None]
) -> None:
    for name in (
        "EE_RETRY_SCHEDULER",
        "EE_RETRY_SCHEDD",
        "EE_RETRY_CONDOR_RUNNER",
        "EE_RETRY_CONDOR_ACCOUNTING_PREFIX",
        "EE_RETRY_SERVICE_URL",
    ):
        monkeypatch.setenv(name, SAMPLES[name])
    async with closing(build_scheduler(Settings.from_env())) as scheduler:
        assert isinstance(scheduler, HTCondorScheduler)
        params = scheduler.submit_params
        assert (params.runner, params.service_url, params.accounting_prefix) == (
            "/opt/ee/runner",
            "https://ee.example.org/",
            "kb",
        )
        assert schedd_names == ["schedd.example.org"]


# ---------------------------------------------------------------- auth, workspace and catalog


class RecordingTransport(httpx2.AsyncBaseTransport):
    """Routes every request to a fake KBase app and remembers the URL it was sent to."""

    def __init__(self, app: Starlette) -> None:
        self._inner = httpx2.ASGITransport(app)
        self.urls: list[str] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.urls.append(str(request.url))
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.fixture
def kbase(monkeypatch: pytest.MonkeyPatch) -> dict[str, RecordingTransport]:
    """Fake auth2, Workspace and Catalog services behind every KBase client built from now on."""
    transports = {
        "auth": RecordingTransport(fake_auth2_app({"carol-token": ("carol", ["EE2_ADMIN"])})),
        "workspace": RecordingTransport(fake_workspace_app({9: {"carol": "w"}})),
        "catalog": RecordingTransport(
            fake_catalog_app(
                {
                    "Other": {
                        "versions": [{"git_commit_hash": COMMIT, "tags": ["release"], "version": "1.0.0"}]
                    }
                }
            )
        ),
    }
    for client, key in ((KBaseAuth, "auth"), (KBaseWorkspace, "workspace"), (KBaseCatalog, "catalog")):
        monkeypatch.setattr(client, "__init__", partialmethod(client.__init__, transport=transports[key]))
    return transports


async def test_without_an_auth_url_tokens_come_from_the_demo_tokens_file() -> None:
    auth = build_auth(Settings.from_env())
    assert isinstance(auth, FileAuth)
    assert (await auth.user_for_token("alice-token")).name == "alice"


async def test_the_tokens_file_variable_replaces_the_demo_tokens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = tmp_path / "tokens.json"
    tokens.write_text('{"tokens": {"carol-token": {"user": "carol", "roles": []}}}', encoding="utf-8")
    monkeypatch.setenv("EE_RETRY_TOKENS_FILE", str(tokens))
    assert Settings.from_env().tokens_file == tokens
    auth = build_auth(Settings.from_env())
    assert (await auth.user_for_token("carol-token")).name == "carol"
    with pytest.raises(AuthenticationError):
        await auth.user_for_token("alice-token")


async def test_an_auth_url_makes_the_service_ask_kbase_auth2_there(
    kbase: dict[str, RecordingTransport], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EE_RETRY_AUTH_URL", "https://kbase.example/services/auth")
    monkeypatch.setenv("EE_RETRY_TOKENS_FILE", str(tmp_path / "ignored.json"))
    async with closing(build_auth(Settings.from_env())) as auth:
        assert isinstance(auth, KBaseAuth)
        user = await auth.user_for_token("carol-token")
        assert (user.name, user.roles) == ("carol", frozenset({"EE2_ADMIN"}))
        assert kbase["auth"].urls == ["https://kbase.example/services/auth/api/V2/me"]


async def test_without_a_workspace_url_permissions_come_from_the_demo_workspaces_file() -> None:
    workspace = build_workspace(Settings.from_env())
    assert isinstance(workspace, FileWorkspace)
    alice = User(name="alice", token="alice-token")
    assert await workspace.permissions(alice, [1, 2]) == {1: Permission.ADMIN, 2: Permission.NONE}


async def test_the_workspace_file_variable_replaces_the_demo_workspaces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspaces = tmp_path / "workspaces.json"
    workspaces.write_text('{"workspaces": {"9": {"carol": "w"}}}', encoding="utf-8")
    monkeypatch.setenv("EE_RETRY_WORKSPACE_FILE", str(workspaces))
    workspace = build_workspace(Settings.from_env())
    assert await workspace.permissions(CAROL, [9, 1]) == {9: Permission.WRITE, 1: Permission.NONE}


async def test_a_workspace_url_makes_the_service_ask_that_kbase_workspace(
    kbase: dict[str, RecordingTransport], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EE_RETRY_WORKSPACE_URL", "https://kbase.example/services/ws")
    monkeypatch.setenv("EE_RETRY_WORKSPACE_FILE", str(tmp_path / "ignored.json"))
    async with closing(build_workspace(Settings.from_env())) as workspace:
        assert isinstance(workspace, KBaseWorkspace)
        assert await workspace.permissions(CAROL, [9]) == {9: Permission.WRITE}
        assert kbase["workspace"].urls == ["https://kbase.example/services/ws"]


async def test_without_a_catalog_url_modules_come_from_the_demo_catalog_file() -> None:
    catalog = build_catalog(Settings.from_env())
    assert isinstance(catalog, FileCatalog)
    assert (await catalog.resolve("Demo", None)).git_commit_hash == COMMIT


async def test_the_catalog_file_variable_replaces_the_demo_catalog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog_file = tmp_path / "catalog.json"
    version = {"git_commit_hash": COMMIT, "tags": ["release"], "command": ["true"]}
    catalog_file.write_text(json.dumps({"modules": {"Other": {"versions": [version]}}}), encoding="utf-8")
    monkeypatch.setenv("EE_RETRY_CATALOG_FILE", str(catalog_file))
    catalog = build_catalog(Settings.from_env())
    assert (await catalog.resolve("Other", None)).git_commit_hash == COMMIT
    with pytest.raises(UnknownModule):
        await catalog.resolve("Demo", None)


async def test_a_catalog_url_makes_the_service_ask_that_kbase_catalog(
    kbase: dict[str, RecordingTransport], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EE_RETRY_CATALOG_URL", "https://kbase.example/services/catalog")
    monkeypatch.setenv("EE_RETRY_CATALOG_FILE", str(tmp_path / "ignored.json"))
    async with closing(build_catalog(Settings.from_env())) as catalog:
        assert isinstance(catalog, KBaseCatalog)
        assert (await catalog.resolve("Other", None)).git_commit_hash == COMMIT
        assert set(kbase["catalog"].urls) == {"https://kbase.example/services/catalog"}


# ---------------------------------------------------------------- every port


async def test_build_deps_wires_every_port_from_the_same_settings(
    data_dir: Path, kbase: dict[str, RecordingTransport], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("EE_RETRY_MONGO_URI", "EE_RETRY_AUTH_URL", "EE_RETRY_WORKSPACE_URL", "EE_RETRY_CATALOG_URL"):
        monkeypatch.setenv(name, SAMPLES[name])
    settings = Settings.from_env()
    deps = build_deps(settings)
    try:
        assert isinstance(deps.store, MongoJobStore)
        assert isinstance(deps.scheduler, LocalExecutor)
        assert isinstance(deps.auth, KBaseAuth)
        assert isinstance(deps.workspace, KBaseWorkspace)
        assert isinstance(deps.catalog, KBaseCatalog)
        assert deps.settings is settings
    finally:
        for port in (deps.auth, deps.workspace, deps.catalog, deps.scheduler, deps.store):
            await port.close()
