"""Each ee2 method through the wire: result shapes as ee2 returns them, and the job lifecycle rules
(one scheduler call per batch, containers follow children, a cancel is never overwritten, the first
of the runner's callback and the scheduler's report wins)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from ee_retry import __version__
from ee_retry.ports import JobQuery, ProcState
from ee_retry.service.deps import Deps
from ee_retry.service.poller import Poller
from ee_retry.testing.clock import FakeClock
from ee_retry.testing.harness import ADMIN_TOKEN, ALICE_TOKEN, BOB_TOKEN, READONLY_ADMIN_TOKEN
from ee_retry.testing.scheduler import FakeScheduler

Rpc = Callable[..., tuple[int, Any]]

RELEASE_COMMIT = "52ea58866b80a931944b028dd66b9b3a906be270"  # Demo's "release" in the demo catalog
BETA_COMMIT = "b2051874499e4ce56f1ade1c35cdd488b35b21b5"  # Demo's "beta" and "dev"
T0_S = 1_700_000_000.0  # the clock fixture's start
T0_MS = 1_700_000_000_000


def ok(answer: tuple[int, Any]) -> Any:
    """The result of a call that must succeed."""
    status, body = answer
    assert status == 200, body
    assert body["version"] == "1.1"
    return body["result"][0]


def failed(answer: tuple[int, Any], code: int) -> str:
    """The message of a call that must fail with `code`."""
    status, body = answer
    assert status == 500, body
    assert body["error"]["code"] == code, body["error"]
    message: str = body["error"]["message"]
    return message


class Api:
    """Short calls for the tests below."""

    def __init__(self, client: TestClient, rpc: Rpc) -> None:
        self.client = client
        self.rpc = rpc

    def call(self, method: str, params: Any, token: str | None = ALICE_TOKEN) -> tuple[int, Any]:
        answer: tuple[int, Any] = self.rpc(self.client, method, params, token)
        return answer

    def run(self, token: str = ALICE_TOKEN, **fields: Any) -> str:
        job: str = ok(self.call("run_job", [{"method": "Demo.succeed", "wsid": 1, **fields}], token))
        return job

    def state(self, job_id: str, token: str = ALICE_TOKEN) -> dict[str, Any]:
        found: dict[str, Any] = ok(self.call("check_job", [{"job_id": job_id}], token))
        return found

    def batch(self, n: int = 2) -> dict[str, Any]:
        jobs = [{"method": "Demo.succeed", "params": [{"i": i}]} for i in range(n)]
        answer: dict[str, Any] = ok(self.call("run_job_batch", [jobs, {"wsid": 1}]))
        return answer


@pytest.fixture
def api(client: TestClient, rpc: Rpc) -> Api:
    return Api(client, rpc)


# ---------------------------------------------------------------- ver, status, admin


def test_ver_returns_the_version_string(api: Api) -> None:
    assert ok(api.call("ver", [], None)) == __version__


def test_status_needs_no_token_and_has_ee2s_fields(api: Api) -> None:
    """ee2's Status: git_commit, version, service and server_time (float epoch seconds)."""
    status = ok(api.call("status", [], None))

    assert {"git_commit", "version", "service", "server_time"} <= set(status)
    assert status["version"] == __version__
    assert isinstance(status["server_time"], float)
    assert 1e9 < status["server_time"] < 1e11  # seconds, not milliseconds


@pytest.mark.parametrize(
    ("token", "is_admin", "permission"),
    [(ALICE_TOKEN, False, "n"), (ADMIN_TOKEN, True, "w"), (READONLY_ADMIN_TOKEN, True, "r")],
    ids=["user", "admin", "read-only-admin"],
)
def test_is_admin_and_get_admin_permission_report_the_callers_admin_role(
    api: Api, token: str, is_admin: bool, permission: str
) -> None:
    """As in ee2, is_admin is true for any admin role, read-only included."""
    assert ok(api.call("is_admin", [], token)) is is_admin
    assert ok(api.call("get_admin_permission", [], token)) == {"permission": permission}


# ---------------------------------------------------------------- run_job and check_job


