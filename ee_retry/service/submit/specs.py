"""Turn job records into scheduler specs, resolving each pinned commit's command through the catalog."""

from __future__ import annotations

from collections.abc import Sequence

from ee_retry.domain.model import Job
from ee_retry.domain.values import ResolvedVersion, SubmitSpec
from ee_retry.errors import InvalidParams
from ee_retry.service.deps import Deps

# The JobInput fields a scheduler spec carries unchanged, under the same names.
_FROM_JOB_INPUT = (
    "method",
    "service_ver",
    "requirements",
    "app_id",
    "wsid",
    "parent_job_id",
    "source_ws_objects",
    "params",
)


def spec_for(job: Job, version: ResolvedVersion, token: str | None) -> SubmitSpec:
    """The scheduler's view of one job: plain data only."""
    job_input = job.job_input
    assert job_input is not None, "batch containers are not submitted"
    copied = {name: getattr(job_input, name) for name in _FROM_JOB_INPUT}
    return SubmitSpec(
        job_id=job.id, user=job.user, batch_id=job.batch_id, command=version.command, token=token, **copied
    )


async def resolve_pinned(deps: Deps, jobs: Sequence[Job]) -> dict[tuple[str, str], ResolvedVersion]:
    """Each distinct (module, commit) among the jobs, resolved once; raises UnknownModule."""
    resolved: dict[tuple[str, str], ResolvedVersion] = {}
    for job in jobs:
        job_input = job.job_input
        if job_input is None:
            continue
        key = (job_input.module, job_input.service_ver)
        if key not in resolved:
            resolved[key] = await deps.catalog.resolve(
                job_input.module, job_input.service_ver, job_input.method.split(".", 1)[1]
            )
    return resolved


def specs_builder(deps: Deps, token: str | None) -> SpecsBuilder:
    return SpecsBuilder(deps, token)


class SpecsBuilder:
    """A `SpecsFor` callable: specs for jobs, resolving commits through the catalog (cached there)."""

    def __init__(self, deps: Deps, token: str | None) -> None:
        self._deps = deps
        self._token = token

    async def __call__(self, jobs: Sequence[Job]) -> dict[str, SubmitSpec]:
        if self._token is None and jobs and self._deps.scheduler.runs_with_owner_token:
            raise InvalidParams(
                f"{len(jobs)} jobs cannot be submitted without their owner's token on this scheduler"
            )
        versions = await resolve_pinned(self._deps, jobs)
        out: dict[str, SubmitSpec] = {}
        for job in jobs:
            job_input = job.job_input
            if job_input is not None:
                out[job.id] = spec_for(job, versions[(job_input.module, job_input.service_ver)], self._token)
        return out
