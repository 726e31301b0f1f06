"""What a new job record looks like: a run, a batch container and its children, a retry attempt."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

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
    return _created(job_id, user, job_input, now, operation_id, wsid=job_input.wsid, batch_id=batch_id)


def new_container(
    batch_id: str, user: str, wsid: int | None, child_ids: Sequence[str], now: float, operation_id: str
) -> Job:
    """A batch container: no job_input, its children listed up front (ids are chosen before insert)."""
    return _created(
        batch_id, user, None, now, operation_id, wsid=wsid, batch_job=True, child_jobs=tuple(child_ids)
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
    return _created(
        attempt_id,
        caller,
        job_input,
        now,
        operation_id,
        wsid=original.wsid,
        batch_id=original.batch_id,
        retry_parent=original.id,
        retry_active=original.id,
    )


def _created(
    job_id: str, user: str, job_input: JobInput | None, now: float, operation_id: str, **fields: Any
) -> Job:
    """A `created` job of `operation_id`, made and updated `now`; `fields` set the rest."""
    return Job(
        id=job_id,
        user=user,
        status=JobStatus.CREATED,
        job_input=job_input,
        created=now,
        updated=now,
        operation_id=operation_id,
        **fields,
    )
