"""The reaper sets every unfinished batch container from its children, with either scheduler: a crash
between the children's last reports and the container's refresh leaves the container behind, and
cron's reaper (HTCondor) is what repairs it while the service keeps running."""

from __future__ import annotations

import pytest

from ee_retry.domain.model import JobStatus
from ee_retry.domain.values import Transition
from ee_retry.service.repair.reaper import ReapOptions, reap
from ee_retry.service.submit.requests import RunRequest
from ee_retry.service.submit.run import run_job_batch
from tests.service.conftest import Env

VISIBILITY = pytest.mark.parametrize("visible", [True, False], ids=["htcondor", "local-executor"])


async def batch_left_running(env: Env, *ends: JobStatus) -> tuple[str, list[str]]:
    """A running batch whose children's last reports were written and its own refresh was not."""
    answer = await run_job_batch(
        env.deps, env.alice, [RunRequest("Demo.fail", params=[{"i": i}]) for i in range(len(ends))], 1, False
    )
    batch_id, children = answer["batch_id"], answer["child_job_ids"]
    await env.sched.start(children[0])
    now = env.clock.now()
    active = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})
    ended = [Transition(c, active, end, {"finished": now}) for c, end in zip(children, ends, strict=True)]
    assert await env.deps.store.transition(ended) == set(children)
    assert (await env.job(batch_id)).status is JobStatus.RUNNING
    return batch_id, children


@VISIBILITY
async def test_a_batch_whose_children_all_ended_is_set_from_them(env: Env, visible: bool) -> None:
    batch_id, _ = await batch_left_running(env, JobStatus.COMPLETED, JobStatus.ERROR)

    report = await reap(env.deps, ReapOptions(scheduler_visible=visible))

    assert [(a.action, a.target, a.ok) for a in report.actions] == [("refresh-batch", batch_id, True)]
    assert "set to error" in report.actions[0].detail
    batch = await env.job(batch_id)
    assert batch.status is JobStatus.ERROR
    assert batch.finished == env.clock.now()
    env.store.reset()
    env.sched_proxy.reset()
    assert (await reap(env.deps, ReapOptions(scheduler_visible=visible))).actions == []
    assert env.writes() == 0


@VISIBILITY
async def test_a_dry_run_plans_the_batch_refresh_and_changes_nothing(env: Env, visible: bool) -> None:
    batch_id, _ = await batch_left_running(env, JobStatus.COMPLETED, JobStatus.COMPLETED)
    env.store.reset()
    env.sched_proxy.reset()

    report = await reap(env.deps, ReapOptions(dry_run=True, scheduler_visible=visible))

    assert [(a.action, a.target) for a in report.actions] == [("would-refresh-batch", batch_id)]
    assert "set to completed" in report.actions[0].detail
    assert env.writes() == 0
    assert (await env.job(batch_id)).status is JobStatus.RUNNING


async def test_a_batch_whose_children_are_still_active_is_left_alone(env: Env) -> None:
    answer = await run_job_batch(
        env.deps, env.alice, [RunRequest("Demo.fail"), RunRequest("Demo.fail")], 1, False
    )
    await env.sched.start(answer["child_job_ids"][0])
    await env.sched.complete(answer["child_job_ids"][1])

    assert (await reap(env.deps, ReapOptions())).actions == []
    assert (await env.job(answer["batch_id"])).status is JobStatus.RUNNING
