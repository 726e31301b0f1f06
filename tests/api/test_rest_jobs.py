"""GET /api/v1/jobs, /jobs/{id} and /jobs/{id}/logs: visibility, filters, paging and problems."""

from __future__ import annotations

import base64
import json

from ee_retry.testing.clock import FakeClock
from ee_retry.testing.harness import ADMIN_TOKEN, BOB_TOKEN, READONLY_ADMIN_TOKEN
from ee_retry.testing.scheduler import FakeScheduler
from tests.api.conftest import Rest, problem
from tests.rpc.conftest import Api, ok


def ids(response: object) -> list[str]:
    assert response.status_code == 200, response.text  # type: ignore[attr-defined]
    return [j["job_id"] for j in response.json()["jobs"]]  # type: ignore[attr-defined]


def test_the_list_is_newest_first(api: Api, rest: Rest, clock: FakeClock) -> None:
    first = api.run()
    clock.advance(5)
    second = api.run()
    assert ids(rest.get("/jobs")) == [second, first]


async def test_status_filters_repeat_and_app_matches_a_module_or_a_method(
    api: Api, rest: Rest, sched: FakeScheduler
) -> None:
    failing = api.run(method="Demo.fail")
    done = api.run()
    queued = api.run()
    await sched.complete(failing, exit_code=1)
    await sched.complete(done, exit_code=0)

    assert set(ids(rest.get("/jobs", status=["error", "completed"]))) == {failing, done}
    assert ids(rest.get("/jobs", status="created")) + ids(rest.get("/jobs", status="queued")) == [queued]
    assert ids(rest.get("/jobs", app="Demo.fail")) == [failing]
    assert set(ids(rest.get("/jobs", app="Demo"))) == {failing, done, queued}
    assert ids(rest.get("/jobs", app="Dem")) == []


def test_users_see_their_own_jobs_and_those_in_workspaces_they_may_read(api: Api, rest: Rest) -> None:
    alices = api.run(wsid=1)
    bobs_private = api.run(token=BOB_TOKEN, wsid=2)

    assert ids(rest.get("/jobs")) == [alices]
    assert set(ids(rest.get("/jobs", token=BOB_TOKEN))) == {alices, bobs_private}
    assert set(ids(rest.get("/jobs", token=ADMIN_TOKEN))) == {alices, bobs_private}
    assert ids(rest.get("/jobs", token=READONLY_ADMIN_TOKEN, user="bob")) == [bobs_private]
    assert ids(rest.get("/jobs", token=BOB_TOKEN, wsid=1)) == [alices]


def test_a_user_cannot_list_another_users_jobs_by_name(api: Api, rest: Rest) -> None:
    body = problem(rest.get("/jobs", user="bob"), 403)
    assert body["code"] == -32002


def test_time_bounds_take_iso_dates_and_epoch_milliseconds(api: Api, rest: Rest, clock: FakeClock) -> None:
    old = api.run()
    clock.advance(3600)
    new = api.run()
    boundary_ms = int((clock.now() - 60) * 1000)
    assert ids(rest.get("/jobs", since=str(boundary_ms))) == [new]
    assert ids(rest.get("/jobs", until="2023-11-14T22:14:00Z")) == [old]  # 1_700_000_040 s
    problem(rest.get("/jobs", since="yesterday"), 400)
    problem(rest.get("/jobs", since="1700000000"), 400)  # seconds sent as an integer


def test_pages_follow_the_cursor_and_are_not_shifted_by_new_jobs(
    api: Api, rest: Rest, clock: FakeClock
) -> None:
    made = []
    for _ in range(5):
        made.append(api.run())
        clock.advance(1)
    first = rest.get("/jobs", limit=2).json()
    clock.advance(1)
    api.run()  # arrives between two pages
    second = rest.get("/jobs", limit=2, cursor=first["next_cursor"]).json()
    third = rest.get("/jobs", limit=2, cursor=second["next_cursor"]).json()

    seen = [j["job_id"] for page in (first, second, third) for j in page["jobs"]]
    assert seen == made[::-1]
    assert third["next_cursor"] is None


