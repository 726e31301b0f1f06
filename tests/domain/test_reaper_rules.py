"""Every reaper rule as a pure function, with no store and no scheduler: what each selects, and the
transition it writes."""

from __future__ import annotations

import pytest

from ee_retry.domain import reaper_rules as rules
from ee_retry.domain.ids import new_id
from ee_retry.domain.model import ErrorCode, JobStatus, TerminatedCode
from ee_retry.domain.values import ProcState
from tests.builders import T0, make_job, make_proc

CUTOFF = T0 + 100


@pytest.mark.parametrize(
    ("seconds", "shown"), [(-5, "0s"), (45, "45s"), (720, "12m"), (11_100, "3h 5m"), (1_216_800, "14d 2h")]
)
def test_durations_read_shortly(seconds: float, shown: str) -> None:
    assert rules.duration(seconds) == shown


def test_stale_created_jobs_are_old_uncarried_and_owned_by_no_unfinished_operation() -> None:
    stale = make_job(created=T0)
    young = make_job(created=CUTOFF + 1)
    carried = make_job(created=T0, scheduler_id="3.0")
    removed_proc = make_job(created=T0, scheduler_id="4.0")
    in_op = make_job(created=T0, operation_id="op-open")
    done_op = make_job(created=T0, operation_id="op-done")
    container = make_job(created=T0, batch_job=True, job_input=None)
    queued = make_job(created=T0, status=JobStatus.QUEUED)
    procs = [make_proc(carried, ProcState.HELD), make_proc(removed_proc, ProcState.REMOVED)]
    jobs = [stale, young, carried, removed_proc, in_op, done_op, container, queued]

    found = rules.stale_created(jobs, procs, {"op-open"}, CUTOFF)

    assert found == [stale, removed_proc, done_op]


def test_stale_queued_jobs_count_from_when_they_were_queued() -> None:
    old = make_job(status=JobStatus.QUEUED, queued=T0)
    requeued = make_job(status=JobStatus.QUEUED, created=T0, queued=CUTOFF + 1)
    never_stamped = make_job(status=JobStatus.QUEUED, created=T0)
    running = make_job(status=JobStatus.RUNNING, queued=T0)
    assert rules.stale_queued([old, requeued, never_stamped, running], CUTOFF) == [old, never_stamped]


def test_lost_running_jobs_are_ours_and_unknown_to_the_scheduler() -> None:
    lost = make_job(status=JobStatus.RUNNING, operation_id="op")
    known = make_job(status=JobStatus.RUNNING, operation_id="op")
    from_ee2 = make_job(status=JobStatus.RUNNING)
    queued = make_job(status=JobStatus.QUEUED, operation_id="op")
    procs = [make_proc(known, ProcState.COMPLETED, in_queue=False)]
    assert rules.lost_running([lost, known, from_ee2, queued], procs) == [lost]


def test_orphans_are_queued_procs_whose_job_has_no_record() -> None:
    job = make_job()
    orphan = make_proc(make_job(), ProcState.IDLE, scheduler_id="7.0")
    history = make_proc(make_job(), ProcState.IDLE, scheduler_id="8.0", in_queue=False)
    finished = make_proc(make_job(), ProcState.COMPLETED, scheduler_id="9.0")
    ours = make_proc(job, ProcState.IDLE)
    assert rules.orphans([orphan, history, finished, ours], {job.id}) == [orphan]


def test_strays_are_procs_of_jobs_long_finished_and_duplicates_of_a_recorded_proc() -> None:
    finished = make_job(status=JobStatus.ERROR, finished=T0, scheduler_id="1.0")
    recent = make_job(status=JobStatus.ERROR, finished=CUTOFF + 1, scheduler_id="2.0")
    live = make_job(status=JobStatus.QUEUED, scheduler_id="3.0")
    jobs = {j.id: j for j in (finished, recent, live)}
    leftover = make_proc(finished, ProcState.IDLE)
    duplicate = make_proc(live, ProcState.HELD, scheduler_id="3.1")
    procs = [leftover, make_proc(recent, ProcState.IDLE), make_proc(live, ProcState.RUNNING), duplicate]

    found = rules.strays(procs, jobs, CUTOFF)

    assert found == [
        (leftover, f"proc of job {finished.id}, which is already error"),
        (duplicate, f"duplicate proc of job {live.id}, whose proc is 3.0"),
    ]


def test_the_reaper_cancels_only_from_the_status_it_saw() -> None:
    job = make_job(status=JobStatus.QUEUED)
    move = rules.cancel_by_reaper(job, "queued for 14 days", T0)
    assert (move.expected, move.new) == (frozenset({JobStatus.QUEUED}), JobStatus.TERMINATED)
    assert move.fields == {
        "finished": T0,
        "updated": T0,
        "terminated_code": TerminatedCode.TERMINATED_BY_AUTOMATION.value,
        "errormsg": "queued for 14 days",
    }


def test_a_job_the_scheduler_lost_becomes_an_error_only_while_still_running() -> None:
    move = rules.lost_by_scheduler(make_job(status=JobStatus.RUNNING), T0)
    assert (move.expected, move.new) == (frozenset({JobStatus.RUNNING}), JobStatus.ERROR)
    assert move.fields["error_code"] == ErrorCode.JOB_CRASHED
    assert "The scheduler no longer knows this job" in move.fields["errormsg"]


def test_scheduler_ids_to_remove_are_the_recorded_and_the_reported_ones_once_each() -> None:
    a = make_job(scheduler_id="1.0")
    b = make_job()
    procs = [
        make_proc(a, ProcState.IDLE),
        make_proc(a, ProcState.HELD, scheduler_id="1.1"),
        make_proc(b, ProcState.IDLE, scheduler_id="2.0", in_queue=False),
        make_proc(make_job(id=new_id()), ProcState.IDLE, scheduler_id="5.0"),
    ]
    assert rules.scheduler_ids([a, b], procs) == ["1.0", "1.1"]
