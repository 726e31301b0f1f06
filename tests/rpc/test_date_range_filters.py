"""check_jobs_date_range_* filters as admin tooling sends them: ee2's "key=value" list and its mapping
with __gt/__gte/__lt/__lte/__ne/__in, typed per field and AND-ed; user "ALL" for admins."""

from __future__ import annotations

from typing import Any

import pytest

from ee_retry.errors import InvalidParams, PermissionDenied
from ee_retry.testing.clock import FakeClock
from ee_retry.testing.harness import ADMIN_TOKEN, ALICE_TOKEN, BOB_TOKEN, READONLY_ADMIN_TOKEN
from ee_retry.testing.scheduler import FakeScheduler
from tests.rpc.conftest import T0_MS, T0_S, Api, failed, ok

WINDOW = {"start_time": T0_MS, "end_time": T0_MS + 3_600_000}


@pytest.fixture
async def jobs(api: Api, sched: FakeScheduler, clock: FakeClock) -> dict[str, str]:
    """Alice: one failed with exit 1 at T0+10 s, one cancelled by automation, one still queued; bob:
    one completed at T0+30 s in workspace 2."""
    made = {"failed": api.run(), "cancelled": api.run(), "queued": api.run()}
    made["bobs"] = api.run(BOB_TOKEN, wsid=2)
    clock.advance(10)
    await sched.complete(made["failed"], exit_code=1)
    ok(
        api.call(
            "cancel_job", [{"job_id": made["cancelled"], "as_admin": 1, "terminated_code": 2}], ADMIN_TOKEN
        )
    )
    clock.advance(20)
    await sched.complete(made["bobs"], exit_code=0)
    return made


def listed(api: Api, filt: Any, token: str = ALICE_TOKEN, method: str = "for_user", **more: Any) -> list[str]:
    params = {**WINDOW, "filter": filt, **more}
    result = ok(api.call(f"check_jobs_date_range_{method}", [params], token))
    assert result["count"] == len(result["jobs"]) <= result["query_count"]
    return [j["job_id"] for j in result["jobs"]]


def test_a_list_filter_is_typed_per_field_and_anded(api: Api, jobs: dict[str, str]) -> None:
    assert listed(api, ["status=error"]) == [jobs["failed"]]
    assert listed(api, ["status=error", "error_code=1"]) == [jobs["failed"]]
    assert listed(api, ["status=error", "error_code=2"]) == []
    assert listed(api, ["terminated_code=2"]) == [jobs["cancelled"]]
    assert listed(api, ["wsid=1", "status__ne=queued"]) == [jobs["failed"], jobs["cancelled"]]
    assert listed(api, ["status__in=error,terminated"]) == [jobs["failed"], jobs["cancelled"]]


def test_a_mapping_filter_takes_ee2s_operators(api: Api, jobs: dict[str, str]) -> None:
    finished = {"finished__gt": T0_S + 5, "finished__lt": T0_S + 60}

    assert listed(api, finished, ADMIN_TOKEN, "for_all") == [jobs["failed"], jobs["cancelled"], jobs["bobs"]]
    assert listed(api, {**finished, "finished__lte": T0_S + 10}, ADMIN_TOKEN, "for_all") == [
        jobs["failed"],
        jobs["cancelled"],
    ]
    assert listed(api, {"finished__gte": T0_S + 30}, ADMIN_TOKEN, "for_all") == [jobs["bobs"]]
    assert listed(api, {"status__in": ["completed", "queued"]}) == [jobs["queued"]]
    assert listed(api, {"job_input__method": "Demo.succeed", "batch_job": False}) == list(jobs.values())[:3]
    assert listed(api, {"job_input.requirements.clientgroup": "njs", "error_code__gte": 1}) == [
        jobs["failed"]
    ]


def test_the_query_count_and_stats_follow_the_filter(api: Api, jobs: dict[str, str]) -> None:
    result = ok(
        api.call("check_jobs_date_range_for_user", [{**WINDOW, "filter": ["status=error"], "limit": 1}])
    )

    assert result["query_count"] == 1
    assert result["stats"]["status"] == {"error": 1}
    assert result["filter"]["status"] == "error"


def test_user_all_lists_everyones_jobs_for_admins_only(api: Api, jobs: dict[str, str]) -> None:
    assert set(listed(api, None, READONLY_ADMIN_TOKEN, user="ALL")) == set(jobs.values())
    assert listed(api, ["user=bob"], ADMIN_TOKEN, user="ALL") == [jobs["bobs"]]
    params = {**WINDOW, "user": "ALL"}
    failed(api.call("check_jobs_date_range_for_user", [params]), PermissionDenied.code)


def test_a_non_admins_filter_on_another_user_never_widens_the_listing(api: Api, jobs: dict[str, str]) -> None:
    assert listed(api, ["user=bob"]) == []
    assert listed(api, {"user__ne": "alice"}) == []


@pytest.mark.parametrize(
    ("filt", "says"),
    [
        pytest.param(["status=broken"], "unknown status", id="unknown-status"),
        pytest.param(["error_code=one"], "integer", id="non-integer-code"),
        pytest.param({"wsid": {"$ne": None}}, "integer", id="operator-object-as-value"),
        pytest.param({"status": {"$ne": "x"}}, "unknown status", id="operator-object-for-status"),
        pytest.param({"$where": "1"}, "Cannot filter on", id="operator-as-key"),
        pytest.param({"user__regex": "^a"}, "Cannot filter on", id="unsupported-operator"),
        pytest.param({"status__gt": "error"}, "takes only", id="ordering-a-string"),
        pytest.param({"created__gt": 1}, "start_time and end_time", id="created"),
        pytest.param({"job_input.params": "x"}, "Cannot filter on", id="not-whitelisted"),
        pytest.param(["status"], "key=value", id="no-equals"),
        pytest.param(["a=b=c"], "key=value", id="two-equals"),
        pytest.param("status=error", "list of 'key=value' strings or an object", id="bare-string"),
        pytest.param({"finished__gt": T0_MS}, "epoch seconds", id="milliseconds-for-a-time"),
        pytest.param({"status__in": []}, "list of 1 to", id="empty-in"),
        pytest.param(
            {f"wsid__{op}": 1 for op in ("gt", "lt", "gte", "lte", "ne")} | {"f": 1}, "Cannot", id="bad"
        ),
    ],
)
def test_anything_else_is_invalid_params_naming_the_problem(api: Api, filt: Any, says: str) -> None:
    message = failed(
        api.call("check_jobs_date_range_for_user", [{**WINDOW, "filter": filt}]), InvalidParams.code
    )

    assert says in message


def test_more_than_twenty_terms_are_refused(api: Api) -> None:
    filt = [f"wsid__ne={i}" for i in range(21)]

    assert "at most 20" in failed(
        api.call("check_jobs_date_range_for_user", [{**WINDOW, "filter": filt}]), InvalidParams.code
    )