def test_a_forged_cursor_and_bad_filters_are_problems(rest: Rest) -> None:
    for params in ({"cursor": "not-a-cursor"}, {"status": "exploded"}, {"limit": "0"}, {"wsid": "x"}):
        body = problem(rest.get("/jobs", **params), 400)
        assert body["code"] == -32602, params


def test_a_cursor_that_decodes_but_holds_wrong_values_is_refused_like_a_forged_one(rest: Rest) -> None:
    """Only a cursor this service gave out pages: a negative or boolean offset, or a bound that is not
    a time, is answered as a forged cursor is."""
    for doc in ({"o": -1, "b": 1.0}, {"o": True, "b": 1.0}, {"o": 2, "b": "soon"}, {"o": 2}):
        cursor = base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")
        body = problem(rest.get("/jobs", cursor=cursor), 400)
        assert body["detail"] == "'cursor' is not one this service gave out; start again without it", doc


def test_no_token_or_a_bad_one_is_401_and_the_bare_token_form_works(api: Api, rest: Rest) -> None:
    api.run()
    assert problem(rest.get("/jobs", token=None), 401)["code"] == -32001
    assert problem(rest.get("/jobs", token="nope"), 401)["code"] == -32001
    bare = rest.client.get("/api/v1/jobs", headers={"Authorization": "alice-token"})
    assert bare.status_code == 200 and len(bare.json()["jobs"]) == 1


async def test_a_job_shows_its_lineage_batch_counts_log_tail_and_retry_status(
    api: Api, rest: Rest, sched: FakeScheduler
) -> None:
    batch = api.batch(2)
    child = batch["child_job_ids"][0]
    await sched.complete(child, exit_code=1)
    retried = ok(api.call("retry_job", [{"job_id": child}]))["retry_id"]
    lines = [{"line": f"line {i}", "is_error": i == 59} for i in range(60)]
    ok(api.call("add_job_logs", [{"job_id": child}, lines]))

    body = rest.get(f"/jobs/{child}").json()

    assert body["status"] == "error"
    assert [(m["job_id"], m["attempt"]) for m in body["lineage"]] == [(child, 0), (retried, 1)]
    assert body["batch"]["container_id"] == batch["batch_id"]
    assert body["batch"]["counts"]["error"] == 1
    assert sum(body["batch"]["counts"].values()) == 3  # two children and one attempt
    assert [ln["line"] for ln in body["logs"]["lines"]] == [f"line {i}" for i in range(10, 60)]
    assert body["logs"]["count"] == 60 and body["logs"]["lines"][-1]["is_error"] is True
    assert body["retry"]["allowed"] is False
    assert "already has an attempt in flight" in body["retry"]["reason"]


def test_a_malformed_id_is_400_and_an_unknown_or_hidden_job_404(api: Api, rest: Rest) -> None:
    hidden = api.run(token=BOB_TOKEN, wsid=2)
    assert problem(rest.get("/jobs/12345"), 400)["code"] == -32602
    assert problem(rest.get("/jobs/" + "0" * 24), 404)["code"] == -32003
    assert problem(rest.get(f"/jobs/{hidden}"), 404)["code"] == -32003
    assert rest.get(f"/jobs/{hidden}", token=ADMIN_TOKEN).status_code == 200


def test_log_pages_take_offset_and_limit(api: Api, rest: Rest) -> None:
    job_id = api.run()
    ok(api.call("add_job_logs", [{"job_id": job_id}, [{"line": f"l{i}"} for i in range(7)]]))
    page = rest.get(f"/jobs/{job_id}/logs", offset="2", limit="3").json()
    assert [ln["line"] for ln in page["lines"]] == ["l2", "l3", "l4"]
    assert [ln["linepos"] for ln in page["lines"]] == [2, 3, 4]
    assert page["count"] == 7
    problem(rest.get(f"/jobs/{job_id}/logs", limit="-1"), 400)


def test_stats_count_the_callers_jobs(api: Api, rest: Rest) -> None:
    api.run()
    body = rest.get("/stats").json()
    assert body["user"] == "alice" and body["total"] == 1
    assert problem(rest.get("/stats", user="bob"), 403)["code"] == -32002
    assert rest.get("/stats", token=ADMIN_TOKEN, as_admin="true").json()["user"] is None
