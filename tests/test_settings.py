"""Configuration: every row of the README's table, its default, its effect, its bad values, and the
adapter the wiring builds from it (KBase clients or files, MongoDB or SQLite, local or HTCondor)."""

from __future__ import annotations

import json
import os
import re
from functools import partialmethod
from pathlib import Path
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from ee_retry import __main__ as cli
from ee_retry.adapters.htcondor import scheduler as condor_scheduler
from ee_retry.adapters.htcondor.scheduler import HTCondorScheduler
from ee_retry.adapters.kbase import KBaseAuth, KBaseCatalog, KBaseWorkspace
from ee_retry.adapters.kbase.static import FileAuth, FileCatalog, FileWorkspace
from ee_retry.adapters.local.executor import LocalExecutor
from ee_retry.adapters.store.mongo import MongoJobStore
from ee_retry.adapters.store.sqlite import SqliteJobStore
from ee_retry.domain.values import Permission, SchedulerKind, User
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

README = Path(__file__).resolve().parents[1] / "README.md"
COMMIT = "52ea58866b80a931944b028dd66b9b3a906be270"  # a commit the fake catalog and the catalog file know
MONGO_URI = "mongodb://db.example.invalid:27017"  # never contacted: AsyncMongoClient connects lazily
CAROL = User(name="carol", token="carol-token")

