"""What a new job record looks like: a run, a batch container and its children, a retry attempt."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ee_retry.domain.model import Job, JobInput, JobRequirements, JobStatus


def new_job(
    job_id: str,
    user: str,
    job_input: JobInput,
    now: float,
    operation_id: str,
    batch_id: str | None = None,
) -> Job:
    """A job as run_job or run_job_batch records it before submission."""
    return Job(
        id=job_id,
        user=user,
        status=JobStatus.CREATED,
        job_input=job_input,
        created=now,
        updated=now,
        wsid=job_input.wsid,
        batch_id=batch_id,
        operation_id=operation_id,
    )


def new_container(
    batch_id: str, user: str, wsid: int | None, child_ids: Sequence[str], now: float, operation_id: str
) -> Job:
    """A batch container: no job_input, its children listed up front (ids are chosen before insert)."""
    return Job(
        id=batch_id,
        user=user,
        status=JobStatus.CREATED,
        job_input=None,
        created=now,
        updated=now,
        wsid=wsid,
        batch_job=True,
        child_jobs=tuple(child_ids),
        operation_id=operation_id,
    )


def new_attempt(
    original: Job,
    attempt_id: str,
    caller: str,
    now: float,
    operation_id: str,
    requirements: JobRequirements | None = None,
) -> Job:
    """A retry of `original`: same inputs and pinned commit, flat lineage, holds the in-flight guard.

    `service_ver` is the original's stored commit hash, never re-resolved from a tag. `requirements`
    (admin only) replaces the original's stored requirements.
    """
    assert original.job_input is not None, "batch containers are never retried"
    job_input = original.job_input
    if requirements is not None:
        job_input = replace(job_input, requirements=requirements)
    return Job(
        id=attempt_id,
        user=caller,
        status=JobStatus.CREATED,
        job_input=job_input,
        created=now,
        updated=now,
        wsid=original.wsid,
        batch_id=original.batch_id,
        retry_parent=original.id,
        operation_id=operation_id,
        retry_active=original.id,
    )
