"""retry_failed_jobs, get_job_lineage and job_stats on the wire: params, answers and errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from ee_retry.errors import InvalidJobId, InvalidParams, JobNotFound, PermissionDenied
from ee_retry.testing.harness import ADMIN_TOKEN, ALICE_TOKEN, BOB_TOKEN, READONLY_ADMIN_TOKEN
from ee_retry.testing.scheduler import FakeScheduler

Rpc = Callable[..., tuple[int, Any]]
T0_MS = 1_700_000_000_000  # the test clock's start, epoch ms


def call(client: TestClient, rpc: Rpc, method: str, params: dict[str, Any], token: str = ALICE_TOKEN) -> Any:
    status, body = rpc(client, method, [params], token)
    assert status == 200, body
    return body["result"][0]


def error_code(client: TestClient, rpc: Rpc, method: str, params: Any, token: str = ALICE_TOKEN) -> int:
    status, body = rpc(client, method, params, token)
    assert status == 500, body
    return int(body["error"]["code"])


async def failed_job(client: TestClient, rpc: Rpc, sched: FakeScheduler, token: str = ALICE_TOKEN) -> str:
    wsid = 2 if token == BOB_TOKEN else 1
    [job_id] = rpc(client, "run_job", [{"method": "Demo.fail", "wsid": wsid}], token)[1]["result"]
    await sched.complete(job_id, exit_code=1, error="bad input")
    return str(job_id)


async def test_retry_failed_jobs_is_a_dry_run_unless_told_otherwise(
    client: TestClient, rpc: Rpc, sched: FakeScheduler
) -> None:
    job_id = await failed_job(client, rpc, sched)
    await failed_job(client, rpc, sched, BOB_TOKEN)
    preview = call(client, rpc, "retry_failed_jobs", {})
    assert preview == {
        "dry_run": True,
        "count": 1,
        "jobs": [
            {
                "job_id": job_id,
                "latest_attempt_id": job_id,
                "status": "error",
                "errormsg": "Job process exited with code 1: bad input",
                "error_code": 1,
                "method": "Demo.fail",
                "user": "alice",
                "wsid": 1,
            }
        ],
    }
    assert call(client, rpc, "check_job", {"job_id": job_id})["retry_count"] == 0


async def test_retry_failed_jobs_without_dry_run_answers_like_retry_jobs(
    client: TestClient, rpc: Rpc, sched: FakeScheduler
) -> None:
    first, second = await failed_job(client, rpc, sched), await failed_job(client, rpc, sched)
    answer = call(client, rpc, "retry_failed_jobs", {"dry_run": False, "filters": {"status": ["error"]}})
    assert answer["dry_run"] is False and answer["count"] == 2
    assert [r["job_id"] for r in answer["results"]] == [first, second]
    assert all(set(r) == {"job_id", "retry_id"} for r in answer["results"])
    assert call(client, rpc, "check_job", {"job_id": first})["retry_ids"] == [
        answer["results"][0]["retry_id"]
    ]
    assert call(client, rpc, "retry_failed_jobs", {"dry_run": "false"}) == {
        "dry_run": False,
        "count": 0,
        "results": [],
    }


async def test_retry_failed_jobs_takes_time_bounds_as_epoch_ms_or_iso(
    client: TestClient, rpc: Rpc, sched: FakeScheduler
) -> None:
    await failed_job(client, rpc, sched)
    before = {"created_to": T0_MS}
    after = {"created_from": "2023-11-14T22:13:20Z"}  # the test clock's start
    assert call(client, rpc, "retry_failed_jobs", {"filters": before})["count"] == 0
    assert call(client, rpc, "retry_failed_jobs", {"filters": after})["count"] == 1


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"limit": 1_001}, InvalidParams.code),
        ({"limit": 0}, InvalidParams.code),
        ({"filters": {"stauts": "error"}}, InvalidParams.code),
        ({"filters": {"status": "completed"}}, InvalidParams.code),
        ({"filters": {"status": []}}, InvalidParams.code),
        ({"filters": {"batch_id": {"$ne": None}}}, InvalidParams.code),
        ({"filters": {"batch_id": "not-an-id"}}, InvalidJobId.code),
        ({"filters": {"created_from": "yesterday"}}, InvalidParams.code),
        ({"dry_run": "maybe"}, InvalidParams.code),
        ({"idempotency_key": "has spaces"}, InvalidParams.code),
        ({"filters": {"user": "bob"}}, PermissionDenied.code),
        ({"as_admin": True}, PermissionDenied.code),
    ],
    ids=[
        "limit-too-large",
        "limit-zero",
        "unknown-filter",
        "status-not-retryable",
        "status-empty",
        "batch-id-object",
        "batch-id-malformed",
        "bad-date",
        "bad-flag",
        "bad-key",
        "other-user",
        "as-admin-without-role",
    ],
)
def test_retry_failed_jobs_refuses_bad_params(
    client: TestClient, rpc: Rpc, params: dict[str, Any], code: int
) -> None:
    assert error_code(client, rpc, "retry_failed_jobs", [params]) == code


SECONDS_AS_INT = 1_795_881_700  # epoch seconds (2026); as epoch ms it would be 1970-01-21


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("retry_failed_jobs", {"filters": {"created_from": SECONDS_AS_INT}}),
        ("retry_failed_jobs", {"filters": {"created_to": str(SECONDS_AS_INT)}}),
        ("retry_failed_jobs", {"filters": {"created_from": 0}}),
        ("job_stats", {"since": SECONDS_AS_INT}),
    ],
    ids=["created_from", "created_to-as-string", "zero", "since"],
)
def test_operator_calls_refuse_an_integer_time_that_can_only_be_seconds(
    client: TestClient, rpc: Rpc, method: str, params: dict[str, Any]
) -> None:
    status, body = rpc(client, method, [params], ALICE_TOKEN)
    assert status == 500, body
    assert body["error"]["code"] == InvalidParams.code
    assert "integers are epoch milliseconds" in body["error"]["message"]
    assert "pass a float" in body["error"]["message"]


async def test_operator_calls_take_seconds_as_a_float_and_ee2_date_ranges_keep_small_integers(
    client: TestClient, rpc: Rpc, sched: FakeScheduler
) -> None:
    await failed_job(client, rpc, sched)
    t0_s = T0_MS / 1_000
    assert call(client, rpc, "retry_failed_jobs", {"filters": {"created_from": t0_s}})["count"] == 1
    assert call(client, rpc, "retry_failed_jobs", {"filters": {"created_from": T0_MS + 1}})["count"] == 0
    assert call(client, rpc, "job_stats", {"since": t0_s})["total"] == 1
    assert call(client, rpc, "job_stats", {"since": f"{t0_s + 1}"})["total"] == 0
    everything = {"start_time": 0, "end_time": T0_MS + 1}
    assert call(client, rpc, "check_jobs_date_range_for_user", everything)["count"] == 1


async def test_an_admin_selects_any_users_jobs_with_as_admin(
    client: TestClient, rpc: Rpc, sched: FakeScheduler
) -> None:
    await failed_job(client, rpc, sched)
    bobs = await failed_job(client, rpc, sched, BOB_TOKEN)
    answer = call(client, rpc, "retry_failed_jobs", {"as_admin": 1, "filters": {"user": "bob"}}, ADMIN_TOKEN)
    assert [j["job_id"] for j in answer["jobs"]] == [bobs]


async def test_get_job_lineage_answers_with_ms_times_and_the_audit_of_each_request(
    client: TestClient, rpc: Rpc, sched: FakeScheduler
) -> None:
    original = await failed_job(client, rpc, sched)
    retry_id = call(client, rpc, "retry_job", {"job_id": original, "idempotency_key": "k1"})["retry_id"]
    for named in (original, retry_id):
        lineage = call(client, rpc, "get_job_lineage", {"job_id": named})
        assert lineage["original_id"] == original
        [first, second] = lineage["attempts"]
        assert first["job_id"] == original and first["attempt"] == 0 and first["retry_of"] is None
        assert first["status"] == "error" and first["errormsg"].endswith("bad input")
        assert first["created"] == T0_MS and first["finished"] == T0_MS
        assert first["requested"]["method"] == "run_job" and first["requested"]["by"] == "alice"
        assert second["job_id"] == retry_id and second["attempt"] == 1 and second["retry_of"] == original
        assert second["status"] == "queued" and second["user"] == "alice"
        assert second["requested"] == {
            "by": "alice",
            "at": T0_MS,
            "as_admin": False,
            "idempotency_key": "k1",
            "operation_id": second["requested"]["operation_id"],
            "method": "retry_job",
        }


async def test_get_job_lineage_audits_an_admins_requirements_and_the_selection_of_retry_failed_jobs(
    client: TestClient, rpc: Rpc, sched: FakeScheduler
) -> None:
    original = await failed_job(client, rpc, sched)
    override = {"request_cpus": 2, "request_memory": 1_024, "client_group": "bigmem"}
    by_admin = {"job_id": original, "as_admin": True, "job_requirements": override}
    first = call(client, rpc, "retry_job", by_admin, ADMIN_TOKEN)["retry_id"]
    await sched.complete(first, exit_code=1)
    selection = {"status": "error", "method": "Demo.fail", "created_from": T0_MS}
    retried = call(client, rpc, "retry_failed_jobs", {"dry_run": False, "filters": selection, "limit": 5})
    [second] = [r["retry_id"] for r in retried["results"]]

    attempts = call(client, rpc, "get_job_lineage", {"job_id": original})["attempts"]

    assert [a["job_id"] for a in attempts] == [original, first, second]
    run, admin_retry, selected = (a["requested"] for a in attempts)
    common = {"by", "at", "as_admin", "idempotency_key", "operation_id", "method"}
    assert set(run) == common
    assert set(admin_retry) == common | {"job_requirements"}
    assert admin_retry["job_requirements"] == override
    assert (admin_retry["by"], admin_retry["as_admin"], admin_retry["method"]) == (
        "ee2admin",
        True,
        "retry_job",
    )
    assert set(selected) == common | {"filters", "limit"}
    assert selected["method"] == "retry_failed_jobs" and selected["by"] == "alice"
    assert selected["filters"] == {"status": ["error"], "method": "Demo.fail", "created_from": T0_MS}
    assert selected["limit"] == 5


async def test_get_job_lineage_needs_a_job_the_caller_may_read(
    client: TestClient, rpc: Rpc, sched: FakeScheduler
) -> None:
    bobs = await failed_job(client, rpc, sched, BOB_TOKEN)
    assert error_code(client, rpc, "get_job_lineage", [{"job_id": bobs}]) == JobNotFound.code
    assert error_code(client, rpc, "get_job_lineage", [{}]) == InvalidParams.code
    assert error_code(client, rpc, "get_job_lineage", [{"job_id": {"$ne": None}}]) == InvalidJobId.code
    admin_view = call(
        client, rpc, "get_job_lineage", {"job_id": bobs, "as_admin": True}, READONLY_ADMIN_TOKEN
    )
    assert admin_view["original_id"] == bobs


async def test_job_stats_counts_per_status_and_retry_attempts(
    client: TestClient, rpc: Rpc, sched: FakeScheduler
) -> None:
    original = await failed_job(client, rpc, sched)
    retry_id = call(client, rpc, "retry_job", {"job_id": original})["retry_id"]
    await sched.complete(retry_id, exit_code=1)
    call(client, rpc, "retry_job", {"job_id": original})
    await failed_job(client, rpc, sched, BOB_TOKEN)
    status, body = rpc(client, "job_stats", [], ALICE_TOKEN)
    assert status == 200, body
    stats = body["result"][0]
    assert stats["user"] == "alice" and stats["since"] is None
    assert stats["counts"]["error"] == 2 and stats["counts"]["queued"] == 1 and stats["total"] == 3
    assert stats["retries"] == {
        "attempts_started": 2,
        "attempts_completed": 0,
        "attempts_failed": 1,
        "attempts_terminated": 0,
        "attempts_in_flight": 1,
    }
    everyone = call(client, rpc, "job_stats", {"as_admin": True, "since": T0_MS}, READONLY_ADMIN_TOKEN)
    assert everyone["user"] is None and everyone["total"] == 4 and everyone["since"] == T0_MS


def test_job_stats_of_another_user_needs_an_admin(client: TestClient, rpc: Rpc) -> None:
    assert error_code(client, rpc, "job_stats", [{"user": "bob"}]) == PermissionDenied.code
    assert error_code(client, rpc, "job_stats", [{"as_admin": True}]) == PermissionDenied.code
    assert call(client, rpc, "job_stats", {"user": "bob", "as_admin": True}, ADMIN_TOKEN)["total"] == 0
