"""Load jobs and the caller's workspace permissions in bulk, then decide access per job."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ee_retry.constants import MAX_JOB_IDS_PER_CALL
from ee_retry.domain.access import Access, JobOwner, check_admin_flag, denial, may_access
from ee_retry.domain.ids import is_job_id
from ee_retry.domain.model import Job
from ee_retry.domain.values import Permission, User
from ee_retry.errors import EERetryError, InvalidJobId, TooManyIds
from ee_retry.service.deps import Deps


def check_ids(ids: Sequence[object], what: str = "job_ids") -> list[str]:
    """Every id well formed and the list bounded; raise before any query otherwise."""
    if len(ids) > MAX_JOB_IDS_PER_CALL:
        raise TooManyIds(f"{len(ids)} ids in {what}; at most {MAX_JOB_IDS_PER_CALL} per call")
    for job_id in ids:
        if not is_job_id(job_id):
            raise InvalidJobId.of(job_id)
    return [str(j) for j in ids]


async def permissions_for(
    deps: Deps, user: User, jobs: Iterable[Job | JobOwner], as_admin: bool
) -> dict[int, Permission]:
    """The caller's permission on the workspaces of jobs they do not own (one workspace call)."""
    if as_admin:
        return {}
    wsids = sorted({j.wsid for j in jobs if j.user != user.name and j.wsid is not None})
    if not wsids:
        return {}
    return await deps.workspace.permissions(user, wsids)


async def load_accessible(
    deps: Deps, user: User, ids: Sequence[str], access: Access, as_admin: bool
) -> dict[str, Job | EERetryError]:
    """Each id mapped to its job, or to the error the caller gets for it (missing looks like denied)."""
    check_admin_flag(user, as_admin, access)
    jobs = await deps.store.get_jobs(ids)
    perms = await permissions_for(deps, user, jobs.values(), as_admin)
    return {job_id: _decide(user, jobs.get(job_id), job_id, perms, access, as_admin) for job_id in ids}


async def load_readable_docs(
    deps: Deps, user: User, ids: Sequence[str], as_admin: bool
) -> dict[str, dict[str, Any] | EERetryError]:
    """load_accessible for reading, on stored documents (no job built): each id mapped to its
    document, or to the error the caller gets for it."""
    check_admin_flag(user, as_admin, Access.READ)
    docs = await deps.store.get_job_docs(ids)
    owners = {job_id: JobOwner(doc["user"], doc.get("wsid")) for job_id, doc in docs.items()}
    perms = await permissions_for(deps, user, owners.values(), as_admin)
    return {
        job_id: docs[job_id]
        if job_id in owners and may_access(user, owners[job_id], perms, Access.READ, as_admin)
        else denial(job_id, Access.READ)
        for job_id in ids
    }


async def load_one(deps: Deps, user: User, job_id: object, access: Access, as_admin: bool) -> Job:
    """One job the caller may access, or the error."""
    [checked] = check_ids([job_id], "job_id")
    found = (await load_accessible(deps, user, [checked], access, as_admin))[checked]
    if isinstance(found, EERetryError):
        raise found
    return found


def _decide(
    user: User, job: Job | None, job_id: str, perms: Mapping[int, Permission], access: Access, as_admin: bool
) -> Job | EERetryError:
    if job is None or not may_access(user, job, perms, access, as_admin):
        return denial(job_id, access)
    return job
