"""Schedd calls in worker processes, so a slow schedd never freezes the service's event loop.

The htcondor2 bindings hold the GIL for a whole network call, so even a thread would stall asyncio.
Each call goes to one of a small pool of worker processes (spawn or forkserver: the service runs
threads, so fork is unsafe) as plain data; the worker builds the `Submit` itself (it does not pickle),
calls the schedd, and answers with plain data. A call that takes longer than its timeout kills its
worker, which is replaced on the next call, and raises SchedulerUnavailable; so does a crashed worker.

Like any spawn/forkserver child, a worker re-imports the parent's `__main__` script as `__mp_main__`:
a script that builds the service must start it under `if __name__ == "__main__":` (`python -m` and
console-script entry points already do).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import multiprocessing
import signal
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any

from ee_retry import constants
from ee_retry.errors import InternalError, SchedulerUnavailable

log = logging.getLogger(__name__)

DEFAULT_WORKERS = 2  # a cancel or a poll is never stuck behind one hung submit
KILL_JOIN_TIMEOUT_S = 5.0  # how long to wait for a killed worker to be reaped
MAX_ERROR_CHARS = 500  # of a schedd error message passed on to the caller


@dataclass(frozen=True)
class WorkerConfig:
    """How a worker gets its schedd; plain data, sent to each new worker process."""

    schedd_factory: str | None = None  # "module:callable"; None: htcondor2.Schedd (by name if set)
    factory_kwargs: Mapping[str, Any] = field(default_factory=dict)
    schedd_name: str | None = None


class _WorkerGone(Exception):
    """The worker did not answer: it timed out or died."""


class _Worker:
    """One worker process and the pipe to it. Used by one call at a time (the pool guarantees it)."""

    def __init__(self, ctx: BaseContext, config: WorkerConfig) -> None:
        self._ctx = ctx
        self._config = config
        self._proc: BaseProcess | None = None
        self._conn: Connection | None = None
        self._lock = threading.Lock()  # start and stop run in threads; never on the event loop

    def ensure_started(self) -> None:
        with self._lock:
            if self._proc is not None and self._proc.is_alive():
                return
            self._stop_locked()
            parent, child = self._ctx.Pipe()
            proc = self._ctx.Process(target=serve, args=(child, self._config), daemon=True)  # type: ignore[attr-defined]
            proc.start()
            child.close()
            self._proc, self._conn = proc, parent

    def roundtrip(self, request: tuple[str, Any], timeout_s: float) -> Any:
        """Send one request and wait for its answer (blocking; run it in a thread)."""
        self.ensure_started()
        conn = self._conn
        assert conn is not None
        try:
            conn.send(request)
            if not conn.poll(timeout_s):
                self.stop()
                raise _WorkerGone(f"no answer within {timeout_s:g} s")
            return conn.recv()
        except (EOFError, OSError) as exc:
            self.stop()
            raise _WorkerGone("the worker process died") from exc

    def interrupt(self) -> None:
        """Kill the process (signal only, safe on the event loop); a waiting thread then sees EOF."""
        proc = self._proc
        if proc is not None:
            with contextlib.suppress(ValueError, OSError):  # already closed or reaped
                proc.kill()

    def stop(self) -> None:
        """Kill and reap the process and close the pipe; the next call starts a fresh worker."""
        with self._lock:
            self._stop_locked()

    def _stop_locked(self) -> None:
        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        if proc is not None:
            if proc.is_alive():
                proc.kill()
            proc.join(KILL_JOIN_TIMEOUT_S)
            proc.close()
        if conn is not None:
            conn.close()


class ScheddWorkerPool:
    """A few worker processes; `call` runs one schedd operation in an idle one, with a timeout."""

    def __init__(
        self,
        config: WorkerConfig,
        size: int = DEFAULT_WORKERS,
        timeout_s: float = constants.SCHEDULER_CALL_TIMEOUT_S,
        start_method: str = "forkserver",
    ) -> None:
        if size < 1:
            raise ValueError("a schedd worker pool needs at least one worker")
        self.timeout_s = timeout_s
        self._ctx = multiprocessing.get_context(start_method)
        self._workers = [_Worker(self._ctx, config) for _ in range(size)]
        self._idle: asyncio.Queue[_Worker] | None = None

    def _queue(self) -> asyncio.Queue[_Worker]:
        if self._idle is None:
            self._idle = asyncio.Queue()
            for worker in self._workers:
                self._idle.put_nowait(worker)
        return self._idle

    async def start(self) -> None:
        """Start every worker now rather than on its first call."""
        self._queue()
        await asyncio.gather(*(asyncio.to_thread(w.ensure_started) for w in self._workers))

    async def close(self) -> None:
        """Stop every worker; a call in progress fails with SchedulerUnavailable."""
        for worker in self._workers:
            worker.interrupt()
        await asyncio.gather(*(asyncio.to_thread(w.stop) for w in self._workers))

    async def call(self, op: str, payload: Any, timeout_s: float | None = None) -> Any:
        """Run `op` in a worker; raise SchedulerUnavailable if it fails, hangs or its worker dies."""
        timeout = self.timeout_s if timeout_s is None else timeout_s
        idle = self._queue()
        try:
            worker = await asyncio.wait_for(idle.get(), timeout)
        except TimeoutError:
            raise SchedulerUnavailable(
                f"schedd {op}: every schedd worker stayed busy for {timeout:g} s"
            ) from None
        task = asyncio.ensure_future(asyncio.to_thread(worker.roundtrip, (op, payload), timeout))
        task.add_done_callback(lambda t: _return_worker(idle, worker, t))
        try:
            reply = await asyncio.shield(task)
        except asyncio.CancelledError:
            worker.interrupt()
            raise
        except _WorkerGone as exc:
            log.warning("schedd %s failed: %s; its worker will be replaced", op, exc)
            raise SchedulerUnavailable(f"schedd {op}: {exc}") from None
        return _unwrap(op, reply)


def _return_worker(idle: asyncio.Queue[_Worker], worker: _Worker, task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved here, so an abandoned call does not log "never retrieved"
    idle.put_nowait(worker)


def _unwrap(op: str, reply: Any) -> Any:
    if not isinstance(reply, tuple) or not reply:
        raise InternalError(f"schedd {op}: the worker sent a malformed answer")
    if reply[0] == "ok":
        return reply[1]
    kind, message = reply[1], reply[2]
    if kind == "unavailable":
        raise SchedulerUnavailable(f"schedd {op} failed: {message}")
    log.error("schedd %s failed in the worker: %s", op, message)
    raise InternalError()


# ---------------------------------------------------------------- worker process side


def serve(conn: Connection, config: WorkerConfig) -> None:
    """The worker's loop: one request in, one answer out, until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the service handles Ctrl-C; it stops us itself
    from ee_retry.adapters.htcondor import worker_ops

    schedd: Any = None
    while True:
        try:
            op, payload = conn.recv()
        except (EOFError, OSError):
            return
        try:
            if schedd is None:
                schedd = make_schedd(config)
            reply: tuple[Any, ...] = ("ok", worker_ops.OPS[op](schedd, payload))
        except Exception as exc:
            schedd = None  # reconnect next time: the schedd may have moved or restarted
            reply = ("error", _kind(exc), _scrub(f"{type(exc).__name__}: {exc}", payload))
        conn.send(reply)