def test_run_job_returns_an_id_whose_state_is_an_ee2_job_state(api: Api, sched: FakeScheduler) -> None:
    job_id = api.run(params=[{"x": 1}], app_id="Demo/succeed", source_ws_objects=["1/2/3"])

    state = api.state(job_id)

    assert re.fullmatch(r"[0-9a-f]{24}", job_id)
    assert state["job_id"] == job_id
    assert state["user"] == "alice"
    assert state["wsid"] == 1
    assert state["status"] == "queued"
    assert state["created"] == T0_MS
    assert state["queued"] == T0_MS
    assert state["updated"] == T0_MS
    assert state["running"] is None and state["finished"] is None
    assert state["retry_count"] == 0 and state["retry_ids"] == []
    assert state["batch_job"] is False and state["batch_id"] is None
    assert state["scheduler_id"] == sched.proc(job_id).scheduler_id  # type: ignore[union-attr]
    ji = state["job_input"]
    assert ji["method"] == "Demo.succeed"
    assert ji["params"] == [{"x": 1}]
    assert ji["app_id"] == "Demo/succeed"
    assert ji["source_ws_objects"] == ["1/2/3"]
    assert ji["wsid"] == 1
    for private in ("_id", "retry_active", "operation_id"):
        assert private not in state


async def test_job_timestamps_are_integer_milliseconds(
    api: Api, sched: FakeScheduler, clock: FakeClock
) -> None:
    job_id = api.run()
    clock.advance(2.5)
    await sched.start(job_id)
    clock.advance(10.25)
    await sched.complete(job_id, exit_code=0, output="done")

    state = api.state(job_id)

    assert state["status"] == "completed"
    assert state["running"] == T0_MS + 2_500
    assert state["finished"] == T0_MS + 12_750
    for key in ("created", "updated", "queued", "running", "finished"):
        assert isinstance(state[key], int), key


@pytest.mark.parametrize(
    ("service_ver", "commit"),
    [
        pytest.param(None, RELEASE_COMMIT, id="absent-is-release"),
        pytest.param("release", RELEASE_COMMIT, id="release-tag"),
        pytest.param("beta", BETA_COMMIT, id="beta-tag"),
        pytest.param(BETA_COMMIT, BETA_COMMIT, id="commit"),
    ],
)
def test_service_ver_is_stored_as_the_resolved_commit(
    api: Api, sched: FakeScheduler, service_ver: str | None, commit: str
) -> None:
    fields = {} if service_ver is None else {"service_ver": service_ver}
    job_id = api.run(**fields)

    assert api.state(job_id)["job_input"]["service_ver"] == commit
    assert ok(api.call("get_job_params", [{"job_id": job_id}]))["service_ver"] == commit
    assert sched.spec(job_id).service_ver == commit  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("method", "service_ver", "code", "phrase"),
    [
        pytest.param("Nope.run", None, -32007, "does not know module 'Nope'", id="unknown-module"),
        pytest.param("Demo.succeed", "gamma", -32007, "'gamma'", id="unknown-tag"),
        pytest.param("Demo.succeed", "f" * 40, -32007, "f" * 40, id="unknown-commit"),
        pytest.param("Demo", None, -32602, "'Module.method'", id="no-dot"),
        pytest.param("Demo.succeed.now", None, -32602, "'Module.method'", id="two-dots"),
        pytest.param("Demo.suc ceed", None, -32602, "'Module.method'", id="space"),
        pytest.param("", None, -32602, "'method' is required", id="empty"),
    ],
)
async def test_run_job_with_an_unknown_module_or_version_or_bad_method_stores_nothing(
    api: Api, deps: Deps, sched: FakeScheduler, method: str, service_ver: str | None, code: int, phrase: str
) -> None:
    params: dict[str, Any] = {"method": method, "wsid": 1}
    if service_ver is not None:
        params["service_ver"] = service_ver

    message = failed(api.call("run_job", [params]), code)

    assert phrase in message
    assert await deps.store.find_jobs(JobQuery()) == []
    assert await deps.store.find_operations() == []
    assert sched.submit_calls == 0


