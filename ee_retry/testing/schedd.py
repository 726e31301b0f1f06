"""A fake htcondor2.Schedd: the methods ee-retry uses, with the same signatures, on a JSON file.

It builds job ads from the real `htcondor2.Submit` and itemdata: the submit text is serialised and
parsed back exactly as `Schedd.submit` does, each row's values are substituted by the real macro
expander, and submit commands become ad attributes (`request_cpus` -> `RequestCpus`, `MY.x` -> `x`,
`hold = true` -> held with HoldReasonCode 15, ...). Constraints are evaluated by classad2. State lives
in `schedd.json` under a directory (constructor argument or `EE_RETRY_FAKE_SCHEDD_DIR`), guarded by a
file lock, so worker processes, restarted workers and the test process all see the same schedd.

Faults are set from the test process with `set_fault(method, mode, times)`: "unavailable" (raise
HTCondorException), "hang" (sleep far past any timeout), "crash" (the process exits), and, after the
call took effect, "accept_then_error", "lost_answer" (never answer) and "crash_after".
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import classad2
import htcondor2

from ee_retry.testing.schedd_ads import (
    JOB_POLICY,
    ad_for,
    apply_action,
    exit_proc,
    expand,
    named_ids,
    parse_ads,
    plain,
    project,
    round_trip,
    select,
    set_attrs,
    sid,
    since_expr,
    spec_record,
    start_proc,
    store,
    true,
)

STATE_DIR_ENV = "EE_RETRY_FAKE_SCHEDD_DIR"
HANG_S = 3_600.0  # a "hang" outlasts any call timeout; the worker is killed long before
CRASH_EXIT_CODE = 86
FAULT_MODES = frozenset({"unavailable", "hang", "crash", "accept_then_error", "lost_answer", "crash_after"})
_DEFAULT_ITEMDATA = object()


class FakeSchedd:
    """Stands in for `htcondor2.Schedd` (submit, query, history, act) plus test helpers."""

    def __init__(self, location: Any = None, state_dir: str | os.PathLike[str] | None = None) -> None:
        directory = state_dir if state_dir is not None else os.environ.get(STATE_DIR_ENV)
        if not directory:
            raise ValueError(f"FakeSchedd needs a state_dir or {STATE_DIR_ENV}")
        self.state_dir = Path(directory)
        self.state_dir.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------ htcondor2.Schedd methods

    def submit(
        self,
        description: Any,
        count: int = 0,
        spool: bool = False,
        itemdata: Any = _DEFAULT_ITEMDATA,
        queue: str | None = None,
    ) -> Any:
        """One transaction: one new cluster with one proc per itemdata row, or nothing at all."""
        if not isinstance(description, htcondor2.Submit):
            raise TypeError("description must be an htcondor2.Submit object")
        if count or spool or queue is not None:
            raise NotImplementedError("FakeSchedd supports submit(description, itemdata=...) only")
        rows = [] if itemdata is _DEFAULT_ITEMDATA or itemdata is None else list(itemdata)
        self._before("submit")
        commands, parsed_rows = round_trip(description, rows)
        with self._state() as state:
            cluster = int(state["next_cluster"])
            now = int(time.time())
            new_ads = [
                ad_for(expand(commands, row, cluster, i), cluster, i, now)
                for i, row in enumerate(parsed_rows)
            ]
            state["next_cluster"] = cluster + 1
            state["queue"].extend(str(ad) for ad in new_ads)
            state["calls"].append({"method": "submit", "cluster": cluster, "procs": len(new_ads)})
        self._after("submit")
        return htcondor2.SubmitResult(cluster, 0, len(new_ads), None, None)

    def query(
        self,
        constraint: str | Any = "True",
        projection: list[str] = [],  # noqa: B006 (the real signature)
        callback: Callable[[Any], Any] | None = None,
        limit: int = -1,
        opts: Any = htcondor2.QueryOpts.Default,
    ) -> list[Any]:
        """Queue ads matching `constraint`, projected."""
        self._before("query")
        expr = classad2.ExprTree(str(constraint))
        with self._state(write=False) as state:
            ads = [ad for ad in parse_ads(state["queue"]) if true(expr, ad)]
        if limit >= 0:
            ads = ads[:limit]
        result = [project(ad, projection) for ad in ads]
        self._after("query")
        if callback is None:
            return result
        return [r for r in (callback(ad) for ad in result) if r is not None]

    def history(
        self,
        constraint: str | Any | None = None,
        projection: list[str] = [],  # noqa: B006 (the real signature)
        match: int = -1,
        since: int | str | Any | None = None,
    ) -> list[Any]:
        """History ads, newest record first, up to (not including) the first one `since` matches."""
        self._before("history")
        expr = classad2.ExprTree(str(constraint)) if constraint is not None else None
        stop = since_expr(since)
        found: list[Any] = []
        with self._state(write=False) as state:
            for ad in reversed(parse_ads(state["history"])):
                if stop is not None and true(stop, ad):
                    break
                if expr is None or true(expr, ad):
                    found.append(project(ad, projection))
                if 0 <= match <= len(found):
                    break
        self._after("history")
        return found

    def act(self, action: Any, job_spec: list[str] | str | int | Any, reason: Any = None) -> Any:
        """Release, remove or hold the jobs `job_spec` names; records how they were named."""
        self._before("act")
        text = reason[0] if isinstance(reason, tuple) else reason
        text = "Python-initiated action" if text is None else str(text)
        name = htcondor2.JobAction(action).name
        totals = {"TotalSuccess": 0, "TotalNotFound": 0, "TotalBadStatus": 0}
        with self._state() as state:
            state["calls"].append(
                {"method": "act", "action": name, "job_spec": spec_record(job_spec), "reason": text}
            )
            queue = parse_ads(state["queue"])
            chosen = select(queue, job_spec)
            totals["TotalNotFound"] = (
                len(named_ids(job_spec)) - len(chosen) if isinstance(job_spec, list) else 0
            )
            for ad in chosen:
                ok = apply_action(name, ad, text, int(time.time()))
                totals["TotalSuccess" if ok else "TotalBadStatus"] += 1
            store(state, queue)
        self._after("act")
        return classad2.ClassAd(totals)

    # ------------------------------------------------------------ faults

    def set_fault(self, method: str, mode: str, times: int = 1) -> None:
        """Make the next `times` calls of `method` (submit, query, history, act) fail as `mode`."""
        if mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {mode!r}; use one of {sorted(FAULT_MODES)}")
        with self._state() as state:
            state["faults"][method] = {"mode": mode, "remaining": times}

    def clear_faults(self) -> None:
        with self._state() as state:
            state["faults"] = {}

    def _take_fault(self, method: str, phase: str) -> str | None:
        after = phase == "after"
        with self._state() as state:
            fault = state["faults"].get(method)
            if not fault or fault["remaining"] == 0:
                return None
            if (fault["mode"] in ("accept_then_error", "lost_answer", "crash_after")) != after:
                return None
            fault["remaining"] -= 1
            return str(fault["mode"])

    def _before(self, method: str) -> None:
        _raise_fault(self._take_fault(method, "before"), method)

    def _after(self, method: str) -> None:
        _raise_fault(self._take_fault(method, "after"), method)

    # ------------------------------------------------------------ test helpers

    def start(self, scheduler_id: str) -> None:
        """The proc starts running."""
        self._update(scheduler_id, lambda ad: start_proc(ad, int(time.time())))

    def complete(self, scheduler_id: str, exit_code: int = 0, signal: int | None = None) -> None:
        """The proc exits; its OnExitHold is evaluated as the schedd would: held, with HoldReason and
        HoldReasonSubCode from OnExitHoldReason / OnExitHoldSubCode, or else to the history."""
        self._update(scheduler_id, lambda ad: exit_proc(ad, exit_code, signal, int(time.time())))

    def hold(self, scheduler_id: str, reason: str, code: int = JOB_POLICY) -> None:
        """The scheduler holds the proc (default: a job policy hold)."""
        held = {"JobStatus": 5, "HoldReason": reason, "HoldReasonCode": code}
        self._update(scheduler_id, lambda ad: set_attrs(ad, EnteredCurrentStatus=int(time.time()), **held))

    def remove(self, scheduler_id: str, reason: str = "removed by an operator") -> None:
        """An operator removes the proc (it moves to the history)."""
        self._update(scheduler_id, lambda ad: apply_action("Remove", ad, reason, int(time.time())))

    def forget(self, scheduler_id: str) -> None:
        """The proc vanishes from queue and history alike (history rotated away)."""
        with self._state() as state:
            state["queue"] = [t for t in state["queue"] if sid(classad2.ClassAd(t)) != scheduler_id]
            state["history"] = [t for t in state["history"] if sid(classad2.ClassAd(t)) != scheduler_id]

    def ads(self, constraint: str = "True", history: bool = False) -> list[dict[str, Any]]:
        """Matching ads of the queue (or the history) as plain dicts, for assertions."""
        expr = classad2.ExprTree(constraint)
        with self._state(write=False) as state:
            ads = parse_ads(state["history" if history else "queue"])
        return [plain(ad) for ad in ads if true(expr, ad)]

    def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        """Calls that took effect, oldest first: submits (cluster, procs) and acts (how ids were named)."""
        with self._state(write=False) as state:
            return [c for c in state["calls"] if method is None or c["method"] == method]

    def _update(self, scheduler_id: str, change: Callable[[Any], Any]) -> None:
        with self._state() as state:
            queue = parse_ads(state["queue"])
            matches = [ad for ad in queue if sid(ad) == scheduler_id]
            if not matches:
                raise KeyError(f"no proc {scheduler_id} in the fake schedd's queue")
            change(matches[0])
            store(state, queue)

    @contextlib.contextmanager
    def _state(self, write: bool = True) -> Iterator[dict[str, Any]]:
        """The state file, locked for the whole block; written back only if the block succeeds."""
        path = self.state_dir / "schedd.json"
        with open(self.state_dir / "schedd.lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                state = {"next_cluster": 1, "queue": [], "history": [], "calls": [], "faults": {}}
                state.update(json.loads(path.read_text()) if path.exists() else {})
                yield state
                if write:
                    tmp = path.with_suffix(".tmp")
                    tmp.write_text(json.dumps(state))
                    os.replace(tmp, path)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _raise_fault(mode: str | None, method: str) -> None:
    if mode is None:
        return
    if mode in ("hang", "lost_answer"):
        time.sleep(HANG_S)
    if mode in ("crash", "crash_after"):
        os._exit(CRASH_EXIT_CODE)
    raise htcondor2.HTCondorException(f"fake schedd: {method} failed ({mode})")
