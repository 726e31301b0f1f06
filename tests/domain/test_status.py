"""Every status transition a scheduler report, a cancel or a failure implies, with no store: which
statuses it expects, which it moves to, and what it records."""

from __future__ import annotations

from typing import Any

import pytest

from ee_retry.domain import status as rules
from ee_retry.domain.model import ACTIVE_STATUSES, ErrorCode, JobStatus, TerminatedCode
from ee_retry.domain.values import ProcState
from tests.builders import T0, make_job, make_proc

NOW = T0 + 60
BEFORE_QUEUED = frozenset({JobStatus.CREATED, JobStatus.ESTIMATING})
BEFORE_RUNNING = frozenset({JobStatus.CREATED, JobStatus.ESTIMATING, JobStatus.QUEUED})


def test_a_released_proc_waiting_for_a_slot_queues_its_job() -> None:
    job = make_job(scheduler_id="5.0")
    move = rules.from_proc(job, make_proc(job, ProcState.IDLE), NOW)
    assert move is not None
    assert (move.expected, move.new) == (BEFORE_QUEUED, JobStatus.QUEUED)
    assert move.fields == {"queued": NOW, "updated": NOW}


@pytest.mark.parametrize(("queued", "fields"), [(None, {"queued": NOW}), (T0 + 1, {})])
def test_a_running_proc_runs_its_job_from_its_start_and_fills_a_missing_queued_time(
    queued: float | None, fields: dict[str, Any]
) -> None:
    job = make_job(scheduler_id="5.0", status=JobStatus.QUEUED, queued=queued)
    move = rules.from_proc(job, make_proc(job, ProcState.RUNNING, started=T0 + 30), NOW)
    assert move is not None
    assert (move.expected, move.new) == (BEFORE_RUNNING, JobStatus.RUNNING)
    assert move.fields == {"running": T0 + 30, "updated": NOW, **fields}


def test_exit_0_completes_the_job_with_its_last_json_line_as_output() -> None:
    job = make_job(scheduler_id="5.0", status=JobStatus.RUNNING)
    proc = make_proc(
        job, ProcState.COMPLETED, exit_code=0, output_tail='log\n{"result": [1]}', finished=NOW - 1
    )
    move = rules.from_proc(job, proc, NOW)
    assert move is not None
    assert (move.expected, move.new) == (ACTIVE_STATUSES, JobStatus.COMPLETED)
    assert move.fields == {"finished": NOW - 1, "updated": NOW, "job_output": {"result": [1]}}


def test_output_that_is_not_a_json_object_is_kept_as_the_stdout_tail() -> None:
    assert rules.job_output("plain text\n") == {"stdout_tail": "plain text"}


@pytest.mark.parametrize("line", ['{"x": NaN}', '{"x": -Infinity}', '{"x": 1e400}'])
def test_a_last_line_holding_a_number_json_cannot_carry_is_kept_as_the_stdout_tail(line: str) -> None:
    assert rules.job_output(f"log\n{line}\n") == {"stdout_tail": f"log\n{line}"}


@pytest.mark.parametrize(
    ("exit_code", "signal", "message", "facts"),
    [
        (3, None, "Job process exited with code 3: boom", {"exit_code": 3, "signal": None}),
        (None, 9, "Job process killed by signal 9: boom", {"exit_code": None, "signal": 9}),
    ],
    ids=["exit-code", "signal"],
)
def test_a_failed_process_ends_its_job_in_error_saying_how(
    exit_code: int | None, signal: int | None, message: str, facts: dict[str, int | None]
) -> None:
    job = make_job(scheduler_id="5.0", status=JobStatus.RUNNING)
    proc = make_proc(job, ProcState.COMPLETED, exit_code=exit_code, exit_signal=signal, error_tail="boom\n")
    move = rules.from_proc(job, proc, NOW)
    assert move is not None
    assert (move.expected, move.new) == (ACTIVE_STATUSES, JobStatus.ERROR)
    assert move.fields["errormsg"] == message
    assert move.fields["error_code"] == ErrorCode.JOB_CRASHED
    assert move.fields["error"] == {"code": 1, "name": "Job error", "message": message}
    assert move.fields["failure"] == {**facts, "hold_code": None, "hold_subcode": None}