def test_check_jobs_returns_states_in_the_order_asked(api: Api) -> None:
    first, second = api.run(), api.run()

    result = ok(api.call("check_jobs", [{"job_ids": [second, first]}]))

    assert [s["job_id"] for s in result["job_states"]] == [second, first]


def test_exclude_fields_drops_fields_but_keeps_the_job_id(api: Api) -> None:
    job_id = api.run()

    state = ok(api.call("check_job", [{"job_id": job_id, "exclude_fields": ["job_input", "job_id", "user"]}]))

    assert state["job_id"] == job_id
    assert "job_input" not in state and "user" not in state
    assert state["status"] == "queued"


# ---------------------------------------------------------------- batches


def test_run_job_batch_links_container_and_children(api: Api) -> None:
    answer = api.batch(3)
    batch_id, children = answer["batch_id"], answer["child_job_ids"]

    container = api.state(batch_id)
    result = ok(api.call("check_job_batch", [{"job_id": batch_id}]))

    assert set(answer) == {"batch_id", "child_job_ids"}
    assert len(children) == 3
    assert container["batch_job"] is True
    assert container["child_jobs"] == children
    assert container["wsid"] == 1
    assert result["batch_jobstate"]["job_id"] == batch_id
    assert [c["job_id"] for c in result["child_jobstates"]] == children
    for i, child in enumerate(result["child_jobstates"]):
        assert child["batch_id"] == batch_id
        assert child["batch_job"] is False
        assert child["wsid"] == 1
        assert child["job_input"]["params"] == [{"i": i}]


def test_run_job_batch_hands_all_children_to_the_scheduler_in_one_call(
    api: Api, sched: FakeScheduler
) -> None:
    answer = api.batch(5)

    assert sched.submit_calls == 1
    assert sched.submitted_batches == [answer["child_job_ids"]]


def test_check_job_batch_of_a_plain_job_says_it_is_not_a_batch(api: Api) -> None:
    job_id = api.run()

    assert "not a batch job" in failed(api.call("check_job_batch", [{"job_id": job_id}]), -32602)


@pytest.mark.parametrize(
    ("exit_codes", "final"),
    [((0, 0), "completed"), ((0, 1), "error"), ((1, 1), "error")],
    ids=["all-succeed", "one-fails", "all-fail"],
)
async def test_a_containers_status_follows_its_children(
    api: Api, sched: FakeScheduler, exit_codes: tuple[int, int], final: str
) -> None:
    answer = api.batch(2)
    batch_id, children = answer["batch_id"], answer["child_job_ids"]
    assert api.state(batch_id)["status"] == "queued"

    await sched.start(children[0])
    assert api.state(batch_id)["status"] == "running"

    await sched.complete(children[0], exit_code=exit_codes[0])
    await sched.start(children[1])
    assert api.state(batch_id)["status"] == "running"

    await sched.complete(children[1], exit_code=exit_codes[1])
    container = api.state(batch_id)
    assert container["status"] == final
    assert isinstance(container["finished"], int)


async def test_cancelling_a_container_cancels_its_active_children(api: Api, sched: FakeScheduler) -> None:
    answer = api.batch(3)
    batch_id, children = answer["batch_id"], answer["child_job_ids"]
    await sched.start(children[0])
    await sched.complete(children[1], exit_code=0)

    ok(api.call("cancel_job", [{"job_id": batch_id}]))

    states = {c: api.state(c)["status"] for c in children}
    assert states == {children[0]: "terminated", children[1]: "completed", children[2]: "terminated"}
    assert api.state(batch_id)["status"] == "terminated"
    assert sched.proc(children[0]).state is ProcState.REMOVED  # type: ignore[union-attr]
    assert sched.proc(children[2]).state is ProcState.REMOVED  # type: ignore[union-attr]


# ---------------------------------------------------------------- cancel


async def test_cancel_job_terminates_the_job_and_removes_it_from_the_scheduler(
    api: Api, sched: FakeScheduler, clock: FakeClock
) -> None:
    job_id = api.run()
    await sched.start(job_id)
    clock.advance(3)

    status, body = api.call("cancel_job", [{"job_id": job_id}])

    assert status == 200 and body["result"] == [None]
    state = api.state(job_id)
    assert state["status"] == "terminated"
    assert state["terminated_code"] == 0
    assert state["finished"] == T0_MS + 3_000
    assert sched.proc(job_id).state is ProcState.REMOVED  # type: ignore[union-attr]


