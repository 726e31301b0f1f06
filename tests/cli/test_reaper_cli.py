"""`ee-retry-reaper` as cron runs it: the installed console entry, in its own process, embedded store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ee_retry import constants
from ee_retry.adapters.store.sqlite import SqliteJobStore
from ee_retry.domain.ids import new_id
from ee_retry.domain.model import Job, JobInput, JobStatus
from ee_retry.service.repair.reaper import LEASE_NAME, LOCAL_NOTE

pytestmark = pytest.mark.slow

ENTRY = Path(sys.executable).parent / "ee-retry-reaper"
DAY_S = 86_400
DEMO_COMMIT = "52ea58866b80a931944b028dd66b9b3a906be270"
CLI_TIMEOUT_S = 60


def reaper(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EE_RETRY_")}
    clean |= {"EE_RETRY_DATA_DIR": str(data_dir), **env}
    return subprocess.run(
        [str(ENTRY), *args], env=clean, capture_output=True, text=True, timeout=CLI_TIMEOUT_S, check=False
    )


def old_job(status: JobStatus, age_s: float) -> Job:
    created = time.time() - age_s
    job_input = JobInput(method="Demo.fail", service_ver=DEMO_COMMIT, wsid=1)
    return Job(new_id(created), "alice", status, job_input, created, created, wsid=1, queued=created)


async def open_store(data_dir: Path) -> SqliteJobStore:
    data_dir.mkdir(parents=True, exist_ok=True)
    store = SqliteJobStore(data_dir / "ee_retry.sqlite3")
    await store.setup()
    return store


async def seed(data_dir: Path) -> dict[str, Job]:
    """A job queued 15 days ago, one queued 13 days ago, and a 'created' job two hours old."""
    jobs = {
        "stale": old_job(JobStatus.QUEUED, 15 * DAY_S),
        "fresh": old_job(JobStatus.QUEUED, 13 * DAY_S),
        "created": old_job(JobStatus.CREATED, 2 * 3_600),
    }
    store = await open_store(data_dir)
    try:
        await store.insert_jobs(list(jobs.values()))
    finally:
        await store.close()
    return jobs


async def statuses(data_dir: Path, jobs: dict[str, Job]) -> dict[str, JobStatus]:
    store = await open_store(data_dir)
    try:
        found = await store.get_jobs([j.id for j in jobs.values()])
    finally:
        await store.close()
    return {name: found[j.id].status for name, j in jobs.items()}


def report(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


async def test_a_dry_run_in_json_plans_the_queued_cancel_and_changes_nothing(tmp_path: Path) -> None:
    jobs = await seed(tmp_path)
    done = reaper(tmp_path, "--dry-run", "--json")
    assert done.returncode == 0, done.stderr
    answer = report(done)
    assert answer["dry_run"] is True
    assert [(a["action"], a["target"]) for a in answer["actions"]] == [
        ("would-cancel-queued", jobs["stale"].id)
    ]
    assert answer["notes"] == [LOCAL_NOTE]
    assert answer["exit_code"] == 0
    assert (await statuses(tmp_path, jobs))["stale"] is JobStatus.QUEUED


async def test_a_run_cancels_what_it_reports_and_a_second_run_finds_nothing(tmp_path: Path) -> None:
    jobs = await seed(tmp_path)
    done = reaper(tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"cancel-queued {jobs['stale'].id} queued 15d 0h ago (limit 14d 0h)")
    assert lines[-1] == "reaper: 1 action (cancel-queued 1)"
    assert await statuses(tmp_path, jobs) == {
        "stale": JobStatus.TERMINATED,
        "fresh": JobStatus.QUEUED,
        "created": JobStatus.CREATED,  # the local executor's jobs are left to the service's recovery
    }
    again = reaper(tmp_path, "--json")
    assert again.returncode == 0, again.stderr
    assert report(again)["actions"] == []


async def test_the_queued_age_limit_is_an_option(tmp_path: Path) -> None:
    jobs = await seed(tmp_path)
    done = reaper(tmp_path, "--json", "--queued-max-age", str(12 * DAY_S))
    assert done.returncode == 0, done.stderr
    targets = {a["target"] for a in report(done)["actions"]}
    assert targets == {jobs["stale"].id, jobs["fresh"].id}


async def test_a_held_lease_exits_3_and_does_nothing(tmp_path: Path) -> None:
    jobs = await seed(tmp_path)
    store = await open_store(tmp_path)
    try:
        assert await store.acquire_lease(LEASE_NAME, "other", constants.REAPER_LEASE_TTL_S, time.time())
    finally:
        await store.close()
    done = reaper(tmp_path, "--json")
    assert done.returncode == 3, done.stderr
    assert report(done)["lease_held_elsewhere"] is True
    assert (await statuses(tmp_path, jobs))["stale"] is JobStatus.QUEUED


async def test_a_batch_left_running_after_its_children_ended_is_set_from_them(tmp_path: Path) -> None:
    """The service died between its children's last reports and its own refresh."""
    batch_id = new_id()
    children = [replace(old_job(JobStatus.COMPLETED, 3_600), batch_id=batch_id) for _ in range(2)]
    batch = replace(
        old_job(JobStatus.RUNNING, 3_600),
        id=batch_id,
        job_input=None,
        batch_job=True,
        child_jobs=tuple(c.id for c in children),
    )
    store = await open_store(tmp_path)
    try:
        await store.insert_jobs([batch, *children])
    finally:
        await store.close()

    done = reaper(tmp_path, "--json")

    assert done.returncode == 0, done.stderr
    assert [(a["action"], a["target"]) for a in report(done)["actions"]] == [("refresh-batch", batch_id)]
    assert (await statuses(tmp_path, {"batch": batch}))["batch"] is JobStatus.COMPLETED


def test_bad_options_and_configuration_exit_2(tmp_path: Path) -> None:
    assert reaper(tmp_path, "--queued-max-age", "soon").returncode == 2
    bad_env = reaper(tmp_path, EE_RETRY_SCHEDULER="cron")
    assert bad_env.returncode == 2
    assert "configuration error" in bad_env.stderr


def test_help_explains_the_local_executor_and_the_exit_codes(tmp_path: Path) -> None:
    done = reaper(tmp_path, "--help")
    assert done.returncode == 0
    assert "local executor" in done.stdout
    assert "3 another reaper holds the lease" in done.stdout
