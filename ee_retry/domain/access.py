"""Who may read or write a job: the owner, a workspace reader or writer, or an admin with as_admin."""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import NamedTuple

from ee_retry.domain.model import Job
from ee_retry.domain.values import Permission, User
from ee_retry.errors import JobNotFound, PermissionDenied


class Access(str, Enum):
    """What a call does to a job."""

    READ = "read"  # check_job, logs, lineage
    WRITE = "write"  # cancel, retry, runner callbacks


def check_admin_flag(user: User, as_admin: bool, access: Access, action: str = "change jobs") -> None:
    """`as_admin` from a caller without the matching admin role is refused outright (as in ee2)."""
    if not as_admin:
        return
    if access is Access.WRITE and not user.is_admin:
        if user.is_read_admin:
            raise PermissionDenied(
                f"Read-only admins (EE2_ADMIN_RO) cannot {action}; this needs the EE2_ADMIN role"
            )
        raise PermissionDenied("as_admin needs the EE2_ADMIN role, which you do not have")
    if access is Access.READ and not user.is_read_admin:
        raise PermissionDenied("as_admin needs the EE2_ADMIN or EE2_ADMIN_RO role, which you do not have")


class JobOwner(NamedTuple):
    """What access to a job depends on, read from its stored document without building the job."""

    user: str
    wsid: int | None


def may_access(
    user: User, job: Job | JobOwner, perms: Mapping[int, Permission], access: Access, as_admin: bool
) -> bool:
    """True if `user` may read or write `job` (perms: the user's permission on workspaces)."""
    if as_admin and (user.is_admin if access is Access.WRITE else user.is_read_admin):
        return True
    if job.user == user.name:
        return True
    if job.wsid is None:
        return False
    perm = perms.get(job.wsid, Permission.NONE)
    return perm.can_write if access is Access.WRITE else perm.can_read


def denial(job_id: str, access: Access) -> JobNotFound:
    """The error for a job the user may not touch; a non-admin cannot tell it from a missing job."""
    return JobNotFound(f"No job with id {job_id} that you may {access.value}")
