"""run_job_batch and check_job_batch: one scheduler call per batch and containers following children."""

from __future__ import annotations

import pytest

from ee_retry.domain.values import ProcState
from ee_retry.testing.scheduler import FakeScheduler
from tests.rpc.conftest import Api, failed, ok


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
