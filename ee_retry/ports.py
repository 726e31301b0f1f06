"""The ports the service is built from, as Protocols; the values they exchange are in domain/values.py.
Each has a real adapter and a fake or static twin.

Every JobStore method is one round trip to the store (one query, one bulk write), whatever the
number of jobs it names: the retry path's round-trip count does not grow with the request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from ee_retry.domain.model import Job, JobStatus, Operation, OperationUpdate
from ee_retry.domain.values import (
    GuardedUpdate,
    IdsById,
    InsertOutcome,
    JobQuery,
    OperationQuery,
    Permission,
    ResolvedVersion,
    SchedulerProc,
    StateWrite,
    SubmitSpec,
    Transition,
    User,
)

# ---------------------------------------------------------------- store


class JobStore(Protocol):
    """Job records, operations, job logs and leases. MongoDB in production, SQLite embedded."""

    async def setup(self) -> None:
        """Create collections and indexes (idempotent); unique index on retry_active, sparse."""

    async def close(self) -> None: ...

    async def insert_jobs(self, jobs: Sequence[Job]) -> InsertOutcome:
        """Insert all jobs unordered in one write; a job whose retry_active collides is not inserted.
        Raises InvalidJobId for an id that is not 24 hex characters (reads simply ignore such ids)."""

    async def get_jobs(self, ids: Sequence[str]) -> dict[str, Job]:
        """The jobs that exist among `ids`, by id."""

    async def get_job_docs(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The documents of the jobs that exist among `ids`, by id, each one that `Job.from_doc` reads
        as the job `get_jobs` answers (`_id` a string); fresh dicts the caller may change. For reads
        that only show jobs: the embedded store hands over its stored documents without building jobs."""

    async def find_jobs(self, query: JobQuery) -> list[Job]: ...

    async def count_jobs(self, query: JobQuery) -> dict[JobStatus, int]:
        """How many jobs match, per status (every status, zero where none); ignores limit and offset."""

    async def active_attempts(self, original_ids: Sequence[str]) -> dict[str, str]:
        """original id -> id of its attempt that holds the in-flight guard (retry_active)."""

    async def transition(self, changes: Sequence[Transition]) -> set[str]:
        """Apply conditional status changes in one bulk write; return the ids that changed.

        Sets `updated` to now-from-fields or leaves it to the caller (callers pass "updated").
        Writes `Transition.stored_fields()`: a terminal status also frees the in-flight guard.
        """

    async def set_fields(self, updates: Mapping[str, Mapping[str, Any]]) -> None:
        """Set stored fields on several jobs in one bulk write (scheduler ids, requirements).
        Raises RetryInFlight if it would make retry_active collide; the other updates still apply."""

    async def link(self, retry_ids: IdsById, child_jobs: IdsById, saved: Sequence[str]) -> None:
        """One bulk write: $addToSet (with $each, order kept) retry_ids on originals and
        child_jobs on containers, and set retry_saved_toggle on the `saved` jobs."""

    async def remove_children(self, container_id: str, child_ids: Sequence[str]) -> list[str]:
        """One write: $pullAll `child_ids` from the container's child_jobs; returns the children left."""

    async def guarded_update(self, updates: Sequence[GuardedUpdate]) -> set[str]:
        """Apply compare-and-set updates in one bulk write; return the ids that changed."""

    async def delete_created(self, ids: Sequence[str]) -> int:
        """Delete jobs that are still `created` and have no scheduler_id (rollback of a reservation)."""

    # -- operations (collection ee_retry_operations)

    async def insert_operation(self, op: Operation) -> Operation | None:
        """Insert; if another unexpired operation already holds the same (user, idempotency key),
        insert nothing and return that operation."""

    async def get_operation(self, op_id: str) -> Operation | None: ...

    async def update_operation(self, update: OperationUpdate) -> bool:
        """Apply one compare-and-set update to an operation; True if the operation matched."""

    async def find_operations(self, query: OperationQuery) -> list[Operation]:
        """The operations `query` selects (whatever their state or age), oldest first."""

    # -- job logs (collection ee_retry_logs)

    async def add_logs(self, job_id: str, lines: Sequence[Mapping[str, Any]]) -> int:
        """Append lines ({line, is_error, ts}); return the total line count for the job."""

    async def get_logs(self, job_id: str, skip: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """Lines skip..skip+limit in order, and the total count; limit <= 0 returns only the total."""

    async def add_logs_many(self, lines: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
        """Append lines to several jobs' logs in one write."""

    # -- small service state documents by key (collection ee_retry_states), e.g. circuit breakers

    async def get_states(self, prefix: str) -> dict[str, dict[str, Any]]:
        """Every state document whose key starts with `prefix`, by key, each with its revision
        (STATE_REV)."""

    async def put_states(self, docs: Mapping[str, Mapping[str, Any]]) -> None:
        """Write (insert or replace) state documents by key, in one write; each gets a new revision."""

    async def put_states_if(self, writes: Sequence[StateWrite]) -> dict[str, str]:
        """Apply compare-and-set writes of state documents (distinct keys) in one write; each written
        document gets a new revision. Returns the keys written, each with its new revision."""

    # -- leases (collection ee_retry_leases)

    async def acquire_lease(self, name: str, holder: str, ttl_s: float, now: float) -> bool:
        """Take or renew the named lease if it is free, expired, or already ours."""

    async def release_lease(self, name: str, holder: str) -> None: ...


# ---------------------------------------------------------------- scheduler

StatusListener = Callable[[SchedulerProc], Awaitable[object]]  # what it returns is ignored
StartGate = Callable[[str], Awaitable[bool]]  # job id -> may its waiting proc start now?


class Scheduler(Protocol):
    """HTCondor (htcondor2 in a worker process) or the local subprocess executor."""

    scheduler_type: str  # stored in job records: a SchedulerKind value (test doubles name their own)
    # True when a job needs its owner's token to run (HTCondor passes it in the job's environment);
    # such jobs cannot be submitted later by reconcile, which never has the token.
    runs_with_owner_token: bool

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def submit(self, operation_id: str, specs: Sequence[SubmitSpec], hold: bool) -> dict[str, str]:
        """Submit all specs in ONE transaction (all or nothing); return job id -> scheduler id.
        Raises SchedulerUnavailable when the answer did not come back (it may still have happened)."""

    async def release(self, scheduler_ids: Sequence[str]) -> None:
        """Release held procs; releasing a proc that is not held is a no-op."""

    async def remove(self, scheduler_ids: Sequence[str], reason: str) -> None:
        """Remove procs by explicit id; removing a proc that is gone is a no-op."""

    async def procs_for_operation(self, operation_id: str) -> list[SchedulerProc]:
        """Every proc (queue and history) tagged with this operation id."""

    async def procs_for_jobs(self, job_ids: Sequence[str]) -> list[SchedulerProc]:
        """Every proc (queue and history) tagged with one of these job ids."""

    async def poll(self) -> list[SchedulerProc]:
        """Every proc of this service in the queue, plus recent history."""

    # Optional hooks, declared here with their defaults so that every call is type-checked; an
    # adapter that subclasses this Protocol overrides the ones it supports.

    def set_listener(self, listener: StatusListener | None) -> None:
        """Await `listener` on every state change as it happens. Default: changes are only polled."""
        return

    def set_start_gate(self, gate: StartGate | None) -> None:
        """Ask `gate` before a proc that waited for a slot starts. Default: released procs start
        as the scheduler decides (HTCondor's schedd, not this service, owns that moment)."""
        return

    def forget_recorded(self, scheduler_ids: Sequence[str]) -> None:
        """The store now records the end of these procs: a scheduler that remembers finished procs
        only in this process may drop them, and a proc that has not finished must be kept. Default:
        nothing dropped (HTCondor's schedd keeps its own history)."""
        return

    def kill_leftovers(self, job_ids: Sequence[str]) -> Sequence[str]:
        """Kill what a crashed instance of this service left running of these jobs; return the ids
        killed. Default: nothing outlives the service (the schedd keeps its own procs)."""
        return []


# ---------------------------------------------------------------- identity, permissions, catalog


class Auth(Protocol):
    async def user_for_token(self, token: str) -> User:
        """Raises AuthenticationError for a missing, unknown or expired token."""

    async def close(self) -> None:
        """Release connections. Default: none are held."""
        return


class Workspace(Protocol):
    async def permissions(self, user: User, wsids: Sequence[int]) -> dict[int, Permission]:
        """The caller's permission on each workspace, in one call (get_permissions_mass)."""

    async def writable_workspaces(self, user: User) -> list[int]:
        """Ids of every workspace the caller may write ('a' or 'w'), in one call
        (list_workspace_ids with perm 'w'); deleted workspaces are not listed."""

    async def readable_workspaces(self, user: User) -> list[int]:
        """Ids of every workspace the caller may read ('a', 'w' or 'r' given to them), in one call
        (list_workspace_ids with perm 'r', public workspaces excluded)."""

    async def close(self) -> None:
        """Release connections. Default: none are held."""
        return


class Catalog(Protocol):
    async def resolve(self, module: str, version: str | None, function: str | None = None) -> ResolvedVersion:
        """Resolve a tag ('release', 'beta', 'dev'), a commit hash, or None (release); `function`
        selects per-function resources where the catalog has them.
        Raises UnknownModule when the module or version is unknown."""

    async def close(self) -> None:
        """Release connections. Default: none are held."""
        return


class Clock(Protocol):
    def now(self) -> float:
        """Epoch seconds."""
