"""The soak's checks on job records, operations, memory and answers: each catches what it names."""

from __future__ import annotations

from collections import Counter
from typing import Any

from ee_retry.domain.model import Job, JobStatus, Operation, OperationKind, OperationState
from ee_retry.soak import invariants as inv
from ee_retry.soak.run import SoakResult, render
from ee_retry.soak.traffic import Tally, outcome

ORIGINAL = "6b0000000000000000000001"
RETRY_1 = "6b0000000000000000000002"
RETRY_2 = "6b0000000000000000000003"


def job(job_id: str, status: JobStatus, **fields: Any) -> Job:
    return Job(id=job_id, user="alice", status=status, job_input=None, created=1.0, updated=1.0, **fields)


def test_two_active_attempts_of_one_original_are_one_violation() -> None:
    jobs = [
        job(ORIGINAL, JobStatus.ERROR, retry_ids=(RETRY_1, RETRY_2)),
        job(RETRY_1, JobStatus.RUNNING, retry_parent=ORIGINAL),
        job(RETRY_2, JobStatus.CREATED, retry_parent=ORIGINAL),
    ]
    assert inv.in_flight_twice(jobs) == [f"original {ORIGINAL} has 2 attempts in flight"]


def test_an_active_original_and_an_active_retry_of_it_are_a_violation() -> None:
    jobs = [job(ORIGINAL, JobStatus.QUEUED), job(RETRY_1, JobStatus.QUEUED, retry_parent=ORIGINAL)]
    assert len(inv.in_flight_twice(jobs)) == 1


def test_one_active_attempt_per_original_and_active_batch_containers_are_fine() -> None:
    jobs = [
        job(ORIGINAL, JobStatus.ERROR, retry_ids=(RETRY_1, RETRY_2)),
        job(RETRY_1, JobStatus.ERROR, retry_parent=ORIGINAL),
        job(RETRY_2, JobStatus.RUNNING, retry_parent=ORIGINAL),
        job("6b00000000000000000000aa", JobStatus.RUNNING, batch_job=True, child_jobs=(RETRY_2,)),
    ]
    assert inv.in_flight_twice(jobs) == []


def test_a_job_linked_twice_in_retry_ids_or_child_jobs_is_reported() -> None:
    jobs = [
        job(ORIGINAL, JobStatus.ERROR, retry_ids=(RETRY_1, RETRY_1)),
        job("6b00000000000000000000aa", JobStatus.COMPLETED, batch_job=True, child_jobs=(RETRY_2, RETRY_2)),
        job(RETRY_1, JobStatus.ERROR, retry_parent=ORIGINAL),
    ]
    found = inv.duplicate_links(jobs)
    assert len(found) == 2
    assert "retry_ids" in found[0]
    assert "child_jobs" in found[1]


def test_active_jobs_after_the_drain_are_reported() -> None:
    jobs = [job(ORIGINAL, JobStatus.COMPLETED), job(RETRY_1, JobStatus.QUEUED)]
    [found] = inv.not_terminal(jobs)
    assert found.startswith(f"job {RETRY_1} is still queued")


def test_only_unfinished_operations_are_incomplete() -> None:
    ops = [
        Operation(f"op{state.name}", OperationKind.RETRY, "alice", state, 1.0, 1.0, ())
        for state in OperationState
    ]
    assert len(inv.incomplete(ops)) == sum(1 for s in OperationState if not s.finished)


def test_memory_may_grow_by_a_fifth_and_must_be_measured() -> None:
    assert inv.memory_growth(100, 120) == []
    assert len(inv.memory_growth(100, 121)) == 1
    assert len(inv.memory_growth(None, 100)) == 1


def test_a_key_that_answered_two_attempts_is_reported() -> None:
    assert inv.idempotency_conflicts({"k1": {RETRY_1}, "k2": {RETRY_1, RETRY_2}}) == [
        f"key k2 answered {sorted([RETRY_1, RETRY_2])}"
    ]


def test_answers_are_told_apart_as_results_json_rpc_errors_and_other_http() -> None:
    assert outcome(200, {"result": [1]}) == "ok"
    assert outcome(500, {"error": {"code": -32005}}) == "error -32005"
    assert outcome(500, None) == "http 500"
    assert outcome(502, {"error": {"code": -32005}}) == "http 502"


def test_the_table_lists_every_invariant_and_the_first_violation() -> None:
    violations = inv.Violations()
    violations.add(inv.NOT_TERMINAL, [f"job {RETRY_1} is still queued"])
    tally = Tally()
    tally.outcomes[("run_job", "ok")] = 3
    table = render(SoakResult(tally, violations, Counter(service=2), 3, 100 * 2**20, 101 * 2**20), "soak")

    for name in inv.ORDER:
        assert f"| {name} | {1 if name == inv.NOT_TERMINAL else 0} |" in table
    assert "| run_job | ok | 3 |" in table
    assert f"job {RETRY_1} is still queued" in table
    assert violations.total == 1
