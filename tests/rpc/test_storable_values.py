"""Values neither store can hold are refused when the request is read, naming where they are, and
leave nothing behind: no job, no operation, no log line, no submission."""

from __future__ import annotations

from typing import Any

import pytest

from ee_retry.domain.values import JobQuery, OperationQuery
from ee_retry.rpc.methods import METHODS, READ_ONLY_METHODS
from ee_retry.service.deps import Deps
from ee_retry.testing.harness import ADMIN_TOKEN
from ee_retry.testing.scheduler import FakeScheduler
from tests.rpc.conftest import Api, failed, ok

BAD_VALUES = [
    pytest.param({"s": "half a pair \ud800"}, '["s"]', "not valid Unicode", id="lone-surrogate"),
    pytest.param({"a\x00b": 1}, "", "NUL", id="key-with-nul"),
    pytest.param({"$where": 1}, "", "'$'", id="key-starting-with-dollar"),
    pytest.param({"a.b": 1}, "", "'.'", id="key-with-dot"),
    pytest.param({"\udc80": 1}, "", "not valid Unicode", id="key-lone-surrogate"),
    pytest.param({"n": 2**63}, '["n"]', "64-bit", id="int-above-int64"),
    pytest.param({"n": -(2**63) - 1}, '["n"]', "64-bit", id="int-below-int64"),
    pytest.param({"deep": [{"ok": 1}, {"n": 10**30}]}, '["deep"][1]["n"]', "64-bit", id="nested"),
]


async def everything(deps: Deps, sched: FakeScheduler) -> tuple[Any, ...]:
    jobs = [j.to_doc() for j in await deps.store.find_jobs(JobQuery())]
    ops = [o.to_doc() for o in await deps.store.find_operations(OperationQuery())]
    logs = [await deps.store.get_logs(j["_id"], 0, 100) for j in jobs]
    return jobs, ops, logs, sched.submit_calls


def assert_refused_at(answer: tuple[int, Any], path: str, phrase: str) -> None:
    message = failed(answer, -32602)
    assert message.startswith(f"Invalid params at {path}"), message
    assert phrase in message, message


@pytest.mark.parametrize(("value", "inner", "phrase"), BAD_VALUES)
async def test_run_job_params_a_store_cannot_hold_are_refused_naming_the_path(
    api: Api, deps: Deps, sched: FakeScheduler, value: Any, inner: str, phrase: str
) -> None:
    before = await everything(deps, sched)

    answer = api.call("run_job", [{"method": "Demo.succeed", "wsid": 1, "params": [value]}])

    assert_refused_at(answer, f'params[0]["params"][0]{inner}', phrase)
    assert await everything(deps, sched) == before


@pytest.mark.parametrize(("value", "inner", "phrase"), BAD_VALUES)
async def test_run_job_batch_refuses_them_in_any_child_or_in_the_batch_params(
    api: Api, deps: Deps, sched: FakeScheduler, value: Any, inner: str, phrase: str
) -> None:
    before = await everything(deps, sched)
    jobs = [{"method": "Demo.succeed", "params": [{}]}, {"method": "Demo.succeed", "params": [value]}]

    in_child = api.call("run_job_batch", [jobs, {"wsid": 1}])
    in_batch = api.call("run_job_batch", [jobs[:1], {"wsid": 1, "meta": value}])

    assert_refused_at(in_child, f'params[0][1]["params"][0]{inner}', phrase)
    assert_refused_at(in_batch, f'params[1]["meta"]{inner}', phrase)
    assert await everything(deps, sched) == before


@pytest.mark.parametrize(("value", "inner", "phrase"), BAD_VALUES)
async def test_finish_job_output_and_log_lines_are_refused_and_the_job_stays_readable(
    api: Api, deps: Deps, sched: FakeScheduler, value: Any, inner: str, phrase: str
) -> None:
    job_id = api.run()
    ok(api.call("start_job", [{"job_id": job_id}]))
    before = await everything(deps, sched)

    finished = api.call("finish_job", [{"job_id": job_id, "job_output": {"result": [value]}}])
    logged = api.call("add_job_logs", [{"job_id": job_id}, [{"line": "ok"}, {"line": "x", "extra": value}]])
    status = api.call(
        "update_job_status", [{"job_id": job_id, "status": "running", "as_admin": value}], ADMIN_TOKEN
    )

    assert_refused_at(finished, f'params[0]["job_output"]["result"][0]{inner}', phrase)
    assert_refused_at(logged, f'params[1][1]["extra"]{inner}', phrase)
    assert_refused_at(status, f'params[0]["as_admin"]{inner}', phrase)
    assert await everything(deps, sched) == before
    assert api.state(job_id)["status"] == "running"
    ok(api.call("get_job_params", [{"job_id": job_id}]))


def test_a_long_bad_key_is_named_cut_short(api: Api) -> None:
    answer = api.call("run_job", [{"method": "Demo.succeed", "wsid": 1, "params": [{"$" + "k" * 10_000: 1}]}])

    message = failed(answer, -32602)
    assert len(message) < 400


def test_the_methods_exempt_from_the_check_exist_and_only_read() -> None:
    """A new method is checked unless it is named here, and nothing named here writes params."""
    assert set(METHODS) >= READ_ONLY_METHODS
    assert not READ_ONLY_METHODS & {"run_job", "run_job_batch", "retry_job", "retry_jobs", "finish_job"}
    assert not READ_ONLY_METHODS & {"add_job_logs", "update_job_status", "start_job", "retry_failed_jobs"}
