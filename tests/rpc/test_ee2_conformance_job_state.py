"""ee2's conformance, one test per funcdef of its spec, called as KBase's generated client calls it
(tests/kbase_client.py) and checking ee2's parameter and result shapes: job state (check_job and
its relatives, status, cancelling, date ranges, held jobs)."""

from __future__ import annotations

from ee_retry.errors import InvalidParams, PermissionDenied
from ee_retry.testing.harness import ALICE_TOKEN, BOB_TOKEN, READONLY_ADMIN_TOKEN
from ee_retry.testing.scheduler import FakeScheduler
from tests.kbase_client import EE2Client
from tests.rpc.conftest import JOB, T0_MS, Clients, raises


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
