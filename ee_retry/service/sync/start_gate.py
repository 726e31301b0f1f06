"""The local executor's start gate: a proc that waited for a slot starts only if its job still waits."""

from __future__ import annotations

import logging

from ee_retry.domain.model import STARTABLE_STATUSES
from ee_retry.service.deps import Deps

log = logging.getLogger(__name__)


async def may_start(deps: Deps, job_id: str) -> bool:
    """The local executor's start gate: start a waiting proc only if its job still waits for it.

    Another process (the `ee-retry-reaper` cron command, another service instance) may have cancelled
    or finished the job in the store while its proc waited for a slot in this process's executor.
    """
    try:
        job = (await deps.store.get_jobs([job_id])).get(job_id)
    except Exception as exc:
        # Fail open. Refusing drops the proc as removed, and that report cancels the job once the store
        # answers again, so a store outage would cancel every job that reached a slot during it. A
        # start that should not have happened costs one run whose report cannot change a job that is
        # already finished or cancelled (every status change is conditional).
        log.warning("cannot read job %s before starting it; starting it anyway: %s", job_id, exc)
        return True
    return job is not None and job.status in STARTABLE_STATUSES