def make_schedd(config: WorkerConfig) -> Any:
    """The schedd this worker talks to: the configured factory, or htcondor2's (by name if set)."""
    if config.schedd_factory:
        return load_factory(config.schedd_factory)(**dict(config.factory_kwargs))
    import htcondor2

    if config.schedd_name:
        location = htcondor2.Collector().locate(htcondor2.DaemonType.Schedd, config.schedd_name)
        return htcondor2.Schedd(location)
    return htcondor2.Schedd()


def load_factory(path: str) -> Callable[..., Any]:
    """Import "package.module:callable"."""
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"schedd factory {path!r} must look like 'package.module:callable'")
    factory = getattr(importlib.import_module(module_name), attr)
    if not callable(factory):
        raise ValueError(f"schedd factory {path!r} is not callable")
    return factory  # type: ignore[no-any-return]


def _kind(exc: Exception) -> str:
    """'unavailable' for anything the schedd or the network raised; 'internal' for our own bugs."""
    if isinstance(exc, KeyError | AttributeError | TypeError | NameError | ImportError):
        return "internal"
    return "unavailable"


def _scrub(message: str, payload: Any) -> str:
    """Drop any token the request carried from an error message, and bound its length."""
    rows = payload.get("rows") if isinstance(payload, dict) else None
    for row in rows or ():
        token = row.get("kb_token") if isinstance(row, dict) else None
        if token:
            message = message.replace(token, "***")
    return message[:MAX_ERROR_CHARS]
