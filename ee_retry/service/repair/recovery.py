"""Start-up recovery for the local executor: nothing stays `running` forever after a crash.

The local executor's queue lives in the service's memory, so after a crash (SIGKILL, reboot) it holds
nothing. At start: kill job processes left over from the previous instance, finish incomplete
operations (their unsubmitted jobs are submitted again), then mark every other local job that was
queued or running `error`, saying why, and set every unfinished batch container from its children
(a crash between a child's last report and its container's refresh leaves the container behind).

A job of this service counts as local when it records the local executor, and also when it records no
scheduler at all while its operation is finished: a database that lost the write recording its proc
(an acknowledged write lost as the server died) left it active with nothing that could ever move it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ee_retry.domain import status as rules
from ee_retry.domain.model import ACTIVE_STATUSES, ErrorCode, Job
from ee_retry.domain.values import JobQuery, OperationQuery
from ee_retry.service.deps import Deps
from ee_retry.service.repair.reconcile import reconcile
from ee_retry.service.submit.submission import INCOMPLETE
from ee_retry.service.sync.status_sync import refresh_unfinished_containers


async def recover_local(deps: Deps, kill_leftovers: Callable[[Sequence[str]], Sequence[str]]) -> list[str]:
    """Returns the ids of jobs marked error."""
    active = await deps.store.find_jobs(JobQuery(statuses=sorted(ACTIVE_STATUSES)))
    local = [j for j in active if _maybe_local(deps, j)]
    kill_leftovers([j.id for j in local])
    await reconcile(deps, grace_s=0.0)
    held = {p.job_id for p in await deps.scheduler.poll()}
    pending = {op.id for op in await deps.store.find_operations(OperationQuery(states=list(INCOMPLETE)))}
    now = deps.clock.now()
    lost = [
        j
        for j in local
        if j.id not in held and (j.scheduler_type is not None or j.operation_id not in pending)
    ]
    changes = [
        rules.failed(
            j.id,
            f"The service stopped while this job was {j.status.value}; the job did not finish. Retry it.",
            ErrorCode.JOB_CRASHED,
            now,
        )
        for j in lost
    ]
    changed = await deps.store.transition(changes) if changes else set()
    await refresh_unfinished_containers(deps, {j.batch_id for j in lost if j.id in changed})
    return sorted(changed)


def _maybe_local(deps: Deps, job: Job) -> bool:
    """A job the local executor may have held: it records it, or (submitted by this service, which
    sets the operation id) it records no scheduler yet."""
    if job.batch_job:
        return False
    if job.scheduler_type is None:
        return job.operation_id is not None
    return job.scheduler_type == deps.scheduler.scheduler_type
