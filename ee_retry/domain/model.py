"""Job records in ee2's schema, and the operation record that makes a submission crash-safe."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any


class JobStatus(str, Enum):
    """ee2's job statuses, in the order a job normally passes through them."""

    CREATED = "created"  # recorded, not yet accepted by the scheduler (or held there)
    ESTIMATING = "estimating"  # ee2's resource-estimation step; kept for schema compatibility
    QUEUED = "queued"  # released to the scheduler, waiting for a slot
    RUNNING = "running"  # the job's process is running
    COMPLETED = "completed"  # finished with exit 0
    ERROR = "error"  # failed, or lost by a crash
    TERMINATED = "terminated"  # cancelled by a user, an admin or the reaper

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.ERROR, JobStatus.TERMINATED})
ACTIVE_STATUSES = frozenset({JobStatus.CREATED, JobStatus.ESTIMATING, JobStatus.QUEUED, JobStatus.RUNNING})
RETRYABLE_STATUSES = frozenset({JobStatus.ERROR, JobStatus.TERMINATED})
STARTABLE_STATUSES = frozenset({JobStatus.CREATED, JobStatus.ESTIMATING, JobStatus.QUEUED})  # not yet running


class TerminatedCode(int, Enum):
    """ee2's terminated_code values: why a job was cancelled."""

    TERMINATED_BY_USER = 0  # cancel_job's default, whoever calls it
    TERMINATED_BY_ADMIN = 1  # an admin said so
    TERMINATED_BY_AUTOMATION = 2  # a script or the reaper (ee2's PurgeBadJobs sends this)
    TERMINATED_BY_BATCH_ABORT = 3  # its batch container was cancelled
    TERMINATED_BY_SERVER_FAILURE = 4  # the service could not keep it


# A client group names a set of execute nodes (HTCondor's CLIENTGROUP); it goes into a ClassAd
# expression, so it is a plain identifier.
CLIENT_GROUP_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,63}")


class ErrorCode(int, Enum):
    """ee2's error_code values."""

    UNKNOWN_ERROR = 0
    JOB_CRASHED = 1
    JOB_TERMINATED_BY_AUTOMATION = 2
    JOB_OVER_TIMELIMIT = 3
    JOB_MISSING_OUTPUT = 4
    TOKEN_EXPIRED = 5
    CONDOR_SUBMIT_ISSUE = 6


@dataclass(frozen=True)
class JobRequirements:
    """Resources a job asks the scheduler for; stored at first submission so a retry reproduces them."""

    cpus: int = 1
    memory_mb: int = 512
    disk_gb: int = 1
    client_group: str = "njs"
    account_group: str | None = None  # run_job_concierge: the user whose share the job is billed to

    def to_doc(self) -> dict[str, Any]:
        # ee2's stored names; account_group only when set (ee2 does not store it).
        doc: dict[str, Any] = {
            "cpu": self.cpus,
            "memory": self.memory_mb,
            "disk": self.disk_gb,
            "clientgroup": self.client_group,
        }
        if self.account_group is not None:
            doc["account_group"] = self.account_group
        return doc

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> JobRequirements:
        read = requirements_doc(doc)
        return cls(read["cpu"], read["memory"], read["disk"], read["clientgroup"], read.get("account_group"))


