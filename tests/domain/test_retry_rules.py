"""Every preflight check of a retry, one item at a time, with no store: the error class and message
each refusal gives, in the order the checks run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from ee_retry.domain import retry_rules as rules
from ee_retry.domain.ids import new_id
from ee_retry.domain.model import Job, JobInput, JobStatus
from ee_retry.domain.values import Permission, User
from ee_retry.errors import EERetryError, InvalidJobId, JobNotFound, RetryInFlight, RetryNotAllowed
from tests.builders import make_job
from tests.domain.helpers import ADMIN, ALICE, BOB

FAILED = JobStatus.ERROR


@dataclass
class Case:
    """What a check sees: the named job and its relatives, and the caller's standing."""

    named: Job | None
    others: list[Job] = field(default_factory=list)
    user: User = ALICE
    as_admin: bool = False
    perms: dict[int, Permission] = field(default_factory=dict)
    active: dict[str, str] = field(default_factory=dict)
    named_id: object = None

    def item(self) -> rules.RetryItem:
        jobs = {j.id: j for j in [*([self.named] if self.named else []), *self.others]}
        named_id = self.named_id if self.named_id is not None else getattr(self.named, "id", new_id())
        return rules.RetryItem(named_id, self.user, self.as_admin, jobs, self.perms, self.active)


def _malformed() -> tuple[Case, str]:
    return Case(None, named_id="nope"), "Invalid job id 'nope': a job id is 24 hexadecimal characters"


def _missing() -> tuple[Case, str]:
    missing = new_id()
    return Case(None, named_id=missing), f"No job with id {missing} that you may write"


def _not_writable() -> tuple[Case, str]:
    job = make_job(user="bob", status=FAILED, wsid=9)
    return Case(job, perms={9: Permission.READ}), f"No job with id {job.id} that you may write"


def _container() -> tuple[Case, str]:
    job = make_job(status=FAILED, batch_job=True, job_input=None)
    return Case(job), "Cannot retry batch job parents. Must retry individual jobs"


def _running() -> tuple[Case, str]:
    job = make_job(status=JobStatus.RUNNING)
    return Case(job), (
        f"Error retrying job {job.id} with status running: "
        "can only retry jobs with status 'error' or 'terminated'"
    )


def _parent_missing() -> tuple[Case, str]:
    parent = new_id()
    job = make_job(status=FAILED, retry_parent=parent)
    return Case(job), f"Job {job.id} names a retry_parent {parent} that does not exist"


def _original_not_writable() -> tuple[Case, str]:
    original = make_job(user="bob", status=FAILED, wsid=9)
    attempt = make_job(status=FAILED, retry_parent=original.id, wsid=9)
    return Case(attempt, [original], perms={9: Permission.READ}), (
        f"Job {attempt.id} is an attempt of job {original.id}, which you may not write; "
        "retrying an attempt retries its original and needs write access to it"
    )


def _container_not_writable() -> tuple[Case, str]:
    container = make_job(user="bob", status=FAILED, batch_job=True, job_input=None, wsid=9)
    child = make_job(status=FAILED, batch_id=container.id, wsid=9)
    return Case(child, [container], perms={9: Permission.READ}), (
        f"Job {child.id} belongs to batch {container.id}, which you may not write; "
        "retrying a batch child needs write access to its batch"
    )


def _unpinned() -> tuple[Case, str]:
    job = make_job(status=FAILED, job_input=JobInput(method="Mod.run", service_ver="release", wsid=7))
    return Case(job), (
        f"Cannot retry job {job.id}: it records no pinned commit (service_ver 'release'), "
        "so the code it ran cannot be reproduced; start it again with run_job"
    )


def _in_flight() -> tuple[Case, str]:
    job = make_job(status=FAILED)
    attempt = new_id()
    return Case(job, active={job.id: attempt}), rules.in_flight_message(job.id, attempt)


