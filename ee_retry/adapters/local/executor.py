"""The embedded default scheduler: runs each job as a subprocess of the service's own host.

Each proc runs `spec.command` in `<data_dir>/jobs/<job_id>/`, in its own process group, with stdout
and stderr in files there and the job's id, method, params and commit in its environment (never the
caller's token). At most `max_parallel` procs run at once; the others wait as IDLE. A registered
listener is awaited, in order and from one task, for every state change. A registered start gate is
awaited right before a waiting proc would start: when it says no (its job was cancelled or finished
by another process meanwhile), the proc is dropped as REMOVED without starting.

The executor's memory is its queue: procs live only in this process. After a restart it holds
nothing, so `poll` and `procs_for_*` know nothing of jobs submitted before it; the service marks such
jobs `error`, and `kill_leftovers` stops job processes that a killed service instance left running.
A finished proc is kept only until the service has recorded its end in the store (`forget_recorded`):
the store is its record from then on, so the executor's memory and each poll stay the size of its
queue, not of every job it ever ran.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import os
import signal
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ee_retry.adapters.local import procs
from ee_retry.adapters.local.private_files import private_folder
from ee_retry.domain.values import ProcState, SchedulerKind, SchedulerProc, SubmitSpec
from ee_retry.errors import InvalidParams, SchedulerUnavailable
from ee_retry.ports import Scheduler, StatusListener

StartGate = Callable[[str], Awaitable[bool]]  # job id -> may its proc start now?

logger = logging.getLogger(__name__)

KILL_GRACE_S = 5.0  # a removed job has this long after SIGTERM to clean up before its group gets SIGKILL
HISTORY_MAX_PROCS = 10_000  # finished procs whose end is not recorded yet, at most (a store down for long)
NOTIFY_DRAIN_S = 5.0  # close() waits this long for the listener to take the last state changes

_FINISHED = frozenset({ProcState.COMPLETED, ProcState.REMOVED})


@dataclass
class _Entry:
    """One proc: what to run (token stripped), what we report, and its process once spawned."""

    spec: SubmitSpec
    view: SchedulerProc
    process: asyncio.subprocess.Process | None = None
    live: bool = False  # a run task owns it (starting, running or collecting its output)


class LocalExecutor(Scheduler):
    """A Scheduler that runs jobs as subprocesses of this host, for the embedded default setup."""

    scheduler_type = SchedulerKind.LOCAL.value
    runs_with_owner_token = False  # the local command needs no token

    def __init__(
        self,
        data_dir: Path,
        max_parallel: int = 0,
        listener: StatusListener | None = None,
        *,
        kill_grace_s: float = KILL_GRACE_S,
    ) -> None:
        if max_parallel < 0:
            raise ValueError("max_parallel must be 0 (one per CPU) or positive")
        self._jobs_dir = Path(data_dir) / "jobs"
        self._limit = max_parallel or os.cpu_count() or 1
        self._listener = listener
        self._gate: StartGate | None = None
        self._grace_s = kill_grace_s
        self._entries: dict[str, _Entry] = {}
        self._pending: deque[str] = deque()
        self._unrecorded: dict[str, None] = {}  # finished procs the store may not record yet, oldest first
        self._tasks: set[asyncio.Task[None]] = set()
        self._running = 0
        # Counting up from the start time in ms keeps ids of a restarted executor distinct from old ones.
        self._counter = itertools.count(int(time.time() * 1000))
        self._closed = False
        self._events: asyncio.Queue[SchedulerProc] = asyncio.Queue()
        self._notifier: asyncio.Task[None] | None = None

    def set_listener(self, listener: StatusListener | None) -> None:
        """Register (or clear) the callable awaited on every state change."""
        self._listener = listener

    def set_start_gate(self, gate: StartGate | None) -> None:
        """Register (or clear) the callable asked, with the job's id, whether a waiting proc may start.

        It is awaited once per proc, right before its process would be spawned, while the proc holds
        a slot. False drops the proc as REMOVED (reported like any removal); an exception lets it
        start, so a failing gate never strands a job.
        """
        self._gate = gate

    async def start(self) -> None:
        await asyncio.to_thread(private_folder, self._jobs_dir.parent)
        await asyncio.to_thread(private_folder, self._jobs_dir)

    async def close(self) -> None:
        """Kill every running job's process group, wait for them, and deliver the last state changes."""
        self._closed = True
        stops = [
            self._stop_group(e.process)
            for e in self._entries.values()
            if e.process is not None and e.process.returncode is None
        ]
        await asyncio.gather(*stops, return_exceptions=True)
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._events.join(), NOTIFY_DRAIN_S)
        if self._notifier is not None:
            self._notifier.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._notifier
            self._notifier = None

    # ------------------------------------------------------------ Scheduler protocol

    async def submit(self, operation_id: str, specs: Sequence[SubmitSpec], hold: bool) -> dict[str, str]:
        """Record every spec at once (held, or queued to run), or none if any spec is unusable: such a
        spec is refused for good (InvalidParams), as HTCondor refuses a value it cannot carry, so the
        service rolls the request back instead of leaving it to reconcile, which would be refused again."""
        if self._closed:
            raise SchedulerUnavailable("The local executor is stopped; no job was submitted.")
        reason = procs.refusal(specs)
        if reason is not None:
            raise InvalidParams(
                f"The local executor refused the submission: {reason}. Nothing was submitted."
            )
        ids: dict[str, str] = {}
        for spec in specs:
            sid = f"local.{next(self._counter)}"
            view = SchedulerProc(
                job_id=spec.job_id,
                operation_id=operation_id,
                scheduler_id=sid,
                state=ProcState.HELD if hold else ProcState.IDLE,
                held_by_us=hold,
            )
            self._entries[sid] = _Entry(spec=dataclasses.replace(spec, token=None), view=view)
            if not hold:
                self._pending.append(sid)
            ids[spec.job_id] = sid
        self._dispatch()
        return ids

    async def release(self, scheduler_ids: Sequence[str]) -> None:
        """Let procs submitted on hold run; any other id is ignored."""
        for sid in scheduler_ids:
            entry = self._entries.get(sid)
            if entry is None or entry.view.state is not ProcState.HELD or not entry.view.held_by_us:
                continue
            self._set(entry, state=ProcState.IDLE, held_by_us=False)
            self._pending.append(sid)
        self._dispatch()

    async def remove(self, scheduler_ids: Sequence[str], reason: str) -> None:
        """Cancel procs: a running one's process group is terminated; a waiting one never starts."""
        for sid in scheduler_ids:
            entry = self._entries.get(sid)
            if entry is None or entry.view.state in _FINISHED:
                continue
            process = entry.process
            if process is not None and process.returncode is not None:
                continue  # already exited; its run task reports it as completed
            logger.info("removing local job %s (%s): %s", entry.view.job_id, sid, reason)
            if entry.live:  # starting or running: if not yet spawned, its run task stops it
                self._set(entry, state=ProcState.REMOVED, held_by_us=False)
                if process is not None:
                    self._spawn(self._stop_group(process))
            else:
                self._finish(entry)

    async def procs_for_operation(self, operation_id: str) -> list[SchedulerProc]:
        return [e.view for e in self._entries.values() if e.view.operation_id == operation_id]

    async def procs_for_jobs(self, job_ids: Sequence[str]) -> list[SchedulerProc]:
        wanted = set(job_ids)
        return [e.view for e in self._entries.values() if e.view.job_id in wanted]

    async def poll(self) -> list[SchedulerProc]:
        return [e.view for e in self._entries.values()]

    def forget_recorded(self, scheduler_ids: Sequence[str]) -> None:
        """Drop these procs once finished: the store records their end. A proc still waiting,
        running or being stopped is kept (its end is still to come), and so is any id not known."""
        for sid in scheduler_ids:
            if sid in self._unrecorded:
                del self._unrecorded[sid]
                self._entries.pop(sid, None)

    # ------------------------------------------------------------ crash recovery

    def kill_leftovers(self, job_ids: Sequence[str]) -> list[str]:
        """Kill the process groups of these jobs that a previous service instance left running.

        A group is killed only if its recorded pid still leads a process group one of whose members
        carries `EE_RETRY_JOB_ID=<job_id>` in its environment, so a recycled pid is never killed; and
        never a job this executor runs itself. Returns the ids of the jobs killed. Linux only (reads
        /proc); elsewhere it kills nothing.
        """
        own_jobs = {e.spec.job_id for e in self._entries.values() if e.live or e.process is not None}
        wanted: dict[int, str] = {}
        for job_id in job_ids:
            if procs.SAFE_JOB_ID.fullmatch(job_id) and job_id not in own_jobs:
                pid = procs.read_pid(self._jobs_dir / job_id / procs.PID_FILE)
                if pid is not None and pid != os.getpgrp():
                    wanted[pid] = job_id
        killed: list[str] = []
        for pgid in procs.marked_groups(wanted):
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            except PermissionError:
                logger.warning("cannot kill leftover process group %d of job %s", pgid, wanted[pgid])
                continue
            logger.info("killed leftover process group %d of job %s", pgid, wanted[pgid])
            killed.append(wanted[pgid])
        order = {job_id: i for i, job_id in enumerate(job_ids)}
        return sorted(killed, key=order.__getitem__)

    # ------------------------------------------------------------ running procs

    def _dispatch(self) -> None:
        while self._pending and self._running < self._limit and not self._closed:
            sid = self._pending.popleft()
            entry = self._entries.get(sid)
            if entry is None or entry.view.state is not ProcState.IDLE or entry.live:
                continue
            self._running += 1
            entry.live = True
            self._spawn(self._run(entry))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, entry: _Entry) -> None:
        try:
            await self._execute(entry)
        except Exception:
            logger.exception("local job %s failed to run", entry.view.job_id)
            if entry.process is not None and entry.process.returncode is None:
                await self._stop_group(entry.process)
            if entry.view.in_queue:
                self._finish(
                    entry,
                    procs.Ending(
                        procs.EXIT_NOT_FOUND, err_tail="the local executor could not run it; see its log"
                    ),
                )
        finally:
            entry.live = False
            self._running -= 1
            self._dispatch()

    async def _execute(self, entry: _Entry) -> None:
        if not await self._may_start(entry):
            logger.info(
                "local job %s (%s) not started: its start gate refused",
                entry.view.job_id,
                entry.view.scheduler_id,
            )
            self._finish(entry)
            return
        job_dir = self._jobs_dir / entry.spec.job_id
        try:
            out, err = await asyncio.to_thread(procs.open_outputs, job_dir)
        except OSError as exc:
            unprepared = f"cannot prepare the job folder: {exc.strerror}"
            self._finish(entry, procs.Ending(procs.start_exit_code(exc), err_tail=unprepared))
            return
        process: asyncio.subprocess.Process | None = None
        failure: OSError | None = None
        if entry.view.state is ProcState.IDLE and not self._closed:  # not removed or stopped meanwhile
            try:
                process = await asyncio.create_subprocess_exec(
                    *entry.spec.command,
                    cwd=job_dir,
                    env=procs.job_env(entry.spec),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                )
            except OSError as exc:
                failure = exc
        reason = (
            None
            if failure is None
            else f"cannot start {entry.spec.command[0]!r}: {failure.strerror or failure}"
        )
        await asyncio.to_thread(procs.close_all, out, err, last_line=reason)
        if process is not None:
            await self._watch(entry, process, job_dir)
        elif failure is not None:
            self._finish(entry, procs.Ending(procs.start_exit_code(failure), out_tail="", err_tail=reason))
        elif entry.view.state is ProcState.REMOVED:
            self._finish(entry)

    async def _may_start(self, entry: _Entry) -> bool:
        """Ask the start gate, if any, about a proc that is still waiting to start."""
        if self._gate is None or entry.view.state is not ProcState.IDLE or self._closed:
            return True  # no gate, or removed or stopped meanwhile: the caller's checks handle it
        try:
            return await self._gate(entry.spec.job_id)
        except Exception:
            logger.exception(
                "start gate failed on local job %s (%s); starting it",
                entry.view.job_id,
                entry.view.scheduler_id,
            )
            return True

    async def _watch(self, entry: _Entry, process: asyncio.subprocess.Process, job_dir: Path) -> None:
        entry.process = process
        if self._closed or entry.view.state is ProcState.REMOVED:
            self._spawn(self._stop_group(process))
        else:
            self._set(entry, state=ProcState.RUNNING, started=time.time())
        try:
            await asyncio.to_thread(procs.write_pid, job_dir, process.pid)
        except OSError as exc:
            logger.warning("cannot record the pid of local job %s: %s", entry.view.job_id, exc)
        returncode = await process.wait()
        procs.signal_group(
            process.pid, signal.SIGKILL
        )  # the job is over: so are any processes it left behind
        entry.process = None  # a finished proc keeps its view, not its transport and pipes
        self._finish(entry, procs.Ending(returncode, *await asyncio.to_thread(procs.tails, job_dir)))

    async def _stop_group(self, process: asyncio.subprocess.Process) -> None:
        """SIGTERM the job's process group; SIGKILL what is left once it exits or the grace is over."""
        procs.signal_group(process.pid, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), self._grace_s)
        procs.signal_group(process.pid, signal.SIGKILL)

    def _finish(self, entry: _Entry, ending: procs.Ending | None = None) -> None:
        """End a proc, kept until its end is recorded: COMPLETED with its process's `ending`; REMOVED
        when it was (or is being) removed, or ends with no process (`ending` None: removed before it ran)."""
        removed = ending is None or entry.view.state is ProcState.REMOVED
        state = ProcState.REMOVED if removed else ProcState.COMPLETED
        # Leaving the queue is always reported, also after a REMOVED report sent when removal began:
        # that last report is the one the status sync records before the proc is forgotten.
        self._set(
            entry,
            notify=entry.view.in_queue or entry.view.state is not state,
            state=state,
            exit_code=None if ending is None else ending.exit_code,
            exit_signal=None if ending is None else ending.exit_signal,
            output_tail=None if ending is None else ending.out_tail,
            error_tail=None if ending is None else ending.err_tail,
            held_by_us=False,
            in_queue=False,
            finished=time.time(),
        )
        self._remember_finished(entry.view.scheduler_id)

    def _remember_finished(self, sid: str) -> None:
        """Keep a finished proc until its end is recorded; past the cap, the oldest goes first."""
        self._unrecorded[sid] = None
        while len(self._unrecorded) > HISTORY_MAX_PROCS:
            oldest = next(iter(self._unrecorded))
            del self._unrecorded[oldest]
            self._entries.pop(oldest, None)

    # ------------------------------------------------------------ state changes and the listener

    def _set(self, entry: _Entry, *, notify: bool = True, **changes: Any) -> None:
        entry.view = dataclasses.replace(entry.view, **changes)
        if notify and self._listener is not None:
            self._events.put_nowait(entry.view)
            if self._notifier is None or self._notifier.done():
                self._notifier = asyncio.create_task(self._deliver())

    async def _deliver(self) -> None:
        while True:
            proc = await self._events.get()
            try:
                if self._listener is not None:
                    await self._listener(proc)
            except Exception:
                logger.exception("status listener failed on %s -> %s", proc.scheduler_id, proc.state.value)
            finally:
                self._events.task_done()