@pytest.mark.parametrize("late", ["start", "complete", "fail"])
async def test_a_cancel_is_never_overwritten_by_a_late_scheduler_report(
    api: Api, sched: FakeScheduler, late: str
) -> None:
    job_id = api.run()
    ok(api.call("cancel_job", [{"job_id": job_id}]))

    if late == "start":
        await sched.start(job_id)
    else:
        await sched.complete(job_id, exit_code=0 if late == "complete" else 1)

    state = api.state(job_id)
    assert state["status"] == "terminated"
    assert state["terminated_code"] == 0


async def test_a_cancel_is_never_overwritten_by_a_late_runner_callback(api: Api) -> None:
    job_id = api.run()
    ok(api.call("cancel_job", [{"job_id": job_id}]))

    failed(api.call("finish_job", [{"job_id": job_id, "job_output": {"late": True}}]), -32004)

    assert api.state(job_id)["status"] == "terminated"


async def test_cancelling_a_finished_job_leaves_it_as_it_was(api: Api, sched: FakeScheduler) -> None:
    job_id = api.run()
    await sched.complete(job_id, exit_code=0)

    api.call("cancel_job", [{"job_id": job_id}])

    assert api.state(job_id)["status"] == "completed"


async def test_check_job_canceled_reports_finished_and_canceled(api: Api, sched: FakeScheduler) -> None:
    running, cancelled, done = api.run(), api.run(), api.run()
    await sched.start(running)
    ok(api.call("cancel_job", [{"job_id": cancelled}]))
    await sched.complete(done, exit_code=0)

    def canceled(job_id: str) -> Any:
        return ok(api.call("check_job_canceled", [{"job_id": job_id}]))

    assert canceled(running) == {"job_id": running, "finished": False, "canceled": False}
    assert canceled(cancelled) == {"job_id": cancelled, "finished": True, "canceled": True}
    assert canceled(done) == {"job_id": done, "finished": True, "canceled": False}


# ---------------------------------------------------------------- runner callbacks


def test_start_and_finish_job_move_a_job_to_running_then_completed(api: Api, clock: FakeClock) -> None:
    job_id = api.run()
    clock.advance(1)

    status, body = api.call("start_job", [{"job_id": job_id}])
    assert status == 200 and body["result"] == [None]
    assert api.state(job_id)["status"] == "running"
    assert api.state(job_id)["running"] == T0_MS + 1_000

    clock.advance(1)
    ok(api.call("finish_job", [{"job_id": job_id, "job_output": {"result": [42]}}]))

    state = api.state(job_id)
    assert state["status"] == "completed"
    assert state["job_output"] == {"result": [42]}
    assert state["finished"] == T0_MS + 2_000


def test_finish_job_with_an_error_message_records_the_error(api: Api) -> None:
    job_id = api.run()
    ok(api.call("start_job", [{"job_id": job_id}]))

    ok(api.call("finish_job", [{"job_id": job_id, "error_message": "boom", "error_code": 1}]))

    state = api.state(job_id)
    assert state["status"] == "error"
    assert state["errormsg"] == "boom"
    assert state["error_code"] == 1


async def test_a_runner_callback_first_then_a_scheduler_report_keeps_the_callbacks_outcome(
    api: Api, sched: FakeScheduler
) -> None:
    job_id = api.run()
    ok(api.call("start_job", [{"job_id": job_id}]))
    ok(api.call("finish_job", [{"job_id": job_id, "job_output": {"ok": 1}}]))

    await sched.complete(job_id, exit_code=1, error="lost the race")

    state = api.state(job_id)
    assert state["status"] == "completed"
    assert state["errormsg"] is None
    assert state["job_output"] == {"ok": 1}


