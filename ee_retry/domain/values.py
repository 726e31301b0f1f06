"""The values the ports exchange: job queries and transitions, scheduler specs and procs, callers,
workspace permissions and module versions. Plain frozen data and enums, standard library only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeAlias

from ee_retry.domain.model import JobRequirements, JobStatus, OperationState

IdsById: TypeAlias = Mapping[str, Sequence[str]]  # a job id -> job ids, e.g. an original's new retry_ids


@dataclass(frozen=True)
class Transition:
    """Move one job to `new` if, and only if, its status is one of `expected`; also set `fields`."""

    job_id: str
    expected: frozenset[JobStatus]
    new: JobStatus
    fields: Mapping[str, Any] = field(default_factory=dict)  # stored field names, e.g. "errormsg"

    def stored_fields(self) -> dict[str, Any]:
        """Every stored field the move writes: its fields and the new status. A terminal status
        also clears `retry_active`, which frees the original's in-flight guard for its next retry."""
        fields = {**self.fields, "status": self.new}
        if self.new.terminal:
            fields["retry_active"] = None
        return fields


@dataclass(frozen=True)
class JobQuery:
    """A filter over job records; every field left None does not filter."""

    ids: Sequence[str] | None = None
    users: Sequence[str] | None = None  # any of these owners ...
    wsids: Sequence[int] | None = None  # ... or (when both set) any of these workspaces
    wsid: int | None = None  # and in this workspace
    statuses: Sequence[JobStatus] | None = None
    method: str | None = None  # job_input.method
    module: str | None = None  # job_input.method starts with "<module>."
    app_id: str | None = None  # job_input.app_id
    batch_id: str | None = None
    error_code: int | None = None
    retry_parent: str | None = None
    originals_only: bool = False  # only jobs that are not retries (retry_parent unset)
    exclude_batch_containers: bool = False
    created_from: float | None = None  # inclusive, epoch seconds
    created_to: float | None = None  # exclusive
    updated_before: float | None = None  # exclusive
    updated_from: float | None = None  # inclusive
    auto_due_before: float | None = None  # an automatic retry waits to start before this (auto_next_at)
    operation_ids: Sequence[str] | None = None
    scheduler_cluster: str | None = None  # a scheduler cluster id ("123"): procs "123" and "123.N"
    conditions: Sequence[FieldCondition] = ()  # AND-ed
    limit: int = 0  # 0: no limit
    offset: int = 0
    ascending: bool = True  # order by created, then id


@dataclass(frozen=True)
class OperationQuery:
    """A filter over operation records; every field left None does not filter."""

    states: Sequence[OperationState] | None = None
    job_id: str | None = None  # operations that created this job
    user: str | None = None
    idempotency_key: str | None = None  # with `user`: the operation holding (or that held) the key
    limit: int = 0  # 0: no limit


@dataclass(frozen=True)
class InsertOutcome:
    """Result of a bulk insert: which jobs went in, and which lost the in-flight guard to whom."""

    inserted: frozenset[str]
    # refused new job id -> the attempt now holding its original's guard (retry_active), which is
    # itself when that id is already stored and active; None when it cannot be told
    conflicts: Mapping[str, str | None]


class ProcState(str, Enum):
    """What the scheduler says of one proc."""

    HELD = "held"  # submitted on hold (or held by the scheduler: see hold_reason)
    IDLE = "idle"  # released, waiting for a slot
    RUNNING = "running"
    COMPLETED = "completed"  # exited; see exit_code / exit_signal
    REMOVED = "removed"  # removed from the queue (cancelled)


@dataclass(frozen=True)
class SubmitSpec:
    """One job for the scheduler: everything a proc needs, as plain data (it crosses processes)."""

    job_id: str
    user: str
    method: str
    service_ver: str
    requirements: JobRequirements
    app_id: str | None = None
    wsid: int | None = None
    parent_job_id: str | None = None
    batch_id: str | None = None
    source_ws_objects: tuple[str, ...] = ()
    params: Any = None  # the local executor hands these to the command
    command: tuple[str, ...] = ()  # argv from the catalog, for the local executor
    token: str | None = field(default=None, repr=False)  # for the job runner's callbacks; never logged


