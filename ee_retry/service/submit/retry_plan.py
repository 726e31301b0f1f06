"""Plan a retry request: load what it names, run the preflight pipeline, choose one attempt per original.

Reads only: two job reads (named jobs, then originals, batch containers and each original's latest
attempt not yet loaded; a third only when a named attempt's original had to be read first), one
workspace call, and one catalog lookup per distinct pinned commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ee_retry.domain.ids import is_job_id, new_id
from ee_retry.domain.jobs import new_attempt
from ee_retry.domain.model import ACTIVE_STATUSES, Job, JobRequirements
from ee_retry.domain.retry_rules import RetryItem, preflight
from ee_retry.domain.values import User
from ee_retry.errors import EERetryError, UnknownModule
from ee_retry.service.access import permissions_for
from ee_retry.service.deps import Deps
from ee_retry.service.submit.requests import RetryRequest


@dataclass
class ItemPlan:
    """One named id: the attempt planned for it, or why not."""

    named_id: object
    original_id: str | None = None
    attempt: Job | None = None
    error: EERetryError | None = None
    same_as: int | None = None  # index of the earlier item that retries the same original


@dataclass
class RetryPlan:
    items: list[ItemPlan]
    op_id: str
    now: float
    attempts: list[Job] = field(default_factory=list)


async def plan_retry(deps: Deps, user: User, req: RetryRequest) -> RetryPlan:
    """Everything decided before any write."""
    jobs = await _load(deps, req)
    perms = await permissions_for(deps, user, jobs.values(), req.as_admin)
    active = _latest_in_flight(jobs)
    now = deps.clock.now()
    plan = RetryPlan(items=[], op_id=new_id(now), now=now)
    first_for: dict[str, int] = {}
    for index, named_id in enumerate(req.job_ids):
        item = RetryItem(
            named_id=named_id, user=user, as_admin=req.as_admin, jobs=jobs, perms=perms, active=active
        )
        entry = ItemPlan(named_id=named_id, error=preflight(item))
        original = item.original
        if entry.error is None and original is not None:
            entry.original_id = original.id
            if original.id in first_for:
                entry.same_as = first_for[original.id]
            else:
                first_for[original.id] = index
                requirements = req.job_requirements.apply(_reqs(original)) if req.job_requirements else None
                own = (req.requirements_by_original or {}).get(original.id)
                if own is not None:
                    requirements = own.apply(requirements or _reqs(original))
                owner = original.user if req.owner_keeps_attempts else user.name
                entry.attempt = new_attempt(original, new_id(now), owner, now, plan.op_id, requirements)
        plan.items.append(entry)
    await _check_commits(deps, plan)
    plan.attempts = [i.attempt for i in plan.items if i.attempt is not None]
    return plan


def _reqs(job: Job) -> JobRequirements:
    assert job.job_input is not None
    return job.job_input.requirements


async def _load(deps: Deps, req: RetryRequest) -> dict[str, Job]:
    """Named jobs, then the originals, batch containers and latest attempts they point to."""
    ids = [str(i) for i in req.job_ids if is_job_id(i)]
    jobs = await deps.store.get_jobs(ids) if ids else {}
    for _ in range(2):  # the second round only for originals first read in the first
        missing = sorted(_referenced(jobs) - set(jobs))
        if not missing:
            break
        jobs.update(await deps.store.get_jobs(missing))
    return jobs


def _referenced(jobs: Mapping[str, Job]) -> set[str]:
    """Originals and batch containers of the loaded jobs, and the latest attempt of each original."""
    refs: set[str] = set()
    for job in jobs.values():
        refs.update(r for r in (job.retry_parent, job.batch_id) if r is not None)
        if job.retry_parent is None and job.retry_ids:
            refs.add(job.retry_ids[-1])
    return refs


def _latest_in_flight(jobs: Mapping[str, Job]) -> dict[str, str]:
    """original id -> its latest linked attempt, when that one is not finished. The store's guard
    catches this service's own attempts anyway; this also catches ones another writer (ee2) made."""
    out: dict[str, str] = {}
    for job in jobs.values():
        latest = jobs.get(job.retry_ids[-1]) if job.retry_parent is None and job.retry_ids else None
        if latest is not None and latest.status in ACTIVE_STATUSES:
            out[job.id] = latest.id
    return out


async def _check_commits(deps: Deps, plan: RetryPlan) -> None:
    """The pinned commit must still be known to the catalog; otherwise the item fails, nothing written."""
    known: dict[tuple[str, str], EERetryError | None] = {}
    for item in plan.items:
        attempt = item.attempt
        if attempt is None or attempt.job_input is None:
            continue
        key = (attempt.job_input.module, attempt.job_input.service_ver)
        if key not in known:
            try:
                await deps.catalog.resolve(*key)
                known[key] = None
            except UnknownModule as exc:
                known[key] = UnknownModule(
                    f"Cannot retry job {item.original_id}: its pinned version {key[1]} of module {key[0]} "
                    f"is no longer known to the catalog ({exc.message})"
                )
        if known[key] is not None:
            item.error, item.attempt = known[key], None


def conflicts_by_original(plan: RetryPlan, conflicts: Mapping[str, str | None]) -> dict[str, str | None]:
    """original id -> the attempt in flight that the store's guard reported."""
    return {
        i.original_id: conflicts[i.attempt.id]
        for i in plan.items
        if i.attempt is not None and i.original_id is not None and i.attempt.id in conflicts
    }