def test_a_hold_by_the_scheduler_is_an_error_naming_its_reason_and_codes() -> None:
    job = make_job(scheduler_id="5.0", status=JobStatus.RUNNING)
    proc = make_proc(job, ProcState.HELD, hold_reason="over memory", hold_code=34, hold_subcode=2)
    move = rules.from_proc(job, proc, NOW)
    assert move is not None
    assert move.new is JobStatus.ERROR
    assert move.fields["errormsg"] == "Job was held by the scheduler: over memory"
    assert move.fields["failure"] == {"exit_code": None, "signal": None, "hold_code": 34, "hold_subcode": 2}


def test_a_removed_proc_terminates_its_job_by_automation() -> None:
    job = make_job(scheduler_id="5.0", status=JobStatus.QUEUED)
    move = rules.from_proc(job, make_proc(job, ProcState.REMOVED), NOW)
    assert move is not None
    assert (move.expected, move.new) == (ACTIVE_STATUSES, JobStatus.TERMINATED)
    assert move.fields["terminated_code"] == TerminatedCode.TERMINATED_BY_AUTOMATION
    assert move.fields["errormsg"] == "Job was removed from the scheduler queue"


@pytest.mark.parametrize(
    ("job_fields", "proc_fields"),
    [
        ({"status": JobStatus.QUEUED}, {"state": ProcState.HELD, "held_by_us": True}),
        ({"status": JobStatus.COMPLETED}, {"state": ProcState.REMOVED}),
        ({"status": JobStatus.TERMINATED}, {"state": ProcState.RUNNING}),
        ({"status": JobStatus.QUEUED, "batch_job": True}, {"state": ProcState.RUNNING}),
        ({"status": JobStatus.QUEUED}, {"state": ProcState.RUNNING, "scheduler_id": "9.0"}),
    ],
    ids=["held-by-us", "completed-job", "terminated-job", "batch-container", "not-its-recorded-proc"],
)
def test_reports_that_move_nothing(job_fields: dict[str, Any], proc_fields: dict[str, Any]) -> None:
    job = make_job(scheduler_id="5.0", **job_fields)
    state = proc_fields.pop("state")
    assert rules.from_proc(job, make_proc(job, state, **proc_fields), NOW) is None


@pytest.mark.parametrize("code", list(TerminatedCode))
def test_a_cancel_terminates_any_active_job_with_its_code_and_reason(code: TerminatedCode) -> None:
    move = rules.cancelled("j", code, NOW, reason="asked to")
    assert (move.expected, move.new) == (ACTIVE_STATUSES, JobStatus.TERMINATED)
    assert move.fields == {
        "finished": NOW,
        "updated": NOW,
        "terminated_code": code.value,
        "errormsg": "asked to",
    }
    assert "errormsg" not in rules.cancelled("j", code, NOW).fields


def test_failed_records_the_message_code_and_unknown_facts() -> None:
    move = rules.failed("j", "lost", ErrorCode.JOB_CRASHED, NOW, finished=T0)
    assert move.fields == {
        "finished": T0,
        "updated": NOW,
        "errormsg": "lost",
        "error_code": 1,
        "error": {"code": 1, "name": "Job error", "message": "lost"},
        "failure": {"exit_code": None, "signal": None, "hold_code": None, "hold_subcode": None},
    }


@pytest.mark.parametrize(
    ("children", "expected"),
    [
        ([JobStatus.RUNNING, JobStatus.COMPLETED], JobStatus.RUNNING),
        ([JobStatus.QUEUED, JobStatus.ERROR], JobStatus.QUEUED),
        ([JobStatus.CREATED, JobStatus.COMPLETED], JobStatus.QUEUED),
        ([JobStatus.COMPLETED, JobStatus.COMPLETED], JobStatus.COMPLETED),
        ([JobStatus.ERROR, JobStatus.TERMINATED], JobStatus.ERROR),
        ([JobStatus.TERMINATED, JobStatus.COMPLETED], JobStatus.TERMINATED),
        ([], None),
    ],
)
def test_a_batch_container_follows_its_children(
    children: list[JobStatus], expected: JobStatus | None
) -> None:
    assert rules.container_status([make_job(status=s) for s in children]) == expected


def test_a_retried_child_counts_by_its_newest_attempt() -> None:
    original = make_job(status=JobStatus.ERROR)
    attempt = make_job(status=JobStatus.COMPLETED, retry_parent=original.id, created=T0 + 5)
    original = make_job(id=original.id, status=JobStatus.ERROR, retry_ids=(attempt.id,))
    assert rules.latest_attempts([original, attempt]) == [attempt]
    assert rules.container_status([original, attempt]) is JobStatus.COMPLETED
