"""What resubmitted jobs cost, for job_stats: core-hours (requested cpus x wall hours) by status, the
core-hours of retry attempts that failed again, and automatic versus manual retries.

One read of the jobs in scope (at most COST_MAX_JOBS, newest first; `truncated` says when there
were more). A job still running counts its wall time up to now.
"""

from __future__ import annotations

from dataclasses import dataclass

from ee_retry import constants
from ee_retry.domain.model import JobStatus
from ee_retry.domain.policy.rules import core_hours, system_terminated
from ee_retry.domain.values import JobQuery
from ee_retry.service.deps import Deps


@dataclass(frozen=True)
class Cost:
    core_hours: dict[str, float]  # by status
    failed_again_core_hours: float  # retry attempts that ended in error or were terminated by the system
    automatic_retries: int
    manual_retries: int
    jobs_counted: int
    truncated: bool

    def to_wire(self) -> dict[str, object]:
        return {
            "core_hours": {k: round(v, 3) for k, v in self.core_hours.items()},
            "failed_again_core_hours": round(self.failed_again_core_hours, 3),
            "automatic_retries": self.automatic_retries,
            "manual_retries": self.manual_retries,
            "jobs_counted": self.jobs_counted,
            "truncated": self.truncated,
        }


async def job_cost(deps: Deps, user: str | None, since: float | None) -> Cost:
    limit = constants.COST_MAX_JOBS
    query = JobQuery(
        users=[user] if user is not None else None,
        created_from=since,
        exclude_batch_containers=True,
        ascending=False,
        limit=limit + 1,
    )
    jobs = await deps.store.find_jobs(query)
    truncated = len(jobs) > limit
    jobs = jobs[:limit]
    now = deps.clock.now()
    by_status = dict.fromkeys((s.value for s in JobStatus), 0.0)
    failed_again = 0.0
    attempts = automatic = 0
    for job in jobs:
        cpus = job.job_input.requirements.cpus if job.job_input else 1
        end = job.finished if job.status.terminal else now
        hours = core_hours(cpus, job.running, end)
        by_status[job.status.value] += hours
        if job.retry_parent is not None:
            attempts += 1
            if job.status is JobStatus.ERROR or system_terminated(job.status.value, job.terminated_code):
                failed_again += hours
        elif job.auto_retry:
            automatic += int(job.auto_retry.get("started") or 0)
    return Cost(by_status, failed_again, automatic, max(0, attempts - automatic), len(jobs), truncated)
