"""get_retry_policy, reset_retry_breaker, and check_job's auto_retry over the wire."""

from __future__ import annotations

from typing import Any

import pytest

from ee_retry.service.deps import Deps
from ee_retry.service.policy.loop import AutoRetrier
from ee_retry.testing.clock import FakeClock
from ee_retry.testing.harness import ADMIN_TOKEN, ALICE_TOKEN, BOB_TOKEN, READONLY_ADMIN_TOKEN
from ee_retry.testing.scheduler import FakeScheduler
from tests.rpc.conftest import Api, failed, ok


def test_without_a_policy_file_automatic_retries_are_off(api: Api) -> None:
    answer = ok(api.call("get_retry_policy", [{}]))
    assert answer == {"enabled": False, "policy": None, "loaded_at": None, "breakers": [], "budgets": []}


def test_get_retry_policy_shows_the_policy_in_force(policy_api: Api, clock: FakeClock) -> None:
    answer: dict[str, Any] = ok(policy_api.call("get_retry_policy", []))
    assert answer["enabled"] is True and answer["file"] == "policy.toml"
    assert answer["loaded_at"] == round(clock.now() * 1000)
    assert [r["name"] for r in answer["policy"]["rules"]][-1] == "flaky downloads"
    assert answer["last_error"] is None and answer["breakers"] == []


async def test_check_job_shows_the_decision(
    policy_api: Api, deps: Deps, sched: FakeScheduler, clock: FakeClock
) -> None:
    job = policy_api.run(method="Demo.fail")
    await sched.complete(job, exit_code=3, error="flaky")
    retrier = AutoRetrier(deps, deps.policy, 1.0, None, lambda a, b: b)
    await retrier.run_once()

    state = policy_api.state(job)
    assert state["failure"] == {"exit_code": 3, "signal": None, "hold_code": None, "hold_subcode": None}
    assert state["auto_retry"] == {
        "state": "scheduled",
        "rule": "flaky downloads",
        "attempts": 0,
        "max_attempts": 5,
        "next_at": round(clock.now() * 1000) + 1000,
        "reason": "attempt 1 of 5 after a 1.0 s backoff",
    }


async def test_an_admin_resets_an_open_breaker(policy_api: Api, deps: Deps, clock: FakeClock) -> None:
    opened: dict[str, Any] = {"state": "open", "opened_at_ms": round(clock.now() * 1000), "since_ms": 0}
    await deps.store.put_states({"breaker:Demo.fail": opened})
    [shown] = ok(policy_api.call("get_retry_policy", [{}], BOB_TOKEN))["breakers"]
    assert shown["app"] == "Demo.fail" and shown["state"] == "open"
    assert shown["reopens_at"] == opened["opened_at_ms"] + 1_800_000

    failed(policy_api.call("reset_retry_breaker", [{"app": "Demo.fail"}], BOB_TOKEN), -32002)
    failed(policy_api.call("reset_retry_breaker", [{"app": "Demo.fail"}], READONLY_ADMIN_TOKEN), -32002)
    failed(policy_api.call("reset_retry_breaker", [{"app": 3}], ADMIN_TOKEN), -32602)
    reset = ok(policy_api.call("reset_retry_breaker", [{"app": "Demo.fail"}], ADMIN_TOKEN))
    assert reset["state"] == "closed" and reset["released"] == 0
    assert ok(policy_api.call("get_retry_policy", [{}]))["breakers"] == []


def test_the_rest_api_shows_the_same_policy(policy_api: Api) -> None:
    rest = policy_api.client.get("/api/v1/policy", headers={"Authorization": ALICE_TOKEN})
    assert rest.status_code == 200
    assert rest.json() == ok(policy_api.call("get_retry_policy", [{}]))


async def test_job_stats_reports_cost_and_automatic_versus_manual_retries(
    policy_api: Api, deps: Deps, sched: FakeScheduler, clock: FakeClock
) -> None:
    retrier = AutoRetrier(deps, deps.policy, 1.0, None, lambda a, b: b)
    auto_job = policy_api.run(method="Demo.fail")
    manual_job = policy_api.run(method="Demo.fail")
    for job in (auto_job, manual_job):
        await sched.start(job)
    clock.advance(1800)  # each ran half an hour on 1 cpu
    await sched.complete(auto_job, exit_code=3)
    await sched.complete(manual_job, exit_code=1)
    await retrier.run_once()
    clock.advance(1)
    await retrier.run_once()  # the automatic attempt starts
    [manual] = ok(policy_api.call("retry_jobs", [{"job_ids": [manual_job]}]))
    automatic = policy_api.state(auto_job)["retry_ids"][0]
    await sched.start(automatic)
    clock.advance(3600)  # the automatic attempt runs an hour, then fails again
    await sched.complete(automatic, exit_code=3)

    cost = ok(policy_api.call("job_stats", [{}]))["cost"]
    assert cost["automatic_retries"] == 1 and cost["manual_retries"] == 1
    assert cost["core_hours"]["error"] == pytest.approx(2.0)  # 0.5 + 0.5 + 1.0
    assert cost["failed_again_core_hours"] == pytest.approx(1.0)
    assert cost["jobs_counted"] == 4 and cost["truncated"] is False
    assert manual["retry_id"] != automatic


async def test_the_lineage_names_the_rule_and_shows_the_raised_memory(
    policy_api: Api, deps: Deps, sched: FakeScheduler, clock: FakeClock
) -> None:
    job = policy_api.run(method="Demo.fail")
    await sched.start(job)
    await sched.hold(job, "memory usage exceeded request_memory", hold_code=34, hold_subcode=102)
    retrier = AutoRetrier(deps, deps.policy, 1.0, None, lambda a, b: b)
    await retrier.run_once()
    clock.advance(60)
    await retrier.run_once()

    lineage = ok(policy_api.call("get_job_lineage", [{"job_id": job}]))
    first, second = lineage["attempts"]
    assert first["job_id"] == job
    requested = second["requested"]
    assert requested["by"] == "policy:out of memory" and requested["method"] == "auto_retry"
    assert requested["job_requirements"] == {"request_memory": 768}
    assert second["user"] == "alice"


async def test_budgets_near_their_limit_are_shown_to_their_user_and_admins(
    policy_api: Api, deps: Deps, clock: FakeClock
) -> None:
    now_ms = round(clock.now() * 1000)
    await deps.store.put_states(
        {
            "budget:user:alice": {"starts": [now_ms - 1000] * 45, "failed_core_hours": []},  # 45 of 50
            "budget:user:bob": {"starts": [now_ms - 1000] * 5, "failed_core_hours": []},  # 5 of 50
        }
    )
    alice_view = ok(policy_api.call("get_retry_policy", [{}]))["budgets"]
    assert alice_view == [{"user": "alice", "budget": "per_user_per_hour", "used": 45, "limit": 50}]
    assert ok(policy_api.call("get_retry_policy", [{}], BOB_TOKEN))["budgets"] == []
    admin_view = ok(policy_api.call("get_retry_policy", [{}], READONLY_ADMIN_TOKEN))["budgets"]
    assert [b["user"] for b in admin_view] == ["alice"]
