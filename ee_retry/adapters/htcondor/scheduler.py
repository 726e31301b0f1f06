"""The production Scheduler: HTCondor through htcondor2, every schedd call in a worker process.

A submission is one schedd transaction creating one cluster (proc i is job_ids[i]); a call that fails
after the schedd may have accepted raises SchedulerUnavailable, and the service asks
`procs_for_operation` before it submits again. Procs are found by the `ee_op_id` / `ee_job_id`
attributes every proc carries, in the queue and in the history.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ee_retry import constants
from ee_retry.adapters.clock import SystemClock
from ee_retry.adapters.htcondor import ads, safety
from ee_retry.adapters.htcondor.submit import SubmitParams, build_submit
from ee_retry.adapters.htcondor.worker import DEFAULT_WORKERS, ScheddWorkerPool, WorkerConfig
from ee_retry.domain.values import SchedulerKind, SchedulerProc, SubmitSpec
from ee_retry.errors import SchedulerUnavailable
from ee_retry.ports import Clock, Scheduler
from ee_retry.settings import Settings

log = logging.getLogger(__name__)

HISTORY_LOOKBACK_S = 86_400.0  # the first poll reads a day of history, so recent exits are not missed
HISTORY_OVERLAP_S = 600.0  # each poll re-reads 10 min of history: records land slightly out of order
MAX_IDS_PER_CONSTRAINT = 1_000  # job ids in one member(...) constraint; more go in further calls
MAX_REASON_CHARS = 200  # of a remove reason recorded in the job ad


class HTCondorScheduler(Scheduler):
    """Scheduler port over an HTCondor schedd (or, in tests, a fake one via `schedd_factory`)."""

    scheduler_type = SchedulerKind.CONDOR.value
    runs_with_owner_token = True  # the job runner calls back and reads the workspace as its owner

    def __init__(
        self,
        schedd_factory: str | None = None,
        *,
        runner: str,
        service_url: str,
        accounting_prefix: str = "ee2",
        schedd_name: str | None = None,
        log_dir: str = "runner_logs",
        initial_dir: str | None = None,
        transfer_input_files: Sequence[str] = (),
        factory_kwargs: Mapping[str, Any] | None = None,
        timeout_s: float = constants.SCHEDULER_CALL_TIMEOUT_S,
        workers: int = DEFAULT_WORKERS,
        start_method: str = "forkserver",
        clock: Clock | None = None,
    ) -> None:
        self._params = SubmitParams(
            runner=runner,
            service_url=service_url,
            accounting_prefix=accounting_prefix,
            log_dir=log_dir,
            initial_dir=initial_dir,
            transfer_input_files=tuple(transfer_input_files),
        )
        config = WorkerConfig(schedd_factory, dict(factory_kwargs or {}), schedd_name)
        self._pool = ScheddWorkerPool(config, size=workers, timeout_s=timeout_s, start_method=start_method)
        self._clock: Clock = clock or SystemClock()
        self._history_watermark: float | None = None

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> HTCondorScheduler:
        """The scheduler `EE_RETRY_SCHEDULER=condor` asks for; logs go under the data dir."""
        kwargs: dict[str, Any] = {
            "runner": settings.condor_runner,
            "service_url": settings.url,
            "accounting_prefix": settings.condor_accounting_prefix,
            "schedd_name": settings.schedd_name,
            "log_dir": str(Path(settings.data_dir).resolve() / "condor_logs"),
        }
        kwargs.update(overrides)
        return cls(**kwargs)

    @property
    def submit_params(self) -> SubmitParams:
        return self._params

    async def start(self) -> None:
        """Start the worker processes and create the log folder (when the schedd shares this disk)."""
        folder = Path(self._params.initial_dir or ".") / self._params.log_dir
        try:
            await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        except OSError as exc:
            log.warning("could not create the HTCondor log folder %s: %s", folder, exc)
        await self._pool.start()

    async def close(self) -> None:
        await self._pool.close()

    async def submit(self, operation_id: str, specs: Sequence[SubmitSpec], hold: bool) -> dict[str, str]:
        """One transaction for all specs; job id -> "cluster.proc". Validates every value first."""
        if not specs:
            return {}
        description, rows = build_submit(specs, operation_id, self._params, hold)
        result = await self._pool.call("submit", {"description": description, "rows": rows})
        cluster, first, count = result["cluster"], result["first_proc"], result["num_procs"]
        if count != len(specs):
            raise SchedulerUnavailable(
                f"schedd answered {count} procs for {len(specs)} jobs in cluster {cluster}; "
                "the operation will be reconciled"
            )
        return {spec.job_id: f"{cluster}.{first + i}" for i, spec in enumerate(specs)}

    async def release(self, scheduler_ids: Sequence[str]) -> None:
        """Release held procs by explicit id; a proc that is not held or is gone is left alone."""
        await self._act("Release", scheduler_ids, "released by ee-retry")

    async def remove(self, scheduler_ids: Sequence[str], reason: str) -> None:
        """Remove procs by explicit id (never by constraint); a proc that is gone is a no-op."""
        await self._act("Remove", scheduler_ids, reason)

    async def procs_for_operation(self, operation_id: str) -> list[SchedulerProc]:
        """Every proc tagged with this operation id, in the queue and in the whole history."""
        return await self._find(ads.operation_constraint(operation_id), history=True)

    async def procs_for_jobs(self, job_ids: Sequence[str]) -> list[SchedulerProc]:
        """Every proc tagged with one of these job ids, in the queue and in the whole history."""
        procs: list[SchedulerProc] = []
        unique = list(dict.fromkeys(job_ids))
        for start in range(0, len(unique), MAX_IDS_PER_CONSTRAINT):
            chunk = unique[start : start + MAX_IDS_PER_CONSTRAINT]
            procs.extend(await self._find(ads.jobs_constraint(chunk), history=True))
        return procs

    async def poll(self) -> list[SchedulerProc]:
        """This service's procs in the queue, plus history records newer than the last poll's."""
        started = self._clock.now()
        watermark = self._history_watermark
        if watermark is None:
            watermark = started - HISTORY_LOOKBACK_S
        since = ads.history_since(watermark - HISTORY_OVERLAP_S)
        answer = await self._pool.call(
            "find",
            {"constraint": ads.THIS_SERVICE, "projection": ads.PROJECTION, "history": True, "since": since},
        )
        self._history_watermark = started
        return ads.procs_from_ads(answer["queue"], answer["history"])

    async def _find(self, constraint: str, history: bool) -> list[SchedulerProc]:
        answer = await self._pool.call(
            "find", {"constraint": constraint, "projection": ads.PROJECTION, "history": history}
        )
        return ads.procs_from_ads(answer["queue"], answer["history"])

    async def _act(self, action: str, scheduler_ids: Sequence[str], reason: str) -> None:
        ids = safety.check_scheduler_ids(list(scheduler_ids))
        if not ids:
            return
        text = "".join(c if c.isprintable() else " " for c in str(reason))[:MAX_REASON_CHARS]
        await self._pool.call("act", {"action": action, "ids": ids, "reason": text})
