"""Retry preflight: small named checks run in order; each returns an error or None.

The pipeline sees one item (a named job id) with everything already loaded, and writes nothing.
The in-flight guard here is the fast, friendly check; the authoritative one is the store's unique
`retry_active` constraint on insert.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ee_retry.domain.access import Access, denial, may_access
from ee_retry.domain.ids import is_commit_hash, is_job_id
from ee_retry.domain.model import RETRYABLE_STATUSES, Job
from ee_retry.domain.values import Permission, User
from ee_retry.errors import EERetryError, InvalidJobId, RetryInFlight, RetryNotAllowed, shown


@dataclass(frozen=True)
class RetryItem:
    """One named id and what the store and workspace said about it."""

    named_id: object  # as received; may not even be a string
    user: User
    as_admin: bool
    jobs: Mapping[str, Job]  # named jobs, their originals and batch containers, by id
    perms: Mapping[int, Permission] = field(default_factory=dict)
    active: Mapping[str, str] = field(default_factory=dict)  # original id -> attempt in flight

    @property
    def named(self) -> Job | None:
        return self.jobs.get(self.named_id) if isinstance(self.named_id, str) else None

    @property
    def original(self) -> Job | None:
        named = self.named
        return None if named is None else self.jobs.get(named.original_id)


Check = Callable[[RetryItem], EERetryError | None]


def id_is_well_formed(item: RetryItem) -> EERetryError | None:
    if not is_job_id(item.named_id):
        return InvalidJobId.of(item.named_id)
    return None


def caller_may_write_job(item: RetryItem) -> EERetryError | None:
    named = item.named
    if named is None or not may_access(item.user, named, item.perms, Access.WRITE, item.as_admin):
        return denial(str(item.named_id), Access.WRITE)
    return None


Condition = Callable[[RetryItem, Job], bool]


def _refuses_unless(message: str) -> Callable[[Condition], Check]:
    """A check from a condition a named job must meet: when it does not, RetryNotAllowed with
    `message`, formatted with the named job (`named`) and its original (`original`). An id that names
    no job is left to the checks before, which refuse it."""

    def check_of(condition: Condition) -> Check:
        @functools.wraps(condition)
        def check(item: RetryItem) -> EERetryError | None:
            named = item.named
            if named is None or condition(item, named):
                return None
            return RetryNotAllowed(message.format(named=named, original=item.original))

        return check

    return check_of


@_refuses_unless("Cannot retry batch job parents. Must retry individual jobs")
def not_a_batch_container(item: RetryItem, named: Job) -> bool:
    return not named.batch_job


@_refuses_unless(
    "Error retrying job {named.id} with status {named.status.value}: "
    "can only retry jobs with status 'error' or 'terminated'"
)
def status_is_retryable(item: RetryItem, named: Job) -> bool:
    return named.status in RETRYABLE_STATUSES


@_refuses_unless("Job {named.id} names a retry_parent {named.retry_parent} that does not exist")
def original_is_present(item: RetryItem, named: Job) -> bool:
    return item.original is not None


def commit_is_pinned(item: RetryItem) -> EERetryError | None:
    """A retry runs the commit the original ran; an original that records none cannot be retried
    (resolving a tag now could run different code)."""
    original = item.original
    job_input = None if original is None else original.job_input
    if original is None or job_input is None or is_commit_hash(job_input.service_ver):
        return None
    return RetryNotAllowed(
        f"Cannot retry job {original.id}: it records no pinned commit "
        f"(service_ver {shown(job_input.service_ver)}), "
        "so the code it ran cannot be reproduced; start it again with run_job"
    )


@_refuses_unless(
    "Job {named.id} is an attempt of job {original.id}, which you may not write; "
    "retrying an attempt retries its original and needs write access to it"
)
def caller_may_write_original(item: RetryItem, named: Job) -> bool:
    """Naming an attempt retries its original, so the caller must be allowed to write that too (as in
    ee2, whose retry of an attempt is a retry of its parent)."""
    original = item.original
    if original is None or original.id == named.id:
        return True
    return may_access(item.user, original, item.perms, Access.WRITE, item.as_admin)


@_refuses_unless(
    "Job {named.id} belongs to batch {named.batch_id}, which you may not write; "
    "retrying a batch child needs write access to its batch"
)
def caller_may_write_container(item: RetryItem, named: Job) -> bool:
    if named.batch_id is None:
        return True
    container = item.jobs.get(named.batch_id)
    return container is not None and may_access(item.user, container, item.perms, Access.WRITE, item.as_admin)


def no_attempt_in_flight(item: RetryItem) -> EERetryError | None:
    original = item.original
    if original is None:
        return None
    attempt = item.active.get(original.id)
    if attempt is not None:
        return RetryInFlight(in_flight_message(original.id, attempt))
    return None


CHECKS: tuple[Check, ...] = (
    id_is_well_formed,
    caller_may_write_job,
    not_a_batch_container,
    status_is_retryable,
    original_is_present,
    caller_may_write_original,
    caller_may_write_container,
    commit_is_pinned,
    no_attempt_in_flight,
)


def preflight(item: RetryItem, checks: tuple[Check, ...] = CHECKS) -> EERetryError | None:
    """The first check that refuses the item, or None when it may be retried."""
    for check in checks:
        err = check(item)
        if err is not None:
            return err
    return None


def in_flight_message(original_id: str, attempt_id: str | None) -> str:
    """The error an item gets when the store's guard refuses its attempt."""
    which = f" ({attempt_id})" if attempt_id else ""
    return (
        f"Job {original_id} already has an attempt in flight{which}; "
        "wait for it to finish or cancel it before retrying again"
    )


def same_original_message(named_id: str, original_id: str, attempt_id: str) -> str:
    """Two items of one request resolve to one original: the second names the first's attempt."""
    if named_id == original_id:
        which = f"Job {original_id} is already retried by this request"
    else:
        which = f"Job {named_id} is an attempt of {original_id}, which this request already retries"
    return f"{which} as {attempt_id}; one new attempt per original per request"