class SchedulerKind(str, Enum):
    """Which scheduler runs the jobs: the EE_RETRY_SCHEDULER setting, and the `scheduler_type` job
    records store. "condor" is what ee2 stores for HTCondor, so records stay readable by both."""

    LOCAL = "local"
    CONDOR = "condor"

    @classmethod
    def from_setting(cls, value: str) -> SchedulerKind:
        """The kind a setting names; "htcondor", the setting's earlier spelling, reads as "condor"."""
        name = "condor" if value == "htcondor" else value
        try:
            return cls(name)
        except ValueError:
            raise ValueError(f"EE_RETRY_SCHEDULER must be 'local' or 'condor', not {value!r}") from None


@dataclass(frozen=True)
class SchedulerProc:
    """One proc as the scheduler reports it."""

    job_id: str
    operation_id: str | None
    scheduler_id: str  # "cluster.proc" for HTCondor; the local executor's own id
    state: ProcState
    exit_code: int | None = None
    exit_signal: int | None = None
    hold_reason: str | None = None  # set when the scheduler (not we) held it, e.g. on_exit_hold
    hold_code: int | None = None  # HTCondor's HoldReasonCode / HoldReasonSubCode of such a hold
    hold_subcode: int | None = None
    held_by_us: bool = False  # held because it was submitted on hold and not yet released
    in_queue: bool = True  # False when reported from history
    output_tail: str | None = None  # local executor: tail of stdout
    error_tail: str | None = None  # local executor: tail of stderr
    started: float | None = None
    finished: float | None = None


@dataclass(frozen=True)
class User:
    """An authenticated caller."""

    name: str
    roles: frozenset[str] = frozenset()
    token: str = field(default="", repr=False)  # never logged

    @property
    def is_admin(self) -> bool:
        return "EE2_ADMIN" in self.roles

    @property
    def is_read_admin(self) -> bool:
        return "EE2_ADMIN" in self.roles or "EE2_ADMIN_RO" in self.roles


class Permission(str, Enum):
    """KBase workspace permission letters."""

    ADMIN = "a"
    WRITE = "w"
    READ = "r"
    NONE = "n"

    @property
    def can_write(self) -> bool:
        return self in (Permission.ADMIN, Permission.WRITE)

    @property
    def can_read(self) -> bool:
        return self in (Permission.ADMIN, Permission.WRITE, Permission.READ)


@dataclass(frozen=True)
class ResolvedVersion:
    """A module version as the catalog knows it."""

    module: str
    git_commit_hash: str
    requirements: JobRequirements
    command: tuple[str, ...] = ()  # local executor only


@dataclass(frozen=True)
class GuardedUpdate:
    """Set `fields` on one job if, and only if, its stored `guard` field (dotted) still equals
    `expected` (None: missing or null): a compare-and-set."""

    job_id: str
    guard: str
    expected: Any
    fields: Mapping[str, Any]


STATE_REV = "rev"  # the revision a store gives a state document on each write, as get_states answers it


@dataclass(frozen=True)
class StateWrite:
    """Replace the state document under `key` with `doc` if, and only if, the stored one's revision
    (STATE_REV) is still `expected` (None: no document under `key`): a compare-and-set."""

    key: str
    doc: Mapping[str, Any]
    expected: str | None


class Comparison(str, Enum):
    """How a FieldCondition compares a stored field with its value (ee2's filter operators)."""

    EQ = "eq"
    NE = "ne"  # also matches a missing field, as MongoDB's $ne does
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    IN = "in"  # value: a list


@dataclass(frozen=True)
class FieldCondition:
    """One typed condition on a stored job field; the field comes from a fixed whitelist, never from
    the caller's text, and the value is a plain typed value (str, int, float, bool, or a list)."""

    field: str  # stored name, dotted for sub-documents, e.g. "job_input.app_id"
    op: Comparison
    value: Any
