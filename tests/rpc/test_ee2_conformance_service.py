"""ee2's conformance, one test per funcdef of its spec, called as KBase's generated client calls it
(tests/kbase_client.py) and checking ee2's parameter and result shapes: the service methods
(configuration, version, status, admin rights, client groups) and the error a missing token gives."""

from __future__ import annotations

from ee_retry import __version__
from ee_retry.domain.values import SchedulerKind
from ee_retry.errors import AuthenticationError
from ee_retry.service.deps import Deps
from ee_retry.settings import Settings
from ee_retry.testing.harness import ADMIN_TOKEN, ALICE_TOKEN, READONLY_ADMIN_TOKEN
from tests.rpc.conftest import Clients, raises

EE2_PUBLIC_KEYS = {
    "external-url", "kbase-endpoint", "workspace-url", "catalog-url", "shock-url", "handle-url",
    "srv-wiz-url", "auth-service-url", "auth-service-url-v2", "auth-service-url-allow-insecure",
    "scratch", "executable", "docker_timeout", "initialdir", "ref_data_base",
}  # fmt: skip


def test_list_config_answers_exactly_ee2s_public_keys_and_the_server_version_without_a_token(
    ee2: Clients,
) -> None:
    config = ee2(None).list_config()

    assert set(config) == EE2_PUBLIC_KEYS | {"ee.server.version"}
    assert config["ee.server.version"] == __version__
    assert config["kbase-endpoint"] is None and config["scratch"] is None


def test_list_config_derives_kbase_urls_from_the_endpoint_and_never_hands_out_credentials(
    ee2: Clients, deps: Deps
) -> None:
    deps.settings = Settings(
        kbase_endpoint="https://kbase.example/services",
        auth_url="https://user:secret@auth.example/services/auth?token=abc",
        scratch="/kb/scratch",
        ref_data_base="/kb/data",
        docker_timeout_s=604_800,
        scheduler=SchedulerKind.CONDOR,
        service_url="https://ee.example/services/ee2",
    )

    config = ee2(None).list_config()

    assert config["workspace-url"] == "https://kbase.example/services/ws"
    assert config["shock-url"] == "https://kbase.example/services/shock-api"
    assert config["handle-url"] == "https://kbase.example/services/handle_service"
    assert config["srv-wiz-url"] == "https://kbase.example/services/service_wizard"
    assert config["auth-service-url-v2"] == "https://auth.example/services/auth/api/V2/token"
    assert config["external-url"] == "https://ee.example/services/ee2"
    assert (config["scratch"], config["ref_data_base"], config["docker_timeout"]) == (
        "/kb/scratch",
        "/kb/data",
        "604800",
    )
    assert config["executable"] == deps.settings.condor_runner
    text = repr(config)
    assert "secret" not in text and "token=abc" not in text and "user:" not in text


def test_ver_and_status_answer_ee2s_shapes(ee2: Clients) -> None:
    client = ee2(None)

    assert client.ver() == __version__
    status = client.status()
    assert {"git_commit", "version", "service", "server_time"} <= set(status)
    assert isinstance(status["server_time"], float)


def test_is_admin_and_get_admin_permission_follow_the_caller_roles(ee2: Clients) -> None:
    assert ee2(ALICE_TOKEN).is_admin() is False
    assert ee2(READONLY_ADMIN_TOKEN).is_admin() is True
    assert ee2(ADMIN_TOKEN).get_admin_permission() == {"permission": "w"}
    assert ee2(READONLY_ADMIN_TOKEN).get_admin_permission() == {"permission": "r"}
    assert ee2(ALICE_TOKEN).get_admin_permission() == {"permission": "n"}


def test_get_client_groups_lists_the_groups_the_service_schedules_to(ee2: Clients, deps: Deps) -> None:
    assert ee2(None).get_client_groups() == ["njs"]

    deps.settings = Settings(client_groups=("njs", "bigmem"))
    assert ee2(None).get_client_groups() == ["njs", "bigmem"]


def test_a_method_needing_a_token_raises_the_clients_server_error_with_name_and_code(ee2: Clients) -> None:
    error = raises(AuthenticationError.code, lambda: ee2(None).check_jobs({"job_ids": []}))

    assert error.name == AuthenticationError.name
    assert "token" in error.message
