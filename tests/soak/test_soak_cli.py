"""What the soak prints on a violation: the stored records of the jobs it names and their operations."""

from __future__ import annotations

from ee_retry.domain.model import JobStatus, OperationState
from ee_retry.ports import JobStore
from ee_retry.soak import invariants as inv
from ee_retry.soak.cli import stored_records
from tests.builders import make_job, make_op


async def test_a_violation_shows_the_full_records_of_its_job_and_of_the_job_s_operation(
    store: JobStore,
) -> None:
    op = make_op(state=OperationState.DONE)
    stranded = make_job(status=JobStatus.QUEUED, operation_id=op.id, retry_parent=make_job().id)
    other = make_job(status=JobStatus.QUEUED)
    await store.insert_operation(op)
    await store.insert_jobs([stranded, other])
    [example] = inv.not_terminal([stranded])

    shown = await stored_records(store, [example])

    [job_line] = [ln for ln in shown.splitlines() if ln.startswith(f"job {stranded.id}:")]
    assert '"status": "queued"' in job_line
    assert '"scheduler_id": null' in job_line
    [op_line] = [ln for ln in shown.splitlines() if ln.startswith(f"operation {op.id}:")]
    assert '"state": "done"' in op_line
    assert other.id not in shown
