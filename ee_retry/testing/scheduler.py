"""An in-memory Scheduler for service tests, with call counters, fault hooks and drivers.

Like httpx's MockTransport or dramatiq's StubBroker: the service talks to it through the Scheduler
port, and the test plays the scheduler's part. Faults arm the next call (`fail_next_submit`,
`lose_next_answer`, `hang_next_submit`, `fail_next_release`, `fail_next_remove`) or every call
(`unavailable`). Drivers (`start`, `complete`, `hold`, `forget`, `add_orphan`) move procs as a real
scheduler would, and awaiting a driver awaits the listener, so a test sees the service's reaction
as soon as the driver returns. Scheduler ids look like HTCondor's: one cluster per submit call,
`"<cluster>.<proc>"`. Counters count every call that reached the fake, including failed ones.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any

from ee_retry.domain.values import ProcState, SchedulerProc, SubmitSpec
from ee_retry.errors import InvalidParams, SchedulerUnavailable
from ee_retry.ports import Clock, Scheduler, StatusListener

logger = logging.getLogger(__name__)

_FINISHED = frozenset({ProcState.COMPLETED, ProcState.REMOVED})


def _held_by_us(proc: SchedulerProc) -> bool:
    return proc.state is ProcState.HELD and proc.held_by_us


def _unfinished(proc: SchedulerProc) -> bool:
    return proc.state not in _FINISHED


class _SubmitFault(Enum):
    """What goes wrong with an armed submit."""

    FAIL = "fail"  # refused: nothing recorded
    LOSE_ANSWER = "lose_answer"  # accepted, then the answer is lost
    HANG_LANDS = "hang_lands"  # no answer in time, but the transaction landed
    HANG_LOST = "hang_lost"  # no answer in time, and nothing landed
    REJECT = "reject"  # refused for good (a value the scheduler will never take): nothing recorded


class FakeScheduler(Scheduler):
    """A Scheduler that keeps procs in a dict and lets the test decide what happens to them."""

    scheduler_type = "fake"

    def __init__(
        self,
        latency_s: float = 0.0,
        hang_s: float = 0.05,
        listener: StatusListener | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.latency_s = latency_s  # awaited once per call: models the scheduler's round trip
        self.hang_s = hang_s  # how long a hung submit takes before it fails
        self.unavailable = False  # while set, every call raises SchedulerUnavailable
        self.runs_with_owner_token = False  # True: behave like HTCondor for reconcile
        self.submit_calls = 0
        self.release_calls = 0
        self.remove_calls = 0
        self.query_calls = 0  # procs_for_operation, procs_for_jobs and poll
        self.submitted_batches: list[list[str]] = []  # job ids of each submit call, in call order
        self._listener = listener
        self._now = clock.now if clock is not None else time.time
        self._procs: dict[str, SchedulerProc] = {}  # scheduler id -> proc, in submission order
        self._specs: dict[str, SubmitSpec] = {}  # scheduler id -> what was submitted
        self._cluster = 0
        self._submit_faults: deque[_SubmitFault] = deque()
        self._faults = {"release": 0, "remove": 0}  # calls of each that are armed to fail

    def set_listener(self, listener: StatusListener | None) -> None:
        """Register (or clear) the callable awaited on every state change."""
        self._listener = listener

    async def close(self) -> None:
        return None

    # ------------------------------------------------------------ fault hooks

    def fail_next_submit(self) -> None:
        """The next submit raises SchedulerUnavailable and records nothing."""
        self._submit_faults.append(_SubmitFault.FAIL)

    def reject_next_submit(self) -> None:
        """The next submit raises InvalidParams, as a refused submit value does, and records nothing."""
        self._submit_faults.append(_SubmitFault.REJECT)

    def lose_next_answer(self) -> None:
        """The next submit records its procs, then raises SchedulerUnavailable (accepted, answer lost)."""
        self._submit_faults.append(_SubmitFault.LOSE_ANSWER)

    def hang_next_submit(self, lands: bool) -> None:
        """The next submit waits `hang_s`, then raises; its procs exist afterwards only if `lands`."""
        self._submit_faults.append(_SubmitFault.HANG_LANDS if lands else _SubmitFault.HANG_LOST)

    def fail_next_release(self) -> None:
        """The next release raises SchedulerUnavailable and releases nothing."""
        self._faults["release"] += 1

    def fail_next_remove(self) -> None:
        """The next remove raises SchedulerUnavailable and removes nothing."""
        self._faults["remove"] += 1

    # ------------------------------------------------------------ Scheduler protocol

    async def submit(self, operation_id: str, specs: Sequence[SubmitSpec], hold: bool) -> dict[str, str]:
        """Record all specs as one cluster, unless a fault armed for this call says otherwise."""
        self.submit_calls += 1
        self.submitted_batches.append([s.job_id for s in specs])
        await self._call()
        fault = self._submit_faults.popleft() if self._submit_faults else None
        if fault is _SubmitFault.FAIL:
            raise SchedulerUnavailable("Fake scheduler: submit refused; nothing was recorded.")
        if fault is _SubmitFault.REJECT:
            raise InvalidParams("Fake scheduler: a submit value was refused; nothing was recorded.")
        if fault in (_SubmitFault.HANG_LANDS, _SubmitFault.HANG_LOST):
            await asyncio.sleep(self.hang_s)
        ids = {} if fault is _SubmitFault.HANG_LOST else self._record(operation_id, specs, hold)
        if fault is not None:
            raise SchedulerUnavailable(f"Fake scheduler: no answer to submit ({fault.value}).")
        return ids

    async def release(self, scheduler_ids: Sequence[str]) -> None:
        """Move procs held by us to IDLE; anything else is left alone."""
        self.release_calls += 1
        await self._apply("release", scheduler_ids, _held_by_us, state=ProcState.IDLE, held_by_us=False)

    async def remove(self, scheduler_ids: Sequence[str], reason: str) -> None:
        """Move procs that are not finished to REMOVED; they stay visible as history."""
        self.remove_calls += 1
        await self._apply(
            "remove",
            scheduler_ids,
            _unfinished,
            state=ProcState.REMOVED,
            held_by_us=False,
            in_queue=False,
            finished=self._now(),
        )

    async def procs_for_operation(self, operation_id: str) -> list[SchedulerProc]:
        self.query_calls += 1
        await self._call()
        return [p for p in self._procs.values() if p.operation_id == operation_id]

    async def procs_for_jobs(self, job_ids: Sequence[str]) -> list[SchedulerProc]:
        self.query_calls += 1
        await self._call()
        wanted = set(job_ids)
        return [p for p in self._procs.values() if p.job_id in wanted]

    async def poll(self) -> list[SchedulerProc]:
        self.query_calls += 1
        await self._call()
        return list(self._procs.values())

    # ------------------------------------------------------------ drivers (the test plays the scheduler)

    async def start(self, job_id: str | None = None) -> None:
        """Without a job id, the Scheduler's start hook (nothing to do). With one, a driver: the
        job's latest proc starts running."""
        if job_id is not None:
            await self._change(
                self._latest(job_id),
                state=ProcState.RUNNING,
                held_by_us=False,
                hold_reason=None,
                started=self._now(),
            )

    async def complete(
        self,
        job_id: str,
        exit_code: int | None = 0,
        exit_signal: int | None = None,
        output: str | None = None,
        error: str | None = None,
    ) -> None:
        """The job's latest proc exits: with `exit_code`, or killed by `exit_signal` (no exit code)."""
        await self._change(
            self._latest(job_id),
            state=ProcState.COMPLETED,
            exit_code=None if exit_signal is not None else exit_code,
            exit_signal=exit_signal,
            output_tail=output,
            error_tail=error,
            held_by_us=False,
            in_queue=False,
            finished=self._now(),
        )

    async def hold(
        self, job_id: str, reason: str, hold_code: int | None = None, hold_subcode: int | None = None
    ) -> None:
        """The scheduler itself holds the job's latest proc (e.g. a policy hold); release ignores it."""
        await self._change(
            self._latest(job_id),
            state=ProcState.HELD,
            hold_reason=reason,
            hold_code=hold_code,
            hold_subcode=hold_subcode,
            held_by_us=False,
        )

    def forget(self, job_id: str) -> None:
        """Drop every proc of this job from queue and history, as if the scheduler lost it."""
        for sid in [sid for sid, p in self._procs.items() if p.job_id == job_id]:
            del self._procs[sid]
            self._specs.pop(sid, None)

    def add_orphan(self, job_id: str, operation_id: str, state: ProcState = ProcState.HELD) -> str:
        """A proc (its own cluster) that the store has no record of; returns its scheduler id."""
        self._cluster += 1
        sid = f"{self._cluster}.0"
        self._procs[sid] = SchedulerProc(
            job_id=job_id,
            operation_id=operation_id,
            scheduler_id=sid,
            state=state,
            held_by_us=state is ProcState.HELD,
            in_queue=state not in _FINISHED,
        )
        return sid

    def proc(self, job_id: str) -> SchedulerProc | None:
        """The latest proc of this job, or None if the scheduler has none."""
        matches = [p for p in self._procs.values() if p.job_id == job_id]
        return matches[-1] if matches else None

    def procs(self) -> list[SchedulerProc]:
        """Every proc, queue and history, in submission order."""
        return list(self._procs.values())

    def spec(self, job_id: str) -> SubmitSpec | None:
        """What was submitted for the latest proc of this job."""
        proc = self.proc(job_id)
        return None if proc is None else self._specs.get(proc.scheduler_id)

    def specs(self) -> list[SubmitSpec]:
        """What was submitted for every proc still known, in submission order."""
        return list(self._specs.values())

    # ------------------------------------------------------------ internals

    async def _apply(
        self,
        action: str,
        scheduler_ids: Sequence[str],
        applies: Callable[[SchedulerProc], bool],
        **changes: Any,
    ) -> None:
        """A release or remove call: raise if a fault is armed for `action`, else make `changes` to
        each named proc that `applies` to."""
        await self._call()
        if self._faults[action]:
            self._faults[action] -= 1
            raise SchedulerUnavailable(f"Fake scheduler: {action} failed; nothing was {action}d.")
        for sid in scheduler_ids:
            proc = self._procs.get(sid)
            if proc is not None and applies(proc):
                await self._change(sid, **changes)

    def _latest(self, job_id: str) -> str:
        proc = self.proc(job_id)
        if proc is None:
            raise KeyError(f"the fake scheduler has no proc for job {job_id}")
        return proc.scheduler_id

    async def _call(self) -> None:
        if self.latency_s > 0:
            await asyncio.sleep(self.latency_s)
        if self.unavailable:
            raise SchedulerUnavailable("Fake scheduler: unavailable.")

    def _record(self, operation_id: str, specs: Sequence[SubmitSpec], hold: bool) -> dict[str, str]:
        self._cluster += 1
        ids: dict[str, str] = {}
        for i, spec in enumerate(specs):
            sid = f"{self._cluster}.{i}"
            self._procs[sid] = SchedulerProc(
                job_id=spec.job_id,
                operation_id=operation_id,
                scheduler_id=sid,
                state=ProcState.HELD if hold else ProcState.IDLE,
                held_by_us=hold,
            )
            self._specs[sid] = spec
            ids[spec.job_id] = sid
        return ids

    async def _change(self, sid: str, **changes: Any) -> SchedulerProc:
        proc = dataclasses.replace(self._procs[sid], **changes)
        self._procs[sid] = proc
        if self._listener is not None:
            try:
                await self._listener(proc)
            except Exception:
                logger.exception("status listener failed on %s -> %s", sid, proc.state.value)
        return proc
