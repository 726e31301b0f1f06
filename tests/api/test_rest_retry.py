"""POST /api/v1/jobs/{id}/retry, /cancel, /retries and /retries/failed: answers, problems, keys."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ee_retry.domain.ids import new_id
from ee_retry.service.deps import Deps
from ee_retry.testing.harness import ADMIN_TOKEN, BOB_TOKEN, READONLY_ADMIN_TOKEN
from ee_retry.testing.scheduler import FakeScheduler
from tests.api.conftest import Rest, problem
from tests.rpc.conftest import Api


async def failed_job(api: Api, sched: FakeScheduler, **fields: Any) -> str:
    job_id = api.run(**fields)
    await sched.complete(job_id, exit_code=1)
    return job_id


async def test_retry_answers_201_with_the_new_attempt(api: Api, rest: Rest, sched: FakeScheduler) -> None:
    job_id = await failed_job(api, sched)
    answer = rest.post(f"/jobs/{job_id}/retry")
    assert answer.status_code == 201
    body = answer.json()
    assert body["job_id"] == job_id
    assert api.state(body["retry_id"])["retry_parent"] == job_id


async def test_the_same_idempotency_key_replays_the_first_retry(
    api: Api, rest: Rest, sched: FakeScheduler
) -> None:
    job_id = await failed_job(api, sched)
    key = {"Idempotency-Key": "click-1"}
    first = rest.post(f"/jobs/{job_id}/retry", headers=key).json()
    second = rest.post(f"/jobs/{job_id}/retry", headers=key)
    assert second.status_code == 201 and second.json() == first
    assert api.state(job_id)["retry_ids"] == [first["retry_id"]]
    assert problem(rest.post(f"/jobs/{job_id}/retry", headers={"Idempotency-Key": "no spaces"}), 400)


async def test_a_job_that_cannot_be_retried_is_409_saying_why(
    api: Api, rest: Rest, sched: FakeScheduler
) -> None:
    done = api.run()
    await sched.complete(done, exit_code=0)
    assert "can only retry jobs with status" in problem(rest.post(f"/jobs/{done}/retry"), 409)["detail"]

    job_id = await failed_job(api, sched)
    rest.post(f"/jobs/{job_id}/retry")
    in_flight = problem(rest.post(f"/jobs/{job_id}/retry"), 409)
    assert in_flight["code"] == -32006 and "in flight" in in_flight["detail"]

    container = api.batch(1)["batch_id"]
    assert "batch job parents" in problem(rest.post(f"/jobs/{container}/retry"), 409)["detail"]


async def test_retry_problems_for_ids_tokens_and_permissions(
    api: Api, rest: Rest, sched: FakeScheduler
) -> None:
    job_id = await failed_job(api, sched)
    assert problem(rest.post("/jobs/xyz/retry"), 400)["code"] == -32602
    assert problem(rest.post("/jobs/" + "a" * 24 + "/retry"), 404)["code"] == -32003
    assert problem(rest.post(f"/jobs/{job_id}/retry", token=None), 401)["code"] == -32001
    reader = problem(rest.post(f"/jobs/{job_id}/retry", token=BOB_TOKEN), 403)
    assert "may read job" in reader["detail"]
    read_only = problem(rest.post(f"/jobs/{job_id}/retry", token=READONLY_ADMIN_TOKEN), 403)
    assert "Read-only admins" in read_only["detail"]
    assert api.state(job_id)["retry_ids"] == []
    assert rest.post(f"/jobs/{job_id}/retry", token=ADMIN_TOKEN).status_code == 201


def test_cancel_answers_the_cancelled_job(api: Api, rest: Rest) -> None:
    job_id = api.run()
    answer = rest.post(f"/jobs/{job_id}/cancel")
    assert answer.status_code == 200 and answer.json()["status"] == "terminated"
    assert problem(rest.post(f"/jobs/{job_id}/cancel", token=BOB_TOKEN), 403)["code"] == -32002
    assert problem(rest.post("/jobs/" + "b" * 24 + "/cancel"), 404)["code"] == -32003


async def test_retries_answers_per_item_like_retry_jobs(api: Api, rest: Rest, sched: FakeScheduler) -> None:
    bad = await failed_job(api, sched)
    good = api.run()
    answer = rest.post("/retries", {"job_ids": [bad, good]})
    assert answer.status_code == 200
    first, second = answer.json()
    assert first["job_id"] == bad and len(first["retry_id"]) == 24
    assert second["job_id"] == good and "can only retry" in second["error"]
    assert problem(rest.post("/retries", {"job_ids": []}), 400)["code"] == -32602
    assert problem(rest.post("/retries", [1, 2]), 400)["code"] == -32600


async def test_retry_failed_previews_by_default_then_retries_once_per_key(
    api: Api, rest: Rest, sched: FakeScheduler
) -> None:
    one = await failed_job(api, sched, method="Demo.fail")
    two = await failed_job(api, sched, method="Demo.fail")
    await failed_job(api, sched)  # Demo.succeed: not selected by the filter

    preview = rest.post("/retries/failed", {"filters": {"method": "Demo.fail"}}).json()
    assert preview["dry_run"] is True
    assert (preview["would_retry"], preview["refused"], preview["total"]) == (2, 0, 2)
    assert {j["job_id"] for j in preview["jobs"]} == {one, two}
    assert api.state(one)["retry_ids"] == []

    body = {"filters": {"method": "Demo.fail"}, "dry_run": False}
    key = {"Idempotency-Key": "bulk-1"}
    done = rest.post("/retries/failed", body, headers=key).json()
    again = rest.post("/retries/failed", body, headers=key).json()
    assert (done["retried"], done["refused"], done["total"]) == (2, 0, 2)
    assert again == done
    assert len(api.state(one)["retry_ids"]) == 1 and len(api.state(two)["retry_ids"]) == 1


async def test_a_preview_groups_what_the_retry_path_would_refuse(
    api: Api, rest: Rest, sched: FakeScheduler, deps: Deps
) -> None:
    alices = await failed_job(api, sched, wsid=1)
    bobs = await failed_job(api, sched, token=BOB_TOKEN, wsid=2)
    template = (await deps.store.get_jobs([alices]))[alices]
    assert template.job_input is not None
    unpinned = [
        replace(
            template, id=new_id(deps.clock.now()), job_input=replace(template.job_input, service_ver="dev")
        )
        for _ in range(2)
    ]
    await deps.store.insert_jobs(unpinned)

    preview = rest.post("/retries/failed", {"as_admin": True}, token=ADMIN_TOKEN).json()

    assert {j["job_id"] for j in preview["jobs"]} == {alices, bobs, *(j.id for j in unpinned)}
    assert (preview["would_retry"], preview["refused"], preview["total"]) == (2, 2, 4)
    [group] = preview["refusals"]
    assert group["reason"] == "Retry not allowed" and group["count"] == 2
    assert {j["job_id"] for j in group["jobs"]} == {j.id for j in unpinned}
    assert "no pinned commit" in group["jobs"][0]["detail"]


async def test_a_read_only_admin_is_told_they_cannot_retry(
    api: Api, rest: Rest, sched: FakeScheduler
) -> None:
    await failed_job(api, sched)
    refused = rest.post("/retries/failed", {"as_admin": True}, token=READONLY_ADMIN_TOKEN)
    assert "Read-only admins" in problem(refused, 403)["detail"]


async def test_a_rest_body_holding_a_value_no_store_can_hold_is_refused_naming_the_path(
    api: Api, rest: Rest, sched: FakeScheduler
) -> None:
    bad = await failed_job(api, sched)

    answer = rest.post("/retries", {"job_ids": [bad], "job_requirements": {"a.b": 1}})
    filtered = rest.post("/retries/failed", {"filters": {"method": "Demo.fail"}, "x": 2**64})

    assert problem(answer, 400)["detail"].startswith('Invalid params at body["job_requirements"]')
    assert problem(filtered, 400)["detail"].startswith('Invalid params at body["x"]')
    assert api.state(bad).get("retry_ids", []) == []
