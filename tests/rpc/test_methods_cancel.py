"""cancel_job and check_job_canceled: a cancel terminates a job and is never overwritten."""

from __future__ import annotations

from typing import Any

import pytest

from ee_retry.domain.values import ProcState
from ee_retry.testing.clock import FakeClock
from ee_retry.testing.scheduler import FakeScheduler
from tests.rpc.conftest import T0_MS, Api, failed, ok


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
