"""POST /api/v1/policy/breakers/{app}/reset: an admin closes an app's breaker and the retries it paused
become due; anyone else, and an app name the service refuses, get a problem and change nothing."""

from __future__ import annotations

from typing import Any

from ee_retry.service.deps import Deps
from ee_retry.service.policy.loop import AutoRetrier
from ee_retry.service.policy.state import PolicyState
from ee_retry.testing.harness import ADMIN_TOKEN, BOB_TOKEN, READONLY_ADMIN_TOKEN
from ee_retry.testing.scheduler import FakeScheduler
from tests.api.conftest import Rest, problem
from tests.rpc.conftest import Api
from tests.service.policy.auto_support import middle, open_breakers

APP = "Demo.fail"
RESET = f"/policy/breakers/{APP}/reset"


async def paused_behind_open_breaker(policy_api: Api, deps: Deps, sched: FakeScheduler, n: int) -> list[str]:
    """`n` failed jobs of APP (exit 3: the example's "flaky downloads" rule) whose automatic retries
    a pass paused behind APP's open breaker."""
    await open_breakers(deps, APP)
    jobs = [policy_api.run(method=APP) for _ in range(n)]
    for job in jobs:
        await sched.complete(job, exit_code=3)
    await AutoRetrier(deps, deps.policy, 1.0, None, middle).run_once()
    assert all(policy_api.state(job)["auto_retry"]["state"] == "paused" for job in jobs)
    return jobs


async def held(policy_api: Api, deps: Deps, jobs: list[str]) -> tuple[Any, ...]:
    """What a reset changes: the stored breakers and the jobs' automatic retry decisions."""
    state = await PolicyState.load(deps.store)
    return state.breakers, [policy_api.state(job)["auto_retry"] for job in jobs]


def open_apps(policy_rest: Rest) -> list[str]:
    """The apps whose breaker GET /api/v1/policy shows as not closed."""
    answer = policy_rest.get("/policy", token=ADMIN_TOKEN)
    assert answer.status_code == 200, answer.text
    return [b["app"] for b in answer.json()["breakers"]]


async def test_an_admin_closes_the_breaker_and_releases_the_retries_it_paused(
    policy_api: Api, policy_rest: Rest, deps: Deps, sched: FakeScheduler
) -> None:
    jobs = await paused_behind_open_breaker(policy_api, deps, sched, 2)
    assert open_apps(policy_rest) == [APP]

    answer = policy_rest.post(RESET, token=ADMIN_TOKEN)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    now_ms = round(deps.clock.now() * 1000)
    assert body == {
        "app": APP,
        "state": "closed",
        "opened_at_ms": None,
        "since_ms": now_ms,
        "probe_id": None,
        "probe_at_ms": None,
        "released": 2,
    }
    assert open_apps(policy_rest) == []
    assert all(policy_api.state(job)["auto_retry"]["next_at"] == now_ms for job in jobs)


async def test_only_an_admin_may_reset_and_a_refusal_changes_nothing(
    policy_api: Api, policy_rest: Rest, deps: Deps, sched: FakeScheduler
) -> None:
    jobs = await paused_behind_open_breaker(policy_api, deps, sched, 1)
    before = await held(policy_api, deps, jobs)

    anonymous = problem(policy_rest.post(RESET, token=None), 401)
    assert anonymous["code"] == -32001
    assert "EE2_ADMIN role" in problem(policy_rest.post(RESET, token=BOB_TOKEN), 403)["detail"]
    read_only = problem(policy_rest.post(RESET, token=READONLY_ADMIN_TOKEN), 403)
    assert "Read-only admins" in read_only["detail"] and "EE2_ADMIN role" in read_only["detail"]

    assert await held(policy_api, deps, jobs) == before
    assert open_apps(policy_rest) == [APP]


async def test_an_app_name_the_service_refuses_is_400_and_writes_nothing(
    policy_api: Api, policy_rest: Rest, deps: Deps, sched: FakeScheduler
) -> None:
    jobs = await paused_behind_open_breaker(policy_api, deps, sched, 1)
    before = await held(policy_api, deps, jobs)

    refused = problem(policy_rest.post(f"/policy/breakers/{'D' * 256}/reset", token=ADMIN_TOKEN), 400)
    assert refused["code"] == -32602
    assert "Module.method, 1 to 255 characters" in refused["detail"]

    assert await held(policy_api, deps, jobs) == before
    assert open_apps(policy_rest) == [APP]
