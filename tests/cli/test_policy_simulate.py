"""`ee-retry-policy simulate FILE`: recorded failures replayed through a policy from the configured
store, writing nothing; per rule what it matches, would start, would hold back, and the core-hours."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

import ee_retry.demo
from ee_retry.adapters.store.sqlite import SqliteJobStore
from ee_retry.cli.policy import main
from ee_retry.domain.ids import new_id
from ee_retry.domain.model import Job, JobInput, JobRequirements, JobStatus
from ee_retry.domain.values import JobQuery

EXAMPLE = Path(ee_retry.demo.__file__).with_name("policy.toml")
COMMIT = "52ea58866b80a931944b028dd66b9b3a906be270"


def failed(at: float, exit_code: int, message: str = "", user: str = "alice", cpus: int = 2) -> Job:
    return Job(
        id=new_id(at),
        user=user,
        status=JobStatus.ERROR,
        job_input=JobInput(method="Demo.fail", service_ver=COMMIT, requirements=JobRequirements(cpus=cpus)),
        created=at - 3600,
        updated=at,
        running=at - 1800,
        finished=at,
        errormsg=message or f"Job process exited with code {exit_code}",
        failure={"exit_code": exit_code, "signal": None, "hold_code": None, "hold_subcode": None},
    )


async def seed(data_dir: Path, jobs: list[Job]) -> None:
    store = SqliteJobStore(data_dir / "ee_retry.sqlite3")
    await store.setup()
    await store.insert_jobs(jobs)
    await store.close()


async def read_all(data_dir: Path) -> dict[str, dict[str, Any]]:
    store = SqliteJobStore(data_dir / "ee_retry.sqlite3")
    jobs = await store.find_jobs(JobQuery())
    await store.close()
    return {j.id: j.to_doc() for j in jobs}


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EE_RETRY_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("EE_RETRY_MONGO_URI", raising=False)
    return tmp_path


def test_simulate_reports_per_rule_and_writes_nothing(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    now = time.time()
    jobs = [failed(now - 100 - i, 3) for i in range(60)]  # 60 flaky failures of one user
    jobs += [failed(now - 50, 2, "invalid input: no reads"), failed(now - 40, 7)]
    jobs.append(failed(now - 30 * 86_400, 3))  # outside the window
    asyncio.run(seed(data_dir, jobs))
    before = asyncio.run(read_all(data_dir))

    assert main(["simulate", str(EXAMPLE), "--since", "7d", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)

    assert report["failures"] == 62
    flaky = report["rules"]["flaky downloads"]
    assert flaky["matched"] == 60
    # min_finished = 20 failures in the window open Demo.fail's breaker: the rest are held back
    assert (flaky["would_start"], flaky["held_by_breaker"], flaky["held_by_budget"]) == (20, 40, 0)
    assert flaky["core_hours"] == pytest.approx(20 * 2 * 0.5)  # 2 cpus for the half hour each ran
    assert report["rules"]["bad input never heals"]["stopped"] == 1
    unmatched = report["rules"]["(no rule matches)"]
    assert (unmatched["matched"], unmatched["stopped"], unmatched["would_start"]) == (1, 1, 0)
    assert asyncio.run(read_all(data_dir)) == before


def test_simulate_holds_back_what_a_budget_would(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    now = time.time()
    asyncio.run(seed(data_dir, [failed(now - 100 - i, 3) for i in range(60)]))
    no_breaker = tmp_path / "no_breaker.toml"
    no_breaker.write_text(EXAMPLE.read_text().split("[breaker]")[0])
    assert main(["simulate", str(no_breaker), "--json"]) == 0
    flaky = json.loads(capsys.readouterr().out)["rules"]["flaky downloads"]
    assert (flaky["would_start"], flaky["held_by_budget"]) == (50, 10)  # per_user_per_hour = 50


def test_simulate_prints_a_table(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(seed(data_dir, [failed(time.time() - 10, 3)]))
    assert main(["simulate", str(EXAMPLE), "--since", "1h"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1 failures since")
    assert "flaky downloads" in out and "would start" in out


def test_simulate_without_a_store_or_with_a_bad_policy_fails_clearly(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", str(EXAMPLE)]) == 2
    assert "nothing recorded" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text("[[rules]]\nname = 'x'\n")
    assert main(["simulate", str(bad)]) == 1
    assert "action: required" in capsys.readouterr().err


def test_a_bad_duration_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["simulate", str(EXAMPLE), "--since", "soon"])
    assert "not a duration" in capsys.readouterr().err