# A valid value for every variable of the README's table, different from its default.
SAMPLES = {
    "EE_RETRY_POLICY_FILE": "/srv/ee-retry/policy.toml",
    "EE_RETRY_POLICY_TOKEN": "policy-service-token",
    "EE_RETRY_HOST": "10.1.2.3",
    "EE_RETRY_PORT": "8080",
    "EE_RETRY_DATA_DIR": "/srv/ee-retry",
    "EE_RETRY_MONGO_URI": MONGO_URI,
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


def readme_variables() -> set[str]:
    """The variables named in the first column of the README's configuration table."""
    section = README.read_text(encoding="utf-8").split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `EE_RETRY_")]
    return {name for row in rows for name in re.findall(r"`(EE_RETRY_\w+)`", row.split("|")[1])}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no EE_RETRY_* variable set."""
    for name in list(os.environ):
        if name.startswith("EE_RETRY_"):
            monkeypatch.delenv(name)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """EE_RETRY_DATA_DIR pointing at a fresh folder, so nothing is written to the working directory."""
    folder = tmp_path / "data"
    monkeypatch.setenv("EE_RETRY_DATA_DIR", str(folder))
    return folder


# ---------------------------------------------------------------- the table itself


def test_every_variable_in_the_readme_table_has_a_sample_here() -> None:
    assert readme_variables() == set(SAMPLES)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_setting_any_variable_of_the_table_changes_the_settings(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = Settings.from_env()
    monkeypatch.setenv(name, SAMPLES[name])
    assert Settings.from_env() != default


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_a_blank_variable_counts_as_unset(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(name, "  ")
    assert Settings.from_env() == Settings.from_env({})


def test_the_environment_is_read_when_no_mapping_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EE_RETRY_PORT", "8080")
    assert Settings.from_env().port == 8080
    assert Settings.from_env({}).port == 5000


def test_the_settings_defaults_match_an_empty_environment() -> None:
    assert Settings.from_env() == Settings()


# ---------------------------------------------------------------- listen address and callback URL


@pytest.mark.parametrize(
    ("variables", "listen", "url"),
    [
        pytest.param({}, ("127.0.0.1", 5000), "http://127.0.0.1:5000/", id="by-default-127.0.0.1-port-5000"),
        pytest.param(
            {"EE_RETRY_HOST": "10.1.2.3", "EE_RETRY_PORT": "8080"},
            ("10.1.2.3", 8080),
            "http://10.1.2.3:8080/",
            id="host-and-port-change-the-listen-address-and-the-callback-url",
        ),
        pytest.param(
            {"EE_RETRY_SERVICE_URL": "https://ee.example.org/"},
            ("127.0.0.1", 5000),
            "https://ee.example.org/",
            id="the-service-url-replaces-the-callback-url-but-not-the-listen-address",
        ),
    ],
)
def test_the_service_listens_and_is_called_back_where_the_variables_say(
    variables: dict[str, str], listen: tuple[str, int], url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env()
    assert (settings.host, settings.port) == listen
    assert settings.url == url


def test_the_access_log_is_off_unless_switched_on(monkeypatch: pytest.MonkeyPatch) -> None:
    from ee_retry.__main__ import uvicorn_options

    assert uvicorn_options(Settings.from_env())["access_log"] is False
    monkeypatch.setenv("EE_RETRY_ACCESS_LOG", "true")
    assert uvicorn_options(Settings.from_env())["access_log"] is True
    monkeypatch.setenv("EE_RETRY_ACCESS_LOG", "maybe")
    with pytest.raises(ValueError, match="EE_RETRY_ACCESS_LOG"):
        Settings.from_env()


# ---------------------------------------------------------------- job store


def test_by_default_records_live_in_the_embedded_store_under_dot_ee_retry() -> None:
    settings = Settings.from_env()
    assert settings.data_dir == Path(".ee_retry")
    assert settings.mongo_uri is None
    assert settings.mongo_db == "ee2"


async def test_without_a_mongo_uri_the_wiring_opens_the_sqlite_file_in_the_data_dir(data_dir: Path) -> None:
    store = build_store(Settings.from_env())
    try:
        assert isinstance(store, SqliteJobStore)
        await store.setup()
        assert (data_dir / "ee_retry.sqlite3").is_file()
    finally:
        await store.close()


async def test_a_mongo_db_name_alone_does_not_switch_to_mongodb(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EE_RETRY_MONGO_DB", "kbase_jobs")
    store = build_store(Settings.from_env())
    try:
        assert isinstance(store, SqliteJobStore)
    finally:
        await store.close()


async def test_a_mongo_uri_puts_records_in_mongodb_database_ee2_on_that_server(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EE_RETRY_MONGO_URI", MONGO_URI)
    store = build_store(Settings.from_env())
    try:
        assert isinstance(store, MongoJobStore)
        assert store.database.name == "ee2"
        assert list(store.database.client.topology_description.server_descriptions()) == [
            ("db.example.invalid", 27017)
        ]
        assert not data_dir.exists()
    finally:
        await store.close()


async def test_the_mongo_db_variable_names_the_database(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EE_RETRY_MONGO_URI", MONGO_URI)
    monkeypatch.setenv("EE_RETRY_MONGO_DB", "kbase_jobs")
    assert Settings.from_env().mongo_db == "kbase_jobs"
    store = build_store(Settings.from_env())
    try:
        assert isinstance(store, MongoJobStore)
        assert store.database.name == "kbase_jobs"
    finally:
        await store.close()


# ---------------------------------------------------------------- scheduler


def test_by_default_jobs_run_on_the_local_executor_polled_every_second_and_reaped_every_600_s() -> None:
    settings = Settings.from_env()
    assert settings.scheduler == "local"
    assert settings.effective_poll_interval_s == 1
    assert settings.effective_reaper_interval_s == 600
    assert settings.local_max_parallel == 0


@pytest.mark.parametrize("name", ["condor", "htcondor"])
def test_with_htcondor_the_poller_waits_10_s_and_the_service_does_not_reap(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name ee2 stores in scheduler_type, "condor", selects HTCondor; so does "htcondor", the
    setting's earlier spelling."""
    monkeypatch.setenv("EE_RETRY_SCHEDULER", name)
    settings = Settings.from_env()
    assert settings.scheduler is SchedulerKind.CONDOR
    assert settings.effective_poll_interval_s == 10
    assert settings.effective_reaper_interval_s == 0


@pytest.mark.parametrize("scheduler", ["local", "condor"])
def test_the_poll_and_reaper_interval_variables_override_either_schedulers_default(
    scheduler: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EE_RETRY_SCHEDULER", scheduler)
    monkeypatch.setenv("EE_RETRY_POLL_INTERVAL_S", "2.5")
    monkeypatch.setenv("EE_RETRY_REAPER_INTERVAL_S", "30")
    settings = Settings.from_env()
    assert settings.effective_poll_interval_s == 2.5
    assert settings.effective_reaper_interval_s == 30


def test_a_reaper_interval_of_0_turns_the_local_services_reaper_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EE_RETRY_REAPER_INTERVAL_S", "0")
    assert Settings.from_env().effective_reaper_interval_s == 0


async def test_by_default_the_wiring_runs_jobs_locally_with_their_folders_in_the_data_dir(
    data_dir: Path,
) -> None:
    scheduler = build_scheduler(Settings.from_env())
    assert isinstance(scheduler, LocalExecutor)
    try:
        await scheduler.start()
        assert (data_dir / "jobs").is_dir()
    finally:
        await scheduler.close()


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
    scheduler = build_scheduler(settings)
    try:
        assert isinstance(scheduler, HTCondorScheduler)
        params = scheduler.submit_params
        assert params.runner == "/usr/local/bin/ee-retry-runner"
        assert params.service_url == "http://127.0.0.1:5000/"
        assert params.accounting_prefix == "ee2"
        assert Path(params.log_dir).resolve() == (data_dir / "condor_logs").resolve()
        assert schedd_names == [None]
    finally:
        await scheduler.close()


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
    scheduler = build_scheduler(Settings.from_env())
    try:
        assert isinstance(scheduler, HTCondorScheduler)
        params = scheduler.submit_params
        assert (params.runner, params.service_url, params.accounting_prefix) == (
            "/opt/ee/runner",
            "https://ee.example.org/",
            "kb",
        )
        assert schedd_names == ["schedd.example.org"]
    finally:
        await scheduler.close()


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


def test_by_default_no_kbase_service_is_configured_and_the_demo_files_are_used() -> None:
    settings = Settings.from_env()
    assert (settings.auth_url, settings.workspace_url, settings.catalog_url) == (None, None, None)
    assert (settings.tokens_file, settings.workspace_file, settings.catalog_file) == (None, None, None)


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
    auth = build_auth(Settings.from_env())
    try:
        assert isinstance(auth, KBaseAuth)
        user = await auth.user_for_token("carol-token")
        assert (user.name, user.roles) == ("carol", frozenset({"EE2_ADMIN"}))
        assert kbase["auth"].urls == ["https://kbase.example/services/auth/api/V2/me"]
    finally:
        await auth.close()


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
    workspace = build_workspace(Settings.from_env())
    try:
        assert isinstance(workspace, KBaseWorkspace)
        assert await workspace.permissions(CAROL, [9]) == {9: Permission.WRITE}
        assert kbase["workspace"].urls == ["https://kbase.example/services/ws"]
    finally:
        await workspace.close()


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
    catalog = build_catalog(Settings.from_env())
    try:
        assert isinstance(catalog, KBaseCatalog)
        assert (await catalog.resolve("Other", None)).git_commit_hash == COMMIT
        assert set(kbase["catalog"].urls) == {"https://kbase.example/services/catalog"}
    finally:
        await catalog.close()


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


# ---------------------------------------------------------------- bad values


BAD_VALUES = [
    pytest.param("EE_RETRY_SCHEDULER", "slurm", id="unknown-scheduler"),
    pytest.param("EE_RETRY_PORT", "http", id="non-numeric-port"),
    pytest.param("EE_RETRY_PORT", "70000", id="port-out-of-range"),
    pytest.param("EE_RETRY_POLL_INTERVAL_S", "soon", id="non-numeric-poll-interval"),
    pytest.param("EE_RETRY_POLL_INTERVAL_S", "-1", id="negative-poll-interval"),
    pytest.param("EE_RETRY_REAPER_INTERVAL_S", "daily", id="non-numeric-reaper-interval"),
    pytest.param("EE_RETRY_LOCAL_MAX_PARALLEL", "many", id="non-numeric-max-parallel"),
    pytest.param("EE_RETRY_LOCAL_MAX_PARALLEL", "-2", id="negative-max-parallel"),
    pytest.param("EE_RETRY_DOCKER_TIMEOUT_S", "a week", id="non-numeric-docker-timeout"),
    pytest.param("EE_RETRY_CLIENT_GROUPS", "njs,big mem", id="client-group-with-a-space"),
    pytest.param("EE_RETRY_CLIENT_GROUPS", ",", id="no-client-group"),
    pytest.param("EE_RETRY_HEADER_TIMEOUT_S", "0", id="zero-header-timeout"),
    pytest.param("EE_RETRY_BODY_TIMEOUT_S", "forever", id="non-numeric-body-timeout"),
    pytest.param("EE_RETRY_KEEP_ALIVE_S", "-5", id="negative-keep-alive"),
    pytest.param("EE_RETRY_MAX_CONNECTIONS", "0", id="no-connections"),
    pytest.param("EE_RETRY_MAX_IN_FLIGHT", "2.5", id="fractional-in-flight"),
]


@pytest.mark.parametrize(("name", "value"), BAD_VALUES)
def test_a_bad_value_is_refused_with_an_error_naming_its_variable(
    name: str, value: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=name):
        build_deps(Settings.from_env())


@pytest.mark.parametrize(("name", "value"), BAD_VALUES)
def test_the_command_stops_with_exit_2_before_serving_when_a_variable_is_bad(
    name: str,
    value: str,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    served: list[Any] = []
    monkeypatch.setattr("ee_retry.__main__.uvicorn.run", lambda *args, **kwargs: served.append(args))
    monkeypatch.setenv(name, value)
    assert cli.main() == 2
    assert served == []
    err = capsys.readouterr().err
    assert "configuration error" in err
    assert name in err


def test_the_http_limits_reach_uvicorn_and_the_request_middleware(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("EE_RETRY_HEADER_TIMEOUT_S", "EE_RETRY_KEEP_ALIVE_S", "EE_RETRY_MAX_IN_FLIGHT"):
        monkeypatch.setenv(name, SAMPLES[name])
    settings = Settings.from_env()

    options = cli.uvicorn_options(settings)

    assert options["timeout_keep_alive"] == 2.0
    assert settings.http.header_timeout_s == 4.5
    assert settings.http.max_in_flight == 16
    assert issubclass(options["http"], AutoHTTPProtocol)
