"""The runner's callbacks, job logs, job params and the admin status override; the first report wins."""

from __future__ import annotations

import pytest

from ee_retry.constants import MAX_LOG_LINE_CHARS, MAX_LOG_LINES_PER_CALL, MAX_LOG_PAGE_LINES
from ee_retry.service.deps import Deps
from ee_retry.service.sync.poller import Poller
from ee_retry.testing.clock import FakeClock
from ee_retry.testing.harness import ADMIN_TOKEN
from ee_retry.testing.scheduler import FakeScheduler
from tests.rpc.conftest import BETA_COMMIT, T0_MS, Api, failed, ok


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
    assert state["failure"] == {"exit_code": None, "signal": None, "hold_code": None, "hold_subcode": None}


def test_finish_job_records_the_exit_status_the_runner_reports(api: Api) -> None:
    job_id = api.run()
    ok(api.call("start_job", [{"job_id": job_id}]))
    error = {"code": 1, "name": "Job error", "message": "killed", "exit_code": None, "signal": 9}
    ok(api.call("finish_job", [{"job_id": job_id, "error_message": "killed", "error": error}]))

    assert api.state(job_id)["failure"] == {
        "exit_code": None,
        "signal": 9,
        "hold_code": None,
        "hold_subcode": None,
    }


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


async def test_start_job_after_the_poller_saw_the_proc_start_succeeds_and_keeps_the_start_time(
    api: Api, sched: FakeScheduler, clock: FakeClock
) -> None:
    """The poller often sees a proc running before its runner calls in; the runner must go on."""
    job_id = api.run()
    await sched.start(job_id)
    assert api.state(job_id)["status"] == "running"
    started = api.state(job_id)["running"]
    clock.advance(5)

    ok(api.call("start_job", [{"job_id": job_id}]))

    assert api.state(job_id)["status"] == "running"
    assert api.state(job_id)["running"] == started


def test_start_job_of_a_finished_job_is_still_refused(api: Api) -> None:
    job_id = api.run()
    ok(api.call("cancel_job", [{"job_id": job_id}]))
    message = failed(api.call("start_job", [{"job_id": job_id}]), -32004)
    assert "terminated" in message


@pytest.mark.parametrize(
    ("params", "code", "message"),
    [
        ({"error_message": "boom"}, 1, "boom"),  # ee2: error_code defaults to job_crashed
        ({}, 4, "Missing job output"),  # ee2: neither output nor message is job_missing_output
        ({"job_output": None}, 4, "Missing job output"),
    ],
)
def test_finish_job_without_output_or_code_follows_ee2(
    api: Api, params: dict[str, object], code: int, message: str
) -> None:
    job_id = api.run()
    ok(api.call("start_job", [{"job_id": job_id}]))
    ok(api.call("finish_job", [{"job_id": job_id, **params}]))
    state = api.state(job_id)
    assert state["status"] == "error"
    assert state["error_code"] == code
    assert message in state["errormsg"]


def test_get_job_logs_returns_at_most_one_capped_page_whatever_the_limit_asked(api: Api) -> None:
    job_id = api.run()
    lines = [{"line": f"line {i}", "is_error": 0} for i in range(MAX_LOG_LINES_PER_CALL)]
    ok(api.call("add_job_logs", [{"job_id": job_id}, lines]))
    ok(api.call("add_job_logs", [{"job_id": job_id}, [{"line": "one more"}]]))

    page = ok(api.call("get_job_logs", [{"job_id": job_id, "limit": 10**9}]))

    assert len(page["lines"]) == MAX_LOG_PAGE_LINES
    assert page["last_line_number"] == MAX_LOG_PAGE_LINES
    assert page["count"] == MAX_LOG_LINES_PER_CALL + 1
    rest = ok(api.call("get_job_logs", [{"job_id": job_id, "skip_lines": page["last_line_number"]}]))
    assert rest["lines"][-1]["line"] == "one more"


def test_a_log_line_longer_than_the_line_limit_is_stored_cut_saying_so(api: Api) -> None:
    job_id = api.run()
    long_line = "x" * (MAX_LOG_LINE_CHARS + 500)

    ok(api.call("add_job_logs", [{"job_id": job_id}, [{"line": long_line}, {"line": "short"}]]))

    stored = ok(api.call("get_job_logs", [{"job_id": job_id}]))["lines"]
    assert stored[0]["line"].startswith("x" * MAX_LOG_LINE_CHARS)
    assert stored[0]["line"].endswith(f"(line cut at {MAX_LOG_LINE_CHARS} characters)")
    assert len(stored[0]["line"]) < MAX_LOG_LINE_CHARS + 100
    assert stored[1]["line"] == "short"
