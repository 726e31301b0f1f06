"""The reaper tests' helpers: a job record written straight to the store at a given age
(`insert_job`), a job's proc state, the actions of a report, resetting the call counts, and the check
that a second run changes nothing."""

from __future__ import annotations

from typing import Any

from ee_retry.domain.ids import new_id
from ee_retry.domain.model import Job, JobInput, JobStatus
from ee_retry.domain.values import ProcState
from ee_retry.service.repair.reaper import ReapOptions, reap
from ee_retry.service.repair.reaper_report import EXIT_OK, ReapReport
from tests.service.conftest import Env

DAY_S = 86_400
HOUR_S = 3_600
DEMO_COMMIT = "52ea58866b80a931944b028dd66b9b3a906be270"


async def insert_job(env: Env, status: JobStatus, age_s: float, **fields: Any) -> Job:
    """A job record written straight to the store, `age_s` old, as a crash or an old ee2 left it."""
    created = env.clock.now() - age_s
    job_input = JobInput(method="Demo.fail", service_ver=DEMO_COMMIT, wsid=1)
    job = Job(new_id(created), "alice", status, job_input, created, created, wsid=1, **fields)
    await env.deps.store.insert_jobs([job])
    return job


def state_of(env: Env, job_id: str) -> ProcState | None:
    proc = env.sched.proc(job_id)
    return None if proc is None else proc.state


def actions(report: ReapReport) -> list[tuple[str, str]]:
    return [(a.action, a.target) for a in report.actions]


def reset(env: Env) -> None:
    env.store.reset()
    env.sched_proxy.reset()


async def reap_again_changes_nothing(env: Env, options: ReapOptions | None = None) -> None:
    reset(env)
    report = await reap(env.deps, options or ReapOptions())
    assert report.actions == []
    assert report.exit_code == EXIT_OK
    assert env.writes() == 0, f"second run wrote: {env.store.calls} {env.sched_proxy.calls}"