async def test_a_scheduler_report_first_then_a_runner_callback_keeps_the_reports_outcome(
    api: Api, sched: FakeScheduler
) -> None:
    job_id = api.run()
    await sched.start(job_id)
    await sched.complete(job_id, exit_code=1, error="segfault")

    message = failed(api.call("finish_job", [{"job_id": job_id, "job_output": {"ok": 1}}]), -32004)

    assert "error" in message
    state = api.state(job_id)
    assert state["status"] == "error"
    assert "segfault" in state["errormsg"]
    assert state["job_output"] is None


@pytest.mark.parametrize("callback_first", [True, False], ids=["callback-first", "poller-first"])
async def test_between_the_runner_callback_and_the_status_poller_the_first_wins(
    api: Api, deps: Deps, sched: FakeScheduler, callback_first: bool
) -> None:
    job_id = api.run()
    sched.set_listener(None)  # the scheduler's report reaches the service only through the poller
    await sched.complete(job_id, exit_code=1, error="crashed")
    poller = Poller(deps, interval_s=1.0)

    if callback_first:
        ok(api.call("finish_job", [{"job_id": job_id, "job_output": {"ok": 1}}]))
        await poller.run_once()
    else:
        await poller.run_once()
        failed(api.call("finish_job", [{"job_id": job_id, "job_output": {"ok": 1}}]), -32004)

    assert api.state(job_id)["status"] == ("completed" if callback_first else "error")


def test_update_job_status_is_an_admin_override_returning_the_job_id(api: Api) -> None:
    job_id = api.run()

    result = ok(
        api.call("update_job_status", [{"job_id": job_id, "status": "running", "as_admin": 1}], ADMIN_TOKEN)
    )

    assert result == job_id
    assert api.state(job_id)["status"] == "running"
    failed(api.call("update_job_status", [{"job_id": job_id, "status": "completed", "as_admin": 1}]), -32002)
    assert api.state(job_id)["status"] == "running"


def test_add_job_logs_counts_lines_and_get_job_logs_pages_through_them(api: Api) -> None:
    job_id = api.run()
    first = [{"line": "one", "is_error": 0}, {"line": "two", "is_error": 1, "ts": T0_MS + 5}]

    assert ok(api.call("add_job_logs", [{"job_id": job_id}, first])) == {"success": True, "line_number": 2}
    added = ok(api.call("add_job_logs", [{"job_id": job_id}, [{"line": "three", "is_error": False}]]))
    assert added == {"success": True, "line_number": 3}

    page = ok(api.call("get_job_logs", [{"job_id": job_id, "limit": 2}]))
    assert [ln["line"] for ln in page["lines"]] == ["one", "two"]
    assert [ln["is_error"] for ln in page["lines"]] == [False, True]
    assert page["lines"][1]["ts"] == T0_MS + 5
    assert page["count"] == 3
    rest = ok(api.call("get_job_logs", [{"job_id": job_id, "skip_lines": page["last_line_number"]}]))
    assert [ln["line"] for ln in rest["lines"]] == ["three"]
    assert rest["last_line_number"] == 3
    offset = ok(api.call("get_job_logs", [{"job_id": job_id, "offset": 1}]))
    assert [ln["line"] for ln in offset["lines"]] == ["two", "three"]


def test_get_job_params_returns_what_the_runner_needs(api: Api) -> None:
    job_id = api.run(params=[{"file": "x"}], app_id="Demo/succeed", service_ver="beta")

    params = ok(api.call("get_job_params", [{"job_id": job_id}]))

    assert params["method"] == "Demo.succeed"
    assert params["params"] == [{"file": "x"}]
    assert params["service_ver"] == BETA_COMMIT
    assert params["app_id"] == "Demo/succeed"
    assert params["wsid"] == 1


# ---------------------------------------------------------------- retry (wire shapes)


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


# ---------------------------------------------------------------- date ranges


@pytest.fixture
def spread(api: Api, clock: FakeClock) -> list[str]:
    """Alice's jobs at T0, T0+10 s and T0+20 s; bob's at T0+5 s (in his own workspace)."""
    ids = [api.run()]
    clock.advance(5)
    api.run(BOB_TOKEN, wsid=2)
    clock.advance(5)
    ids.append(api.run())
    clock.advance(10)
    ids.append(api.run())
    return ids