REFUSALS: list[tuple[str, Callable[[], tuple[Case, str]], type[EERetryError]]] = [
    ("id_is_well_formed", _malformed, InvalidJobId),
    ("caller_may_write_job", _missing, JobNotFound),
    ("caller_may_write_job", _not_writable, JobNotFound),
    ("not_a_batch_container", _container, RetryNotAllowed),
    ("status_is_retryable", _running, RetryNotAllowed),
    ("original_is_present", _parent_missing, RetryNotAllowed),
    ("caller_may_write_original", _original_not_writable, RetryNotAllowed),
    ("caller_may_write_container", _container_not_writable, RetryNotAllowed),
    ("commit_is_pinned", _unpinned, RetryNotAllowed),
    ("no_attempt_in_flight", _in_flight, RetryInFlight),
]


def test_every_check_of_the_pipeline_has_a_refusal_below() -> None:
    assert {c.__name__ for c in rules.CHECKS} == {name for name, _, _ in REFUSALS}


@pytest.mark.parametrize(("check", "build", "cls"), REFUSALS, ids=[f.__name__[1:] for _, f, _ in REFUSALS])
def test_each_check_refuses_with_its_class_and_message(
    check: str, build: Callable[[], tuple[Case, str]], cls: type[EERetryError]
) -> None:
    case, message = build()
    err = rules.preflight(case.item())
    assert type(err) is cls
    assert err is not None and err.message == message
    own: Any = getattr(rules, check)
    assert type(own(case.item())) is cls  # the named check is the one that speaks


def test_a_retryable_job_of_ones_own_passes_every_check() -> None:
    for status in (JobStatus.ERROR, JobStatus.TERMINATED):
        assert rules.preflight(Case(make_job(status=status)).item()) is None


@pytest.mark.parametrize(
    ("perm", "allowed"), [(Permission.ADMIN, True), (Permission.WRITE, True), (Permission.READ, False)]
)
def test_workspace_writers_may_retry_another_users_job(perm: Permission, allowed: bool) -> None:
    job = make_job(user="bob", status=FAILED, wsid=9)
    err = rules.preflight(Case(job, perms={9: perm}).item())
    assert (err is None) is allowed


def test_an_admin_with_as_admin_may_retry_anyones_job_and_without_it_may_not() -> None:
    job = make_job(user="bob", status=FAILED, wsid=9)
    assert rules.preflight(Case(job, user=ADMIN, as_admin=True).item()) is None
    assert type(rules.preflight(Case(job, user=ADMIN).item())) is JobNotFound


def test_naming_an_attempt_checks_the_original_that_it_retries() -> None:
    original = make_job(status=FAILED)
    attempt = make_job(status=FAILED, retry_parent=original.id)
    assert rules.preflight(Case(attempt, [original]).item()) is None
    in_flight = rules.preflight(Case(attempt, [original], active={original.id: attempt.id}).item())
    assert type(in_flight) is RetryInFlight


def test_the_first_refusing_check_speaks_when_several_would() -> None:
    """A running container of someone else's: not being allowed to write it comes first."""
    job = make_job(user="bob", status=JobStatus.RUNNING, batch_job=True, job_input=None, wsid=9)
    assert type(rules.preflight(Case(job, user=BOB, perms={}).item())) is RetryNotAllowed
    assert type(rules.preflight(Case(job).item())) is JobNotFound


def test_two_items_with_one_original_name_the_first_attempt() -> None:
    original, attempt, first = new_id(), new_id(), new_id()
    assert rules.same_original_message(original, original, first) == (
        f"Job {original} is already retried by this request as {first}; "
        "one new attempt per original per request"
    )
    assert rules.same_original_message(attempt, original, first).startswith(
        f"Job {attempt} is an attempt of {original}, which this request already retries as {first}"
    )


def test_the_stores_guard_and_the_check_give_one_message() -> None:
    job = make_job(status=FAILED)
    err = rules.no_attempt_in_flight(Case(job, active={job.id: "a" * 24}).item())
    assert err is not None and err.message == rules.in_flight_message(job.id, "a" * 24)
    assert rules.in_flight_message(job.id, None) == (
        f"Job {job.id} already has an attempt in flight; "
        "wait for it to finish or cancel it before retrying again"
    )
