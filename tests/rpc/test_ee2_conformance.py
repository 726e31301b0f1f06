"""One conformance test per funcdef of ee2's spec, called as KBase's generated client calls it
(tests/kbase_client.py), checking ee2's parameter and result shapes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from ee_retry import __version__
from ee_retry.domain.values import SchedulerKind
from ee_retry.errors import AuthenticationError, InvalidParams, PermissionDenied
from ee_retry.service.deps import Deps
from ee_retry.settings import Settings
from ee_retry.testing.clock import FakeClock
from ee_retry.testing.harness import ADMIN_TOKEN, ALICE_TOKEN, BOB_TOKEN, READONLY_ADMIN_TOKEN
from ee_retry.testing.scheduler import FakeScheduler
from tests.kbase_client import EE2Client, ServerError
from tests.rpc.conftest import RELEASE_COMMIT, T0_MS

Clients = Callable[[str | None], EE2Client]

EE2_PUBLIC_KEYS = {
    "external-url", "kbase-endpoint", "workspace-url", "catalog-url", "shock-url", "handle-url",
    "srv-wiz-url", "auth-service-url", "auth-service-url-v2", "auth-service-url-allow-insecure",
    "scratch", "executable", "docker_timeout", "initialdir", "ref_data_base",
}  # fmt: skip
# The list_config keys KBase's JobRunner reads by key at start-up (it stops when one is missing).
JOB_RUNNER_KEYS = {
    "kbase-endpoint", "workspace-url", "external-url", "shock-url", "handle-url", "srv-wiz-url",
    "auth-service-url", "scratch", "ref_data_base",
}  # fmt: skip
JOB = {"method": "Demo.succeed", "params": [{"x": 1}], "wsid": 1}


@pytest.fixture
def ee2(client: TestClient) -> Clients:
    """A generated-style client for a token (None: no token)."""

    def make(token: str | None = ALICE_TOKEN) -> EE2Client:
        return EE2Client(client, token)

    return make


@pytest.fixture
def alice(ee2: Clients) -> EE2Client:
    return ee2(ALICE_TOKEN)


@pytest.fixture
def admin(ee2: Clients) -> EE2Client:
    return ee2(ADMIN_TOKEN)


def raises(code: int, call: Callable[[], object]) -> ServerError:
    with pytest.raises(ServerError) as caught:
        call()
    assert caught.value.code == code, caught.value.message
    return caught.value


# ---------------------------------------------------------------- service


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


# ---------------------------------------------------------------- running


def test_run_job_keeps_the_narratives_meta_as_narrative_cell_info(alice: EE2Client) -> None:
    meta = {"cell_id": "c-1", "run_id": "r-1", "tag": "release", "token_id": "t-1", "extra": 5}
    job_id = alice.run_job({**JOB, "app_id": "Demo/succeed", "meta": meta})

    state = alice.check_job({"job_id": job_id})

    assert isinstance(job_id, str) and len(job_id) == 24
    assert state["job_input"]["narrative_cell_info"] == {
        "cell_id": "c-1",
        "run_id": "r-1",
        "tag": "release",
        "token_id": "t-1",
    }
    assert state["job_input"]["app_id"] == "Demo/succeed"
    assert state["job_input"]["service_ver"] == RELEASE_COMMIT


def test_run_job_batch_answers_the_container_and_children(alice: EE2Client) -> None:
    answer = alice.run_job_batch([JOB, JOB], {"wsid": 1})

    assert set(answer) == {"batch_id", "child_job_ids"} and len(answer["child_job_ids"]) == 2


def test_run_job_concierge_is_admin_only_and_runs_with_the_resources_given(
    alice: EE2Client, admin: EE2Client, sched: FakeScheduler
) -> None:
    concierge = {"request_cpu": 4, "request_memory": 8_000, "request_disk": 50, "account_group": "bob"}

    raises(PermissionDenied.code, lambda: alice.run_job_concierge(JOB, concierge))
    raises(InvalidParams.code, lambda: admin.run_job_concierge(JOB, {"client_group": "nowhere"}))
    raises(InvalidParams.code, lambda: admin.run_job_concierge(JOB, {"request_cpu": 0}))
    raises(InvalidParams.code, lambda: admin.run_job_concierge(JOB, {"requirements_list": ["a=b"]}))
    job_id = admin.run_job_concierge(JOB, {**concierge, "client_group": "njs", "job_priority": 5})

    reqs = sched.spec(job_id).requirements  # type: ignore[union-attr]
    assert (reqs.cpus, reqs.memory_mb, reqs.disk_gb, reqs.client_group) == (4, 8_000, 50, "njs")
    assert reqs.account_group == "bob"
    assert admin.check_job({"job_id": job_id})["user"] == "ee2admin"


def test_retry_job_and_retry_jobs_answer_ee2s_retry_results(alice: EE2Client, sched: FakeScheduler) -> None:
    first, second = alice.run_job(JOB), alice.run_job(JOB)
    for job_id in (first, second):
        alice.cancel_job({"job_id": job_id})

    single = alice.retry_job({"job_id": first})
    bulk = alice.retry_jobs({"job_ids": [second, "0" * 24]})

    assert set(single) == {"job_id", "retry_id"} and single["job_id"] == first
    assert bulk[0]["job_id"] == second and "retry_id" in bulk[0]
    assert bulk[1]["job_id"] == "0" * 24 and "error" in bulk[1]


def test_abandon_children_drops_children_from_the_container(alice: EE2Client, ee2: Clients) -> None:
    answer = alice.run_job_batch([JOB, JOB, JOB], {"wsid": 1})
    batch_id, children = answer["batch_id"], answer["child_job_ids"]

    raises(
        InvalidParams.code,
        lambda: alice.abandon_children({"batch_id": batch_id, "child_job_ids": [batch_id]}),
    )
    raises(
        -32003, lambda: ee2(BOB_TOKEN).abandon_children({"batch_id": batch_id, "child_job_ids": children[:1]})
    )
    left = alice.abandon_children({"batch_id": batch_id, "child_job_ids": children[:2]})

    assert left == {"batch_id": batch_id, "child_job_ids": children[2:]}
    assert alice.check_job({"job_id": batch_id})["child_jobs"] == children[2:]


# ---------------------------------------------------------------- job runner callbacks


async def test_the_job_runners_calls_are_accepted_with_its_exact_params(
    alice: EE2Client, sched: FakeScheduler
) -> None:
    job_id = alice.run_job(JOB)

    assert alice.check_job_canceled({"job_id": job_id}) == {
        "job_id": job_id,
        "finished": False,
        "canceled": False,
    }
    params = alice.get_job_params({"job_id": job_id})
    config = alice.list_config()
    assert alice.start_job({"job_id": job_id}) is None
    logged = alice.add_job_logs({"job_id": job_id}, [{"line": "hello", "is_error": 0}])
    alice.add_job_logs({"job_id": job_id}, [{"line": "oops", "is_error": 1, "ts": T0_MS}])
    assert (
        alice.finish_job(
            {"job_id": job_id, "error_message": "Job output contains an error", "error": "Token has expired"}
        )
        is None
    )

    assert (params["method"], params["params"], params["service_ver"]) == (
        "Demo.succeed",
        [{"x": 1}],
        RELEASE_COMMIT,
    )
    assert set(config) >= JOB_RUNNER_KEYS
    assert logged == {"success": True, "line_number": 1}
    state = alice.check_job({"job_id": job_id})
    assert (state["status"], state["error_code"], state["errormsg"]) == (
        "error",
        1,
        "Job output contains an error",
    )
    assert state["error"]["message"] == "Token has expired"


def test_finish_job_with_an_empty_output_completes_the_job(alice: EE2Client) -> None:
    job_id = alice.run_job(JOB)
    alice.start_job({"job_id": job_id, "skip_estimation": 1})

    alice.finish_job({"job_id": job_id, "job_output": {}})

    assert alice.get_job_status({"job_id": job_id}) == {"status": "completed"}


def test_start_job_without_skip_estimation_estimates_first_as_ee2_does(
    alice: EE2Client, clock: FakeClock
) -> None:
    job_id = alice.run_job(JOB)

    alice.start_job({"job_id": job_id, "skip_estimation": 0})
    clock.advance(2)
    estimating = alice.check_job({"job_id": job_id})
    alice.start_job({"job_id": job_id, "skip_estimation": 0})

    assert (estimating["status"], estimating["estimating"]) == ("estimating", T0_MS)
    state = alice.check_job({"job_id": job_id})
    assert (state["status"], state["running"], state["estimating"]) == ("running", T0_MS + 2_000, T0_MS)


def test_update_job_status_is_an_admin_call_answering_the_job_id(alice: EE2Client, admin: EE2Client) -> None:
    job_id = alice.run_job(JOB)

    assert admin.update_job_status({"job_id": job_id, "status": "running", "as_admin": 1}) == job_id
    assert alice.get_job_status({"job_id": job_id}) == {"status": "running"}


def test_get_job_logs_pages_with_skip_lines(alice: EE2Client) -> None:
    job_id = alice.run_job(JOB)
    alice.add_job_logs({"job_id": job_id}, [{"line": f"l{i}", "is_error": 0} for i in range(5)])

    page = alice.get_job_logs({"job_id": job_id, "skip_lines": 3})

    assert [ln["line"] for ln in page["lines"]] == ["l3", "l4"]
    assert [ln["linepos"] for ln in page["lines"]] == [3, 4]
    assert page["last_line_number"] == 5
    assert {"line", "linepos", "is_error", "ts"} == set(page["lines"][0])


# ---------------------------------------------------------------- job state


def test_check_job_answers_every_ee2_field_with_ee2s_types_and_defaults(alice: EE2Client) -> None:
    job_id = alice.run_job(JOB)

    state = alice.check_job({"job_id": job_id})

    assert state["job_id"] == job_id and state["user"] == "alice" and state["wsid"] == 1
    assert state["authstrat"] == "kbaseworkspace" and state["status"] == "queued"
    assert state["batch_job"] is False and state["batch_id"] is None
    assert state["child_jobs"] == [] and state["retry_ids"] == [] and state["retry_count"] == 0
    assert state["retry_saved_toggle"] is False
    assert state["created"] == T0_MS and isinstance(state["updated"], int)
    assert state["job_input"]["narrative_cell_info"] == {}
    assert state["job_input"]["source_ws_objects"] == []
    assert {"cpu", "memory", "disk", "clientgroup"} <= set(state["job_input"]["requirements"])
    trimmed = alice.check_job({"job_id": job_id, "exclude_fields": ["job_input", "updated", "job_id"]})
    assert "job_input" not in trimmed and "updated" not in trimmed and trimmed["job_id"] == job_id


def test_check_jobs_answers_a_list_by_default_and_a_mapping_with_return_list_0(alice: EE2Client) -> None:
    first, second = alice.run_job(JOB), alice.run_job(JOB)

    as_list = alice.check_jobs({"job_ids": [second, first]})
    as_map = alice.check_jobs({"job_ids": [second, first], "return_list": 0, "exclude_fields": ["job_input"]})

    assert [s["job_id"] for s in as_list["job_states"]] == [second, first]
    assert list(as_map) == [second, first]
    assert as_map[first]["job_id"] == first and "job_input" not in as_map[first]
    assert alice.check_jobs({"job_ids": [first], "return_list": "false"}).keys() == {first}


def test_check_job_batch_honours_exclude_fields(alice: EE2Client) -> None:
    answer = alice.run_job_batch([JOB], {"wsid": 1})

    result = alice.check_job_batch({"job_id": answer["batch_id"], "exclude_fields": ["job_input"]})

    assert result["batch_jobstate"]["child_jobs"] == answer["child_job_ids"]
    assert "job_input" not in result["child_jobstates"][0]


def test_check_workspace_jobs_lists_a_workspaces_jobs_for_its_readers_only(ee2: Clients) -> None:
    alice, bob = ee2(ALICE_TOKEN), ee2(BOB_TOKEN)
    first, second = alice.run_job(JOB), alice.run_job(JOB)
    assert bob.check_workspace_jobs({"workspace_id": 2, "return_list": 1}) == {}
    bob_own = bob.run_job({**JOB, "wsid": 2})

    as_map = bob.check_workspace_jobs({"workspace_id": 1, "return_list": 0, "exclude_fields": ["job_input"]})
    as_list = alice.check_workspace_jobs({"workspace_id": "1"})

    assert list(as_map) == [first, second] and "job_input" not in as_map[first]
    assert [s["job_id"] for s in as_list["job_states"]] == [first, second]
    error = raises(PermissionDenied.code, lambda: alice.check_workspace_jobs({"workspace_id": 2}))
    assert "permission to read jobs in workspace 2" in error.message
    admin_view = ee2(READONLY_ADMIN_TOKEN).check_workspace_jobs({"workspace_id": 2, "as_admin": 1})
    assert [s["job_id"] for s in admin_view["job_states"]] == [bob_own]


def test_get_job_status_answers_the_status_alone(alice: EE2Client, ee2: Clients) -> None:
    job_id = alice.run_job({**JOB, "wsid": None})

    assert alice.get_job_status({"job_id": job_id}) == {"status": "queued"}
    raises(-32003, lambda: ee2(BOB_TOKEN).get_job_status({"job_id": job_id}))


def test_cancel_job_records_the_terminated_code_given_and_defaults_to_0(
    alice: EE2Client, admin: EE2Client
) -> None:
    mine, by_admin, by_script = alice.run_job(JOB), alice.run_job(JOB), alice.run_job(JOB)

    assert alice.cancel_job({"job_id": mine}) is None
    admin.cancel_job({"job_id": by_admin, "as_admin": True, "terminated_code": 1})
    admin.cancel_job({"job_id": by_script, "as_admin": True, "terminated_code": 2})
    raises(InvalidParams.code, lambda: alice.cancel_job({"job_id": mine, "terminated_code": 9}))

    codes = {j: alice.check_job({"job_id": j})["terminated_code"] for j in (mine, by_admin, by_script)}
    assert codes == {mine: 0, by_admin: 1, by_script: 2}
    assert alice.check_job_canceled({"job_id": mine}) == {"job_id": mine, "finished": True, "canceled": True}


def test_cancelling_a_batch_marks_its_children_terminated_by_batch_abort(alice: EE2Client) -> None:
    answer = alice.run_job_batch([JOB, JOB], {"wsid": 1})

    alice.cancel_job({"job_id": answer["batch_id"]})

    children = alice.check_jobs({"job_ids": answer["child_job_ids"]})["job_states"]
    assert [c["terminated_code"] for c in children] == [3, 3]
    assert alice.check_job({"job_id": answer["batch_id"]})["terminated_code"] == 0


async def test_cancelling_a_batchs_last_active_child_ends_the_container(
    alice: EE2Client, sched: FakeScheduler
) -> None:
    answer = alice.run_job_batch([JOB, JOB], {"wsid": 1})
    done, last = answer["child_job_ids"]
    await sched.complete(done, exit_code=0)

    alice.cancel_job({"job_id": last})

    assert alice.get_job_status({"job_id": answer["batch_id"]}) == {"status": "terminated"}


def test_date_range_calls_answer_ee2s_result_shape(alice: EE2Client, ee2: Clients) -> None:
    job_id = alice.run_job(JOB)
    window = {"start_time": T0_MS - 1_000, "end_time": T0_MS + 1_000}

    mine = alice.check_jobs_date_range_for_user(window)
    everyone = ee2(READONLY_ADMIN_TOKEN).check_jobs_date_range_for_all(window)

    for result in (mine, everyone):
        assert {
            "jobs",
            "count",
            "query_count",
            "filter",
            "skip",
            "projection",
            "limit",
            "sort_order",
            "stats",
        } <= set(result)
        assert [j["job_id"] for j in result["jobs"]] == [job_id]
        assert result["stats"]["status"] == {"queued": 1} and result["stats"]["user"] == {"alice": 1}
    raises(PermissionDenied.code, lambda: alice.check_jobs_date_range_for_all(window))


async def test_handle_held_job_is_admin_only_and_ends_a_held_job_in_error(
    alice: EE2Client, admin: EE2Client, sched: FakeScheduler
) -> None:
    job_id = alice.run_job(JOB)
    cluster = sched.proc(job_id).scheduler_id.split(".")[0]  # type: ignore[union-attr]
    sched.set_listener(None)  # the poller has not seen the hold yet
    await sched.hold(job_id, "memory usage exceeded request")

    raises(PermissionDenied.code, lambda: alice.handle_held_job(cluster))
    raises(InvalidParams.code, lambda: admin.handle_held_job("12; rm"))
    record = admin.handle_held_job(cluster)

    assert record["_id"] == job_id and record["status"] == "error"
    assert "memory usage exceeded request" in record["errormsg"]
    assert sched.proc(job_id).state.value == "removed"  # type: ignore[union-attr]
