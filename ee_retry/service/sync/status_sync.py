"""Apply what the scheduler reports to job records, with conditional transitions only.

One pass: load the reported jobs (one read), compute transitions (domain), apply them (one bulk
write), remove procs the scheduler held on its own (ee2 left them in the queue), and refresh the
status of any batch container whose children moved.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence

from ee_retry.domain import status as rules
from ee_retry.domain.model import ACTIVE_STATUSES, TERMINAL_STATUSES, Job, JobStatus
from ee_retry.domain.values import JobQuery, ProcState, SchedulerProc, Transition
from ee_retry.service.deps import Deps

log = logging.getLogger(__name__)

_REFRESH_ROUNDS = 4
_ENDED = frozenset({ProcState.COMPLETED, ProcState.REMOVED})


async def apply_procs(deps: Deps, procs: Sequence[SchedulerProc]) -> set[str]:
    """Apply scheduler reports; returns the ids of jobs that changed."""
    reported: dict[str, list[SchedulerProc]] = {}
    for proc in procs:
        reported.setdefault(proc.job_id, []).append(proc)
    if not reported:
        return set()
    jobs = await deps.store.get_jobs(sorted(reported))
    by_job = {j: _speaking(ps, jobs.get(j)) for j, ps in reported.items()}
    now = deps.clock.now()
    changes = [
        change for job in jobs.values() if (change := rules.from_proc(job, by_job[job.id], now)) is not None
    ]
    changed = await deps.store.transition(changes) if changes else set()
    # A proc the scheduler held on its own is removed once its job is over: marked error by this
    # pass, or already finished (the runner reported before its non-zero exit put the proc on hold).
    held = [
        p.scheduler_id
        for j, p in by_job.items()
        if p.state is ProcState.HELD
        and not p.held_by_us
        and p.in_queue
        and j in jobs
        and (j in changed or jobs[j].status.terminal)
    ]
    if held:
        await deps.scheduler.remove(held, "held job marked error by ee-retry")
    failed_retries = [
        j for j in changed if jobs[j].retry_parent and _new_status(changes, j) is JobStatus.ERROR
    ]
    deps.metrics.retries_failed.inc(len(failed_retries))
    await refresh_containers(deps, {jobs[j].batch_id for j in changed if jobs[j].batch_id})
    deps.scheduler.forget_recorded(_recorded_ends(procs, jobs, changes, changed))
    return changed


def _speaking(procs: Sequence[SchedulerProc], job: Job | None) -> SchedulerProc:
    """The report that speaks for a job: its recorded proc's, not a duplicate's that came later."""
    recorded = [p for p in procs if job is not None and p.scheduler_id == job.scheduler_id]
    return (recorded or list(procs))[-1]


def _recorded_ends(
    procs: Sequence[SchedulerProc], jobs: Mapping[str, Job], changes: Sequence[Transition], changed: set[str]
) -> list[str]:
    """Finished procs whose job the store now records as over (before this pass or by it), or no
    longer holds: nothing the scheduler says of them can change a record any more."""
    ended_now = {t.job_id for t in changes if t.job_id in changed and t.new.terminal}

    def over(job_id: str) -> bool:
        job = jobs.get(job_id)
        return job is None or job.status.terminal or job_id in ended_now

    return [p.scheduler_id for p in procs if p.state in _ENDED and over(p.job_id)]


def _new_status(changes: Sequence[Transition], job_id: str) -> JobStatus | None:
    return next((t.new for t in changes if t.job_id == job_id), None)


async def refresh_containers(deps: Deps, batch_ids: set[str | None]) -> dict[str, JobStatus]:
    """Set each container's status from the latest attempt of each child; returns the containers
    this call moved, with their new status.

    Each write expects the status it read, so a concurrent cancel or refresh is never overwritten.
    A container written, or whose write lost, is read again and recomputed: a concurrent refresh that
    found nothing to change may have read children this write did not see. A few rounds at most.
    """
    ids = sorted(b for b in batch_ids if b)
    moved: dict[str, JobStatus] = {}
    for _ in range(_REFRESH_ROUNDS):
        if not ids:
            return moved
        changes = await container_changes(deps, ids)
        if not changes:
            return moved
        changed = await deps.store.transition(changes)
        moved |= {t.job_id: t.new for t in changes if t.job_id in changed}
        ids = sorted(t.job_id for t in changes)
    log.warning("batch status of %s kept changing under refresh; left for the next report", ids)
    return moved


async def refresh_unfinished_containers(
    deps: Deps, also: set[str | None] | None = None
) -> dict[str, JobStatus]:
    """Set every unfinished batch container (and those in `also`) from its children: a crash between
    a child's last report and its container's refresh leaves the container behind, and no later
    report of that child comes to refresh it. Start-up recovery and the reaper run this."""
    ids: set[str | None] = set(await unfinished_containers(deps))
    return await refresh_containers(deps, ids | (also or set()))


async def unfinished_containers(deps: Deps) -> list[str]:
    """The ids of the batch containers that are not terminal."""
    active = await deps.store.find_jobs(JobQuery(statuses=sorted(ACTIVE_STATUSES)))
    return [j.id for j in active if j.batch_job]


async def container_changes(deps: Deps, ids: Sequence[str]) -> list[Transition]:
    """The transitions that set these containers from their children (reads only, writes nothing)."""
    containers = await deps.store.get_jobs(ids)
    child_ids = sorted({c for b in containers.values() for c in b.child_jobs})
    children = await deps.store.get_jobs(child_ids)
    now = deps.clock.now()
    changes: list[Transition] = []
    for container in containers.values():
        status = rules.container_status([children[c] for c in container.child_jobs if c in children])
        if status is None or status is container.status:
            continue
        fields: dict[str, object] = {"updated": now}
        if status in TERMINAL_STATUSES:
            fields["finished"] = now
        changes.append(Transition(container.id, frozenset({container.status}), status, fields))
    return changes


class StatusFeed:
    """Collects reports pushed by the local executor and applies them in order, in batches."""

    def __init__(self, deps: Deps) -> None:
        self._deps = deps
        self._queue: asyncio.Queue[SchedulerProc] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def push(self, proc: SchedulerProc) -> None:
        self._queue.put_nowait(proc)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ee-retry-status-feed")

    async def drain(self) -> None:
        """Wait until every report pushed so far is applied."""
        await self._queue.join()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await _apply_in_order(self._deps, batch)
            except Exception:
                log.exception("applying %d scheduler reports failed", len(batch))
            finally:
                for _ in batch:
                    self._queue.task_done()


async def _apply_in_order(deps: Deps, batch: Sequence[SchedulerProc]) -> None:
    """Reports of one job must be applied in order (idle, running, completed); group into rounds."""
    rounds: list[list[SchedulerProc]] = []
    depth: dict[str, int] = {}
    for proc in batch:
        round_index = depth.get(proc.job_id, 0)
        depth[proc.job_id] = round_index + 1
        if round_index == len(rounds):
            rounds.append([])
        rounds[round_index].append(proc)
    for procs in rounds:
        await apply_procs(deps, procs)
