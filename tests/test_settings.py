"""Configuration: every row of the README's table, its default, its effect and its bad values (the
adapters the wiring builds from it are tested in test_wiring.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from ee_retry import __main__ as cli
from ee_retry.domain.values import SchedulerKind
from ee_retry.settings import Settings
from ee_retry.wiring import (
    build_deps,
)
from tests.conftest import SAMPLES

README = Path(__file__).resolve().parents[1] / "README.md"

pytestmark = pytest.mark.usefixtures("clean_env")


def readme_variables() -> set[str]:
    """The variables named in the first column of the README's configuration table."""
    section = README.read_text(encoding="utf-8").split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `EE_RETRY_")]
    return {name for row in rows for name in re.findall(r"`(EE_RETRY_\w+)`", row.split("|")[1])}


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


# ---------------------------------------------------------------- auth, workspace and catalog


def test_by_default_no_kbase_service_is_configured_and_the_demo_files_are_used() -> None:
    settings = Settings.from_env()
    assert (settings.auth_url, settings.workspace_url, settings.catalog_url) == (None, None, None)
    assert (settings.tokens_file, settings.workspace_file, settings.catalog_file) == (None, None, None)


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
