"""run_job, check_job and check_jobs: the stored job state in ee2's shape and what a bad run stores."""

from __future__ import annotations

import re
from typing import Any

import pytest

from ee_retry.domain.values import JobQuery, OperationQuery
from ee_retry.service.deps import Deps
from ee_retry.testing.clock import FakeClock
from ee_retry.testing.scheduler import FakeScheduler
from tests.rpc.conftest import BETA_COMMIT, RELEASE_COMMIT, T0_MS, Api, failed, ok


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
    assert await deps.store.find_operations(OperationQuery()) == []
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
