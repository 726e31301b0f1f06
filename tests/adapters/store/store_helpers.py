"""Builders of jobs and operations for the JobStore conformance tests."""

from __future__ import annotations

from typing import Any

from ee_retry.domain.ids import new_id
from ee_retry.domain.model import (
    Job,
    JobInput,
    JobRequirements,
    JobStatus,
    Operation,
    OperationKind,
    OperationState,
)

T0 = 1_700_000_000.0
ACTIVE = frozenset({JobStatus.CREATED, JobStatus.QUEUED, JobStatus.RUNNING})


def make_job(**fields: Any) -> Job:
    base: dict[str, Any] = {
        "id": new_id(),
        "user": "alice",
        "status": JobStatus.CREATED,
        "job_input": JobInput(method="Mod.run", service_ver="c0ffee", wsid=7),
        "created": T0,
        "updated": T0,
        "wsid": 7,
    }
    base.update(fields)
    return Job(**base)


def attempt_of(original: str, **fields: Any) -> Job:
    return make_job(retry_parent=original, retry_active=original, **fields)


def make_op(**fields: Any) -> Operation:
    base: dict[str, Any] = {
        "id": new_id(),
        "kind": OperationKind.RETRY,
        "user": "alice",
        "state": OperationState.RESERVING,
        "created": T0,
        "updated": T0,
        "job_ids": (new_id(),),
    }
    base.update(fields)
    return Operation(**base)


def full_job() -> Job:
    """A job with every field set, including nested job_input and requirements."""
    original = new_id()
    return Job(
        id=new_id(),
        user="alice",
        status=JobStatus.ERROR,
        job_input=JobInput(
            method="MegaHit.run_megahit",
            service_ver="0123456789abcdef0123456789abcdef01234567",
            params=[{"reads": "1/2/3", "k": [21, 33], "opt": None, "nested": {"deep": [1.5, True]}}],
            app_id="MegaHit/run_megahit",
            source_ws_objects=("1/2/3", "4/5/6"),
            wsid=42,
            parent_job_id=new_id(),
            requirements=JobRequirements(cpus=4, memory_mb=2048, disk_gb=30, client_group="bigmem"),
            narrative_cell_info={"cell_id": "c1", "run_id": "r1", "tag": "release"},
            meta={"origin": "narrative"},
        ),
        created=T0 + 0.123456,
        updated=T0 + 9.5,
        wsid=42,
        authstrat="kbaseworkspace",
        queued=T0 + 1.25,
        running=T0 + 2.5,
        finished=T0 + 9.5,
        errormsg="job crashed",
        error={"code": -32000, "name": "Server error", "message": "job crashed"},
        error_code=1,
        terminated_code=2,
        scheduler_type="condor",
        scheduler_id="123.4",
        job_output={"result": [{"report_ref": "1/2/3"}], "version": "1.1"},
        batch_job=False,
        batch_id=new_id(),
        child_jobs=(new_id(), new_id()),
        retry_ids=(new_id(), new_id()),
        retry_parent=original,
        retry_saved_toggle=True,
        operation_id=new_id(),
        retry_active=original,
    )
