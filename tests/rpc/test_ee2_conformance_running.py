"""ee2's conformance, one test per funcdef of its spec, called as KBase's generated client calls it
(tests/kbase_client.py) and checking ee2's parameter and result shapes: running jobs (single,
batch, concierge, retry, abandoned children) and the job runner's callbacks."""

from __future__ import annotations

from ee_retry.errors import InvalidParams, PermissionDenied
from ee_retry.testing.clock import FakeClock
from ee_retry.testing.harness import BOB_TOKEN
from ee_retry.testing.scheduler import FakeScheduler
from tests.kbase_client import EE2Client
from tests.rpc.conftest import JOB, RELEASE_COMMIT, T0_MS, Clients, raises

# The list_config keys KBase's JobRunner reads by key at start-up (it stops when one is missing).
JOB_RUNNER_KEYS = {
    "kbase-endpoint", "workspace-url", "external-url", "shock-url", "handle-url", "srv-wiz-url",
    "auth-service-url", "scratch", "ref_data_base",
}  # fmt: skip


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