def date_range(api: Api, method: str, token: str = ALICE_TOKEN, **fields: Any) -> Any:
    params = {"start_time": T0_MS, "end_time": T0_MS + 60_000, **fields}
    return ok(api.call(method, [params], token))


def test_date_range_for_user_lists_only_the_callers_jobs_in_the_window(api: Api, spread: list[str]) -> None:
    result = date_range(api, "check_jobs_date_range_for_user")

    assert [j["job_id"] for j in result["jobs"]] == spread
    assert result["count"] == 3
    assert result["query_count"] == 3
    assert result["sort_order"] == "+"


def test_date_range_pages_with_limit_and_offset(api: Api, spread: list[str]) -> None:
    result = date_range(api, "check_jobs_date_range_for_user", limit=1, offset=1)

    assert [j["job_id"] for j in result["jobs"]] == [spread[1]]
    assert result["count"] == 1
    assert result["query_count"] == 3
    assert result["skip"] == 1
    assert result["limit"] == 1


def test_date_range_descending_and_window_bounds(api: Api, spread: list[str]) -> None:
    newest_first = date_range(api, "check_jobs_date_range_for_user", ascending=False)
    later = date_range(api, "check_jobs_date_range_for_user", start_time=T0_MS + 10_000)
    earlier = date_range(api, "check_jobs_date_range_for_user", end_time=T0_MS + 10_000)

    assert [j["job_id"] for j in newest_first["jobs"]] == spread[::-1]
    assert [j["job_id"] for j in later["jobs"]] == spread[1:]  # start inclusive
    assert [j["job_id"] for j in earlier["jobs"]] == spread[:1]  # end exclusive


def test_date_range_accepts_iso_dates(api: Api, spread: list[str]) -> None:
    result = date_range(
        api,
        "check_jobs_date_range_for_user",
        start_time="2023-11-14T22:13:20Z",
        end_time="2023-11-14T22:14:00Z",
    )

    assert [j["job_id"] for j in result["jobs"]] == spread


@pytest.mark.parametrize(
    ("start", "end"),
    [
        pytest.param(T0_S - 0.5, T0_S + 60.5, id="float-seconds"),
        pytest.param(str(T0_MS), str(T0_MS + 60_000), id="int-string-milliseconds"),
        pytest.param(f"{T0_S - 0.5}", f"{T0_S + 60.5}", id="float-string-seconds"),
    ],
)
def test_date_range_reads_numeric_bounds_as_ee2_does(
    api: Api, spread: list[str], start: Any, end: Any
) -> None:
    """ee2: an int bound (or an int in a string) is epoch milliseconds; a float (or a float in a
    string) is epoch seconds."""
    result = date_range(api, "check_jobs_date_range_for_user", start_time=start, end_time=end)

    assert [j["job_id"] for j in result["jobs"]] == spread


def test_date_range_projection_keeps_only_the_named_fields(api: Api, spread: list[str]) -> None:
    result = date_range(api, "check_jobs_date_range_for_user", projection=["status"])

    assert result["jobs"][0] == {"job_id": spread[0], "status": "queued"}


def test_date_range_with_end_before_start_is_invalid(api: Api) -> None:
    params = {"start_time": T0_MS + 1_000, "end_time": T0_MS}

    assert "end_time must be after start_time" in failed(
        api.call("check_jobs_date_range_for_user", [params]), -32602
    )


@pytest.mark.parametrize("token", [ADMIN_TOKEN, READONLY_ADMIN_TOKEN], ids=["admin", "read-only-admin"])
def test_date_range_for_all_lists_every_users_jobs_for_admins(
    api: Api, spread: list[str], token: str
) -> None:
    result = date_range(api, "check_jobs_date_range_for_all", token, as_admin=1)

    assert result["query_count"] == 4
    assert {j["user"] for j in result["jobs"]} == {"alice", "bob"}


def test_date_range_of_others_is_refused_to_non_admins(api: Api, spread: list[str]) -> None:
    params = {"start_time": T0_MS, "end_time": T0_MS + 60_000}

    failed(api.call("check_jobs_date_range_for_all", [params]), -32002)
    failed(api.call("check_jobs_date_range_for_user", [{**params, "user": "bob"}]), -32002)
