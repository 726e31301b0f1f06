"""retry_job and retry_jobs answers as ee2 shapes them."""

from __future__ import annotations

from typing import Any

from ee_retry.testing.scheduler import FakeScheduler
from tests.rpc.conftest import BETA_COMMIT, Api, failed, ok


async def test_retry_job_returns_the_original_and_the_new_attempt(api: Api, sched: FakeScheduler) -> None:
    job_id = api.run(service_ver="beta")
    await sched.complete(job_id, exit_code=1)

    result = ok(api.call("retry_job", [{"job_id": job_id}]))

    assert set(result) == {"job_id", "retry_id"}
    assert result["job_id"] == job_id
    original, attempt = api.state(job_id), api.state(result["retry_id"])
    assert original["retry_ids"] == [result["retry_id"]]
    assert original["retry_count"] == 1
    assert attempt["retry_parent"] == job_id
    assert attempt["job_input"]["service_ver"] == BETA_COMMIT


async def test_retry_jobs_answers_each_item_with_a_retry_id_or_an_error(
    api: Api, sched: FakeScheduler
) -> None:
    bad, good = api.run(), api.run()
    await sched.complete(bad, exit_code=1)
    await sched.complete(good, exit_code=0)

    result = ok(api.call("retry_jobs", [{"job_ids": [bad, good]}]))

    assert result[0]["job_id"] == bad and len(result[0]["retry_id"]) == 24 and "error" not in result[0]
    assert result[1]["job_id"] == good and result[1]["error"] and "retry_id" not in result[1]


async def test_empty_job_requirements_from_a_non_admin_are_refused_like_any_others(
    api: Api, sched: FakeScheduler
) -> None:
    job_id = api.run()
    await sched.complete(job_id, exit_code=1)
    message = failed(api.call("retry_job", [{"job_id": job_id, "job_requirements": {}}]), -32002)
    assert "EE2_ADMIN with as_admin" in message
    assert api.state(job_id)["retry_ids"] == []


def _error(answer: tuple[int, Any]) -> dict[str, Any]:
    status, body = answer
    assert status == 500, body
    error: dict[str, Any] = body["error"]
    return error


def test_a_malformed_id_is_an_invalid_job_id_in_retry_job_as_in_get_job_lineage(api: Api) -> None:
    lineage = _error(api.call("get_job_lineage", [{"job_id": "nope"}]))
    retried = _error(api.call("retry_job", [{"job_id": "nope"}]))

    assert lineage["name"] == retried["name"] == "Invalid job id"
    assert retried["error"].startswith("InvalidJobId: ")
    assert retried["message"] == lineage["message"]


def test_a_replayed_retry_job_with_a_malformed_id_is_still_an_invalid_job_id(api: Api) -> None:
    params = [{"job_id": "nope", "idempotency_key": "malformed-once"}]
    first, again = _error(api.call("retry_job", params)), _error(api.call("retry_job", params))

    assert first["name"] == again["name"] == "Invalid job id"
    assert again["message"] == first["message"]


def test_a_malformed_id_among_retry_jobs_items_carries_the_invalid_job_id_message(api: Api) -> None:
    lineage = _error(api.call("get_job_lineage", [{"job_id": "nope"}]))
    [item] = ok(api.call("retry_jobs", [{"job_ids": ["nope"]}]))

    assert item == {"job_id": "nope", "error": lineage["message"]}