def requirements_doc(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A stored requirements subdocument as `JobRequirements.from_doc(doc).to_doc()` gives it back,
    without building the value: defaults filled in, numbers as int, names as str."""
    get = doc.get
    read: dict[str, Any] = {
        "cpu": int(get("cpu", 1)),
        "memory": int(get("memory", 512)),
        "disk": int(get("disk", 1)),
        "clientgroup": str(get("clientgroup", "njs")),
    }
    if (account := get("account_group")) is not None:
        read["account_group"] = str(account)
    return read


@dataclass(frozen=True)
class JobInput:
    """What to run: ee2's job_input, with service_ver always a resolved git commit."""

    method: str
    service_ver: str
    params: Any = field(default_factory=list)
    app_id: str | None = None
    source_ws_objects: tuple[str, ...] = ()
    wsid: int | None = None
    parent_job_id: str | None = None
    requirements: JobRequirements = field(default_factory=JobRequirements)
    narrative_cell_info: Mapping[str, Any] | None = None
    meta: Mapping[str, Any] | None = None

    @property
    def module(self) -> str:
        return self.method.split(".", 1)[0]

    def to_doc(self) -> dict[str, Any]:
        """The `job_input` subdocument as ee2 stores it: every field under its own name, tuples as
        lists, and always a cell info object."""
        doc = {f.name: getattr(self, f.name) for f in fields(self)}
        doc.update(
            source_ws_objects=list(self.source_ws_objects),
            requirements=self.requirements.to_doc(),
            narrative_cell_info=dict(self.narrative_cell_info or {}),  # ee2 always stores one
            meta=dict(self.meta) if self.meta else None,
        )
        return doc

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> JobInput:
        return cls(
            method=doc["method"],
            service_ver=doc.get("service_ver") or "",
            params=doc.get("params", []),
            app_id=doc.get("app_id"),
            source_ws_objects=tuple(doc.get("source_ws_objects") or ()),
            wsid=doc.get("wsid"),
            parent_job_id=doc.get("parent_job_id"),
            requirements=JobRequirements.from_doc(doc.get("requirements") or {}),
            narrative_cell_info=doc.get("narrative_cell_info") or None,
            meta=doc.get("meta"),
        )


@dataclass(frozen=True)
class Job:
    """One job record (ee2 schema). Times are epoch seconds; the wire shows them as ms ints."""

    id: str
    user: str
    status: JobStatus
    job_input: JobInput | None  # None only on a batch container
    created: float
    updated: float
    wsid: int | None = None
    authstrat: str = "kbaseworkspace"
    queued: float | None = None
    estimating: float | None = None  # when start_job(skip_estimation=false) moved it to estimating
    running: float | None = None
    finished: float | None = None
    errormsg: str | None = None
    error: Mapping[str, Any] | None = None
    error_code: int | None = None
    terminated_code: int | None = None
    scheduler_type: str | None = None
    scheduler_id: str | None = None
    job_output: Any = None
    batch_job: bool = False
    batch_id: str | None = None
    child_jobs: tuple[str, ...] = ()
    retry_ids: tuple[str, ...] = ()
    retry_parent: str | None = None
    retry_saved_toggle: bool = False
    # ee-retry's own fields (ignored by ee2 readers):
    operation_id: str | None = None  # the submission operation that created this job
    retry_active: str | None = None  # original's id while this attempt is not terminal (unique in the store)
    failure: Mapping[str, Any] | None = (
        None  # why it ended in error: exit_code, signal, hold_code, hold_subcode
    )
    auto_retry: Mapping[str, Any] | None = None  # on an original: the automatic retry policy's decision
    # Fields ee2 itself writes and this service never sets, kept as read (EE2_ONLY_FIELDS).
    ee2_fields: Mapping[str, Any] = field(default_factory=dict)

    @property
    def retry_count(self) -> int:
        return len(self.retry_ids)

    @property
    def original_id(self) -> str:
        """The job a retry of this job is an attempt of: lineage stays flat."""
        return self.retry_parent or self.id

    def to_doc(self) -> dict[str, Any]:
        """The stored document; `_id` is the id string (adapters convert it as their store needs)."""
        return {
            "_id": self.id,
            "user": self.user,
            "authstrat": self.authstrat,
            "wsid": self.wsid,
            "status": self.status.value,
            "job_input": self.job_input.to_doc() if self.job_input else None,
            "created": self.created,
            "updated": self.updated,
            "queued": self.queued,
            "estimating": self.estimating,
            "running": self.running,
            "finished": self.finished,
            "errormsg": self.errormsg,
            "error": dict(self.error) if self.error else None,
            "error_code": self.error_code,
            "terminated_code": self.terminated_code,
            "scheduler_type": self.scheduler_type,
            "scheduler_id": self.scheduler_id,
            "job_output": self.job_output,
            "batch_job": self.batch_job,
            "batch_id": self.batch_id,
            "child_jobs": list(self.child_jobs),
            "retry_ids": list(self.retry_ids),
            "retry_parent": self.retry_parent,
            "retry_saved_toggle": self.retry_saved_toggle,
            "operation_id": self.operation_id,
            "retry_active": self.retry_active,
            "failure": dict(self.failure) if self.failure is not None else None,
            "auto_retry": dict(self.auto_retry) if self.auto_retry is not None else None,
            **{k: v for k, v in self.ee2_fields.items() if k in EE2_ONLY_FIELDS},
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Job:
        job_input = doc.get("job_input")
        return cls(
            id=str(doc["_id"]),
            user=doc["user"],
            status=JobStatus(doc["status"]),
            job_input=JobInput.from_doc(job_input) if job_input else None,
            created=float(doc.get("created") or 0.0),
            updated=float(doc.get("updated") or 0.0),
            wsid=doc.get("wsid"),
            authstrat=doc.get("authstrat") or "kbaseworkspace",
            queued=doc.get("queued"),
            estimating=doc.get("estimating"),
            running=doc.get("running"),
            finished=doc.get("finished"),
            errormsg=doc.get("errormsg"),
            error=doc.get("error"),
            error_code=doc.get("error_code"),
            terminated_code=doc.get("terminated_code"),
            scheduler_type=doc.get("scheduler_type"),
            scheduler_id=doc.get("scheduler_id"),
            job_output=doc.get("job_output"),
            batch_job=bool(doc.get("batch_job", False)),
            batch_id=_opt_str(doc.get("batch_id")),
            child_jobs=tuple(str(c) for c in doc.get("child_jobs") or ()),
            retry_ids=tuple(str(r) for r in doc.get("retry_ids") or ()),
            retry_parent=_opt_str(doc.get("retry_parent")),
            retry_saved_toggle=bool(doc.get("retry_saved_toggle", False)),
            operation_id=doc.get("operation_id"),
            retry_active=_opt_str(doc.get("retry_active")),
            failure=doc.get("failure"),
            auto_retry=doc.get("auto_retry"),
            ee2_fields={k: doc[k] for k in EE2_ONLY_FIELDS if doc.get(k) is not None},
        )


# Job fields of ee2's schema that only ee2 writes (HTCondor's job ads, its estimator's id, a message);
# a job ee2 wrote keeps them in its state as ee2 shows them.
EE2_ONLY_FIELDS = ("condor_job_ads", "scheduler_estimator_id", "msg")


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


class OperationKind(str, Enum):
    """What a submission operation was asked to do."""

    RUN = "run"  # run_job: one job
    BATCH = "batch"  # run_job_batch: a container and its children
    RETRY = "retry"  # retry_job / retry_jobs / retry_failed_jobs


class OperationState(str, Enum):
    """Where a submission operation is in its lifecycle. Who moves it from which state to which, and
    when, is the table in `service/submit/submission.py`; reconcile finishes or rolls back the two
    incomplete ones."""

    RESERVING = "reserving"  # operation recorded; job documents may be partly inserted
    RESERVED = "reserved"  # every job document inserted; scheduler may or may not hold them
    DONE = "done"  # released; the answer is stored for idempotent replay
    ROLLED_BACK = "rolled_back"  # abandoned before any job was visible; reserved documents removed

    @property
    def finished(self) -> bool:
        return self in (OperationState.DONE, OperationState.ROLLED_BACK)


@dataclass(frozen=True)
class Operation:
    """A submission request, recorded before any job is written. It is also the retry audit record."""

    id: str
    kind: OperationKind
    user: str
    state: OperationState
    created: float
    updated: float
    job_ids: tuple[str, ...]  # new jobs, in submission order (proc i is job_ids[i])
    request: Mapping[str, Any] = field(default_factory=dict)  # what was asked: method, ids, flags
    idempotency_key: str | None = None
    request_hash: str | None = None
    result: Any = None  # the answer returned to the caller, replayed for the same key
    scheduler_ids: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None  # why the last attempt to advance it failed, for operators

    @classmethod
    def reserving(
        cls,
        op_id: str,
        kind: OperationKind,
        user: str,
        now: float,
        job_ids: tuple[str, ...],
        request: Mapping[str, Any],
        idempotency_key: str | None = None,
        request_hash: str | None = None,
    ) -> Operation:
        """A new operation as its request first records it: RESERVING, created and updated `now`."""
        state = OperationState.RESERVING
        return cls(op_id, kind, user, state, now, now, job_ids, request, idempotency_key, request_hash)

    def to_doc(self) -> dict[str, Any]:
        return {
            "_id": self.id,
            "kind": self.kind.value,
            "user": self.user,
            "state": self.state.value,
            "created": self.created,
            "updated": self.updated,
            "job_ids": list(self.job_ids),
            "request": dict(self.request),
            "idempotency_key": self.idempotency_key,
            SLOT_FIELD: idempotency_slot(self.user, self.idempotency_key),
            "request_hash": self.request_hash,
            "result": self.result,
            "scheduler_ids": dict(self.scheduler_ids),
            "error": self.error,
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Operation:
        return cls(
            id=str(doc["_id"]),
            kind=OperationKind(doc["kind"]),
            user=doc["user"],
            state=OperationState(doc["state"]),
            created=float(doc["created"]),
            updated=float(doc.get("updated") or doc["created"]),
            job_ids=tuple(str(j) for j in doc.get("job_ids") or ()),
            request=doc.get("request") or {},
            idempotency_key=doc.get("idempotency_key"),
            request_hash=doc.get("request_hash"),
            result=doc.get("result"),
            scheduler_ids=doc.get("scheduler_ids") or {},
            error=doc.get("error"),
        )


# The stored field holding an operation's idempotency slot (`idempotency_slot`): unique in the store,
# so one (user, key) pair is claimed once; cleared when a rollback frees the key. Its short name is
# what stores written so far hold.
SLOT_FIELD = "idem"


def idempotency_slot(user: str, key: str | None) -> str | None:
    """The unique value that makes one (user, key) pair claimable once."""
    return None if key is None else f"{user}\x1f{key}"


@dataclass(frozen=True)
class OperationUpdate:
    """Set `fields` on one operation (e.g. state, result, updated) if, and only if, its state is one
    of `expected` and, when `updated_was` is given, its stored `updated` time is still that value:
    a compare-and-set. A None value for a never-null field (`idem`, the slot) removes it."""

    op_id: str
    expected: frozenset[OperationState]
    fields: Mapping[str, Any] = field(default_factory=dict)
    updated_was: float | None = None

    def accepts(self, state: str, updated: float | None) -> bool:
        """Whether a stored operation in `state`, last updated at `updated`, is one this update moves."""
        if state not in {OperationState(s).value for s in self.expected}:
            return False
        return self.updated_was is None or updated == self.updated_was
