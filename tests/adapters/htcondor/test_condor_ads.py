"""Job ads to SchedulerProc: the status table, exit codes and signals, who held a job, and the
constraints this service queries with."""

from __future__ import annotations

from typing import Any

import classad2
import pytest

from ee_retry.adapters.htcondor import ads
from ee_retry.domain.values import ProcState
from ee_retry.errors import InvalidParams

JOB = "66aa00000000000000000001"
OP = "66aa000000000000000000ff"


def ad(**values: Any) -> dict[str, Any]:
    return {"ClusterId": 12, "ProcId": 3, "ee_job_id": JOB, "ee_op_id": OP} | values


@pytest.mark.parametrize(
    ("job_status", "state"),
    [
        (1, ProcState.IDLE),
        (2, ProcState.RUNNING),
        (3, ProcState.REMOVED),
        (4, ProcState.COMPLETED),
        (5, ProcState.HELD),
        (6, ProcState.RUNNING),
        (7, ProcState.RUNNING),
    ],
)
def test_job_status_maps_to_proc_state(job_status: int, state: ProcState) -> None:
    proc = ads.proc_from_ad(ad(JobStatus=job_status), in_queue=True)
    assert proc is not None
    assert proc.state is state
    assert proc.scheduler_id == "12.3"
    assert proc.job_id == JOB
    assert proc.operation_id == OP


def test_a_completed_proc_reports_its_exit_code() -> None:
    proc = ads.proc_from_ad(
        ad(JobStatus=4, ExitCode=3, ExitBySignal=False, CompletionDate=1_700_000_000), False
    )
    assert proc is not None
    assert (proc.exit_code, proc.exit_signal, proc.finished, proc.in_queue) == (
        3,
        None,
        1_700_000_000.0,
        False,
    )


def test_a_proc_killed_by_a_signal_reports_the_signal_not_an_exit_code() -> None:
    proc = ads.proc_from_ad(ad(JobStatus=4, ExitBySignal=True, ExitSignal=9, ExitCode=None), False)
    assert proc is not None
    assert (proc.exit_code, proc.exit_signal) == (None, 9)


def test_a_proc_submitted_on_hold_is_held_by_us() -> None:
    proc = ads.proc_from_ad(ad(JobStatus=5, HoldReasonCode=15, HoldReason="submitted on hold"), True)
    assert proc is not None
    assert proc.held_by_us
    assert proc.hold_reason is None


@pytest.mark.parametrize("code", [1, 3, 12, 13, 21, None])
def test_a_proc_the_scheduler_held_reports_why(code: int | None) -> None:
    proc = ads.proc_from_ad(
        ad(JobStatus=5, HoldReasonCode=code, HoldReason="The job attribute OnExitHold"), True
    )
    assert proc is not None
    assert not proc.held_by_us
    assert proc.hold_reason == "The job attribute OnExitHold"


def test_a_held_proc_without_a_reason_still_says_it_is_held() -> None:
    proc = ads.proc_from_ad(ad(JobStatus=5, HoldReasonCode=34), True)
    assert proc is not None
    assert proc.hold_reason == "held (HoldReasonCode 34)"


def test_start_and_finish_times_come_from_the_ad() -> None:
    proc = ads.proc_from_ad(ad(JobStatus=3, JobStartDate=100, EnteredCurrentStatus=250), False)
    assert proc is not None
    assert (proc.started, proc.finished) == (100.0, 250.0)


@pytest.mark.parametrize(
    "values",
    [{"ee_job_id": None}, {"ClusterId": None}, {"JobStatus": None}, {"JobStatus": "2"}, {"ProcId": True}],
)
def test_ads_that_are_not_ours_or_are_malformed_are_skipped(values: dict[str, Any]) -> None:
    assert ads.proc_from_ad(ad(JobStatus=2) | values, True) is None


def test_history_wins_over_the_queue_for_the_same_proc() -> None:
    procs = ads.procs_from_ads([ad(JobStatus=2)], [ad(JobStatus=4, ExitCode=0)])
    assert [(p.state, p.in_queue) for p in procs] == [(ProcState.COMPLETED, False)]


def _matches(constraint: str, **values: Any) -> bool:
    target = classad2.ClassAd()
    for key, value in values.items():
        target[key] = value
    return classad2.ExprTree(constraint).eval(target) is True


def test_the_operation_constraint_matches_only_that_operation() -> None:
    constraint = ads.operation_constraint(OP)
    assert _matches(constraint, ee_op_id=OP)
    assert not _matches(constraint, ee_op_id=OP.upper())
    assert not _matches(constraint, ee_job_id=JOB)


def test_the_jobs_constraint_matches_only_those_jobs() -> None:
    other = "66aa00000000000000000002"
    constraint = ads.jobs_constraint([JOB, other])
    assert _matches(constraint, ee_job_id=JOB)
    assert _matches(constraint, ee_job_id=other)
    assert not _matches(constraint, ee_job_id="66aa00000000000000000003")
    assert not _matches(constraint, ClusterId=1)


@pytest.mark.parametrize("bad", ['x" || true || "', "66aa0000000000000000000", "$(x)"])
def test_constraints_refuse_ids_that_are_not_ids(bad: str) -> None:
    with pytest.raises(InvalidParams):
        ads.jobs_constraint([JOB, bad])
    if not bad.startswith("66"):
        with pytest.raises(InvalidParams):
            ads.operation_constraint(bad)


@pytest.mark.parametrize(
    ("values", "facts"),
    [
        (  # over its memory request
            {"HoldReasonCode": 34, "HoldReasonSubCode": 102},
            (None, None, 34, 102),
        ),
        (  # on_exit_hold of a non-zero exit keeps the exit status
            {"HoldReasonCode": 3, "HoldReasonSubCode": 7, "ExitBySignal": False, "ExitCode": 7},
            (7, None, 3, 7),
        ),
        (
            {"HoldReasonCode": 3, "HoldReasonSubCode": 9, "ExitBySignal": True, "ExitSignal": 9},
            (None, 9, 3, 9),
        ),
        ({"HoldReasonCode": 15, "HoldReasonSubCode": 0}, (None, None, None, None)),  # our own hold
    ],
)
def test_a_held_proc_reports_its_failure_facts(values: dict[str, Any], facts: tuple[Any, ...]) -> None:
    proc = ads.proc_from_ad(ad(JobStatus=5, **values), True)
    assert proc is not None
    assert (proc.exit_code, proc.exit_signal, proc.hold_code, proc.hold_subcode) == facts
