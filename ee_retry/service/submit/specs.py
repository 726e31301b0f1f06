"""Turn job records into scheduler specs, resolving each pinned commit's command through the catalog."""

from __future__ import annotations

from collections.abc import Sequence

from ee_retry.domain.model import Job
from ee_retry.domain.values import ResolvedVersion, SubmitSpec
from ee_retry.errors import InvalidParams
from ee_retry.service.deps import Deps


def spec_for(job: Job, version: ResolvedVersion, token: str | None) -> SubmitSpec:
    """The scheduler's view of one job: plain data only."""
    ji = job.job_input
    assert ji is not None, "batch containers are not submitted"
    return SubmitSpec(
        job_id=job.id,
        user=job.user,
        method=ji.method,
        service_ver=ji.service_ver,
        requirements=ji.requirements,
        app_id=ji.app_id,
        wsid=ji.wsid,
        parent_job_id=ji.parent_job_id,
        batch_id=job.batch_id,
        source_ws_objects=ji.source_ws_objects,
        params=ji.params,
        command=version.command,
        token=token,
    )


async def resolve_pinned(deps: Deps, jobs: Sequence[Job]) -> dict[tuple[str, str], ResolvedVersion]:
    """Each distinct (module, commit) among the jobs, resolved once; raises UnknownModule."""
    resolved: dict[tuple[str, str], ResolvedVersion] = {}
    for job in jobs:
        ji = job.job_input
        if ji is None:
            continue
        key = (ji.module, ji.service_ver)
        if key not in resolved:
            resolved[key] = await deps.catalog.resolve(ji.module, ji.service_ver, ji.method.split(".", 1)[1])
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
            ji = job.job_input
            if ji is not None:
                out[job.id] = spec_for(job, versions[(ji.module, ji.service_ver)], self._token)
        return out
