"""Builders of the values tests pass around: jobs, operations, scheduler specs and procs. Each test
folder's helpers build on these, so a job or a spec is made in one place."""

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
from ee_retry.domain.values import ProcState, SchedulerProc, SubmitSpec

T0 = 1_700_000_000.0  # the test clocks' start
COMMIT = "0123456789abcdef0123456789abcdef01234567"
TOKEN = "TOKENABCDEFGHIJKLMNOPQRSTUVWXYZ12"


def make_job(**fields: Any) -> Job:
    """A job of alice's in workspace 7, `created`, pinned to a commit; `fields` override."""
    base: dict[str, Any] = {
        "id": new_id(),
        "user": "alice",
        "status": JobStatus.CREATED,
        "job_input": JobInput(method="Mod.run", service_ver=COMMIT, wsid=7),
        "created": T0,
        "updated": T0,
        "wsid": 7,
    }
    base.update(fields)
    return Job(**base)


def make_op(**fields: Any) -> Operation:
    """A retry operation of alice's that is still reserving one job; `fields` override."""
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


def make_spec(**overrides: Any) -> SubmitSpec:
    """A valid scheduler spec with every optional field set; override any of them."""
    values: dict[str, Any] = {
        "job_id": new_id(),
        "user": "alice",
        "method": "Demo.succeed",
        "service_ver": COMMIT,
        "requirements": JobRequirements(cpus=2, memory_mb=2000, disk_gb=30, client_group="bigmem"),
        "app_id": "Demo/succeed",
        "wsid": 42,
        "parent_job_id": None,
        "batch_id": None,
        "params": [{"message": "hello"}],
        "token": TOKEN,
    }
    values.update(overrides)
    return SubmitSpec(**values)


def make_proc(job: Job, state: ProcState, **fields: Any) -> SchedulerProc:
    """The scheduler's report of `job`'s recorded proc (or of `scheduler_id` when given)."""
    base: dict[str, Any] = {
        "job_id": job.id,
        "operation_id": job.operation_id,
        "scheduler_id": job.scheduler_id or "1.0",
        "state": state,
    }
    base.update(fields)
    return SchedulerProc(**base)
