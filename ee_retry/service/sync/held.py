"""handle_held_job: what the status poller does for a proc the scheduler held, for one cluster on demand.

ee2's cron script `PurgeHeldJobs.py` calls it with the HTCondor cluster id of each hold event. A job
of this service runs as proc "<cluster>.<proc>" (a batch shares one cluster), an ee2 job as its bare
cluster id. Only a proc the scheduler itself holds changes anything: its job ends `error` and the
proc is removed, exactly as a poller pass would do; a job whose proc is not held is left alone.
"""

from __future__ import annotations

import re

from ee_retry.constants import MAX_BATCH_JOBS
from ee_retry.domain.access import Access, check_admin_flag
from ee_retry.domain.model import Job
from ee_retry.domain.values import JobQuery, ProcState, User
from ee_retry.errors import InvalidParams, JobNotFound, shown
from ee_retry.service.deps import Deps
from ee_retry.service.sync.status_sync import apply_procs

_CLUSTER_ID = re.compile(r"([0-9]{1,18})(?:\.([0-9]{1,9}))?")


def _parse(cluster_id: object) -> tuple[str, str | None]:
    text = str(cluster_id).strip() if isinstance(cluster_id, str | int) else ""
    match = _CLUSTER_ID.fullmatch(text) if not isinstance(cluster_id, bool) else None
    if match is None:
        raise InvalidParams(
            f"Invalid cluster_id {shown(cluster_id)}: an HTCondor cluster id such as '1234' or '1234.0'"
        )
    return match.group(1), match.group(2)


def _names(job: Job, cluster: str, proc: str | None) -> bool:
    """True when the job's recorded proc is the one named (any proc of the cluster when none is)."""
    sid = job.scheduler_id or ""
    if proc is None:
        return sid == cluster or sid.startswith(f"{cluster}.")
    return sid == f"{cluster}.{proc}" or (proc == "0" and sid == cluster)


async def handle_held_job(deps: Deps, user: User, cluster_id: object) -> Job:
    """Apply the scheduler's hold to the jobs of a cluster (EE2_ADMIN only); returns the held job
    (the cluster's first job when none of its procs is held)."""
    check_admin_flag(user, True, Access.WRITE, "handle held jobs")
    cluster, proc = _parse(cluster_id)
    found = await deps.store.find_jobs(JobQuery(scheduler_cluster=cluster, limit=MAX_BATCH_JOBS))
    jobs = [j for j in found if _names(j, cluster, proc)]
    if not jobs:
        raise JobNotFound(f"No job runs as scheduler cluster {cluster_id}")
    by_id = {j.id: j for j in jobs}
    procs = await deps.scheduler.procs_for_jobs(list(by_id))
    held = [
        p
        for p in procs
        if p.state is ProcState.HELD
        and not p.held_by_us
        and p.job_id in by_id
        and p.scheduler_id == by_id[p.job_id].scheduler_id
    ]
    if held:
        changed = await apply_procs(deps, held)
        now = deps.clock.now()
        for held_proc in held:
            if held_proc.job_id in changed:  # as ee2, the job's log says why it ended
                reason = held_proc.hold_reason or "no reason given"
                line = f"Job was held by the scheduler ({reason}); it ended in error"
                await deps.store.add_logs(held_proc.job_id, [{"line": line, "is_error": True, "ts": now}])
    first = held[0].job_id if held else jobs[0].id
    return (await deps.store.get_jobs([first]))[first]
