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
import re
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import classad2
import htcondor2

STATE_DIR_ENV = "EE_RETRY_FAKE_SCHEDD_DIR"
HANG_S = 3_600.0  # a "hang" outlasts any call timeout; the worker is killed long before
CRASH_EXIT_CODE = 86
FAULT_MODES = frozenset({"unavailable", "hang", "crash", "accept_then_error", "lost_answer", "crash_after"})
SUBMITTED_ON_HOLD = 15  # HoldReasonCode for hold=true at submit
USER_REQUEST = 1  # HoldReasonCode for condor_hold / act(Hold)
ON_HOLD = "submitted on hold at user's request"
OWNER = "ee-retry"  # the Owner of every fake job (the service account)
JOB_POLICY = 3  # HoldReasonCode for on_exit_hold / periodic_hold
_DEFAULT_ITEMDATA = object()
_JOB_ID_RE = re.compile(r"\d+\.\d+")


def _size_kb(value: str, default_unit: str) -> int:
    """'30GB' -> KiB; a bare number is in `default_unit` (K, M, G or T)."""
    match = re.fullmatch(r"\s*(\d+)\s*([KMGT]?)B?\s*", value, re.IGNORECASE)
    if match is None:
        raise ValueError(f"not a size: {value!r}")
    unit = match.group(2).upper() or default_unit
    return int(match.group(1)) << (10 * "KMGT".index(unit))


# submit command -> (job ad attribute, how the expanded value becomes the attribute's value)
_COMMANDS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "executable": ("Cmd", str),
    "arguments": ("Arguments", str),
    "environment": ("Environment", lambda v: v[1:-1] if v.startswith('"') else v),
    "batch_name": ("JobBatchName", str),
    "concurrency_limits": ("ConcurrencyLimits", str),
    "accounting_group": ("AcctGroup", str),
    "accounting_group_user": ("AcctGroupUser", str),
    "log": ("UserLog", str),
    "output": ("Out", str),
    "error": ("Err", str),
    "initialdir": ("Iwd", str),
    "transfer_input_files": ("TransferInput", str),
    "should_transfer_files": ("ShouldTransferFiles", str),
    "when_to_transfer_output": ("WhenToTransferOutput", str),
    "requirements": ("Requirements", classad2.ExprTree),
    "on_exit_hold": ("OnExitHold", classad2.ExprTree),
    "periodic_hold": ("PeriodicHold", classad2.ExprTree),
    "request_cpus": ("RequestCpus", int),
    "request_memory": ("RequestMemory", lambda v: _size_kb(v, "M") // 1024),
    "request_disk": ("RequestDisk", lambda v: _size_kb(v, "K")),
    "job_lease_duration": ("JobLeaseDuration", int),
    "max_job_retirement_time": ("MaxJobRetirementTime", int),
    "universe": ("JobUniverse", lambda v: {"vanilla": 5}[v.lower()]),
    "getenv": ("GetEnv", lambda v: v.lower() == "true"),
}


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
        commands, parsed_rows = _round_trip(description, rows)
        with self._state() as state:
            cluster = int(state["next_cluster"])
            now = int(time.time())
            new_ads = [
                _ad_for(_expand(commands, row, cluster, i), cluster, i, now)
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
            ads = [ad for ad in _ads(state["queue"]) if _true(expr, ad)]
        if limit >= 0:
            ads = ads[:limit]
        result = [_project(ad, projection) for ad in ads]
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
        stop = _since_expr(since)
        found: list[Any] = []
        with self._state(write=False) as state:
            for ad in reversed(_ads(state["history"])):
                if stop is not None and _true(stop, ad):
                    break
                if expr is None or _true(expr, ad):
                    found.append(_project(ad, projection))
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
                {"method": "act", "action": name, "job_spec": _spec_record(job_spec), "reason": text}
            )
            queue = _ads(state["queue"])
            chosen = _select(queue, job_spec)
            totals["TotalNotFound"] = (
                len(_named_ids(job_spec)) - len(chosen) if isinstance(job_spec, list) else 0
            )
            for ad in chosen:
                ok = _apply_action(name, ad, text, int(time.time()))
                totals["TotalSuccess" if ok else "TotalBadStatus"] += 1
            _store(state, queue)
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
        self._update(scheduler_id, lambda ad: _start(ad, int(time.time())))

    def complete(self, scheduler_id: str, exit_code: int = 0, signal: int | None = None) -> None:
        """The proc exits; its OnExitHold is evaluated as the schedd would (held, or to history)."""
        self._update(scheduler_id, lambda ad: _exit(ad, exit_code, signal, int(time.time())))

    def hold(self, scheduler_id: str, reason: str, code: int = JOB_POLICY) -> None:
        """The scheduler holds the proc (default: a job policy hold)."""
        held = {"JobStatus": 5, "HoldReason": reason, "HoldReasonCode": code}
        self._update(scheduler_id, lambda ad: _set(ad, EnteredCurrentStatus=int(time.time()), **held))

    def remove(self, scheduler_id: str, reason: str = "removed by an operator") -> None:
        """An operator removes the proc (it moves to the history)."""
        self._update(scheduler_id, lambda ad: _apply_action("Remove", ad, reason, int(time.time())))

    def forget(self, scheduler_id: str) -> None:
        """The proc vanishes from queue and history alike (history rotated away)."""
        with self._state() as state:
            state["queue"] = [t for t in state["queue"] if _sid(classad2.ClassAd(t)) != scheduler_id]
            state["history"] = [t for t in state["history"] if _sid(classad2.ClassAd(t)) != scheduler_id]

    def ads(self, constraint: str = "True", history: bool = False) -> list[dict[str, Any]]:
        """Matching ads of the queue (or the history) as plain dicts, for assertions."""
        expr = classad2.ExprTree(constraint)
        with self._state(write=False) as state:
            ads = _ads(state["history" if history else "queue"])
        return [_plain(ad) for ad in ads if _true(expr, ad)]

    def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        """Calls that took effect, oldest first: submits (cluster, procs) and acts (how ids were named)."""
        with self._state(write=False) as state:
            return [c for c in state["calls"] if method is None or c["method"] == method]

    def _update(self, scheduler_id: str, change: Callable[[Any], Any]) -> None:
        with self._state() as state:
            queue = _ads(state["queue"])
            matches = [ad for ad in queue if _sid(ad) == scheduler_id]
            if not matches:
                raise KeyError(f"no proc {scheduler_id} in the fake schedd's queue")
            change(matches[0])
            _store(state, queue)

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


# ---------------------------------------------------------------- submit -> ads


def _round_trip(
    description: Any, rows: list[Mapping[str, str]]
) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Serialise as Schedd.submit does and parse back: the commands and rows the schedd would see."""
    text = "".join(f"{key} = {value}\n" for key, value in description.items()) + "\n"
    if not rows:
        return dict(htcondor2.Submit(text).items()), [{}]
    keys = list(rows[0].keys())
    lines = []
    for row in rows:
        if any("\n" in k for k in row) or any("\n" in str(v) for v in row.values()):
            raise ValueError("itemdata values must not contain newlines")
        lines.append("\x1f".join(str(row.get(k, "")) for k in keys))
    parsed = htcondor2.Submit(text + f"QUEUE {','.join(keys)} FROM (\n" + "\n".join(lines) + "\n)\n")
    return dict(parsed.items()), list(parsed.itemdata() or [])


def _expand(commands: Mapping[str, str], row: Mapping[str, str], cluster: int, proc: int) -> dict[str, str]:
    """Each command with `$(...)` expanded for one proc by the real submit macro expander."""
    sub = htcondor2.Submit(dict(commands))
    for key, value in row.items():
        sub[key] = value
    for name, number in (("Cluster", cluster), ("ClusterId", cluster), ("Process", proc), ("ProcId", proc)):
        sub[name] = str(number)
    return {key: sub.expand(key) for key in commands}


def _ad_for(commands: Mapping[str, str], cluster: int, proc: int, now: int) -> Any:
    """The job ad the schedd would build from one proc's expanded commands."""
    ad = classad2.ClassAd()
    _set(ad, ClusterId=cluster, ProcId=proc, QDate=now, EnteredCurrentStatus=now, JobStatus=1, Owner=OWNER)
    for key, value in commands.items():
        low = key.lower()
        if low.startswith("my.") or key.startswith("+"):
            if value.strip():
                ad[key[3:] if low.startswith("my.") else key[1:]] = classad2.ExprTree(value)
        elif low == "hold":
            if value.lower() in ("true", "1", "yes"):
                _set(
                    ad, JobStatus=5, HoldReasonCode=SUBMITTED_ON_HOLD, HoldReasonSubCode=0, HoldReason=ON_HOLD
                )
        elif low in _COMMANDS:
            attribute, convert = _COMMANDS[low]
            ad[attribute] = convert(value)
        else:
            raise ValueError(f"FakeSchedd does not know the submit command {key!r}")
    if "AcctGroup" in ad:
        user = ad.get("AcctGroupUser", OWNER)
        _set(ad, AcctGroupUser=user, AccountingGroup=f"{ad['AcctGroup']}.{user}")
    return ad


# ---------------------------------------------------------------- state helpers


def _ads(texts: list[str]) -> list[Any]:
    return [classad2.ClassAd(t) for t in texts]


def _store(state: dict[str, Any], queue: list[Any]) -> None:
    """Write the queue back; procs that left it (removed, completed) go to the history."""
    state["queue"] = [str(ad) for ad in queue if ad.eval("JobStatus") not in (3, 4)]
    state["history"].extend(str(ad) for ad in queue if ad.eval("JobStatus") in (3, 4))


def _sid(ad: Any) -> str:
    return f"{ad.eval('ClusterId')}.{ad.eval('ProcId')}"


def _set(ad: Any, **values: Any) -> None:
    for key, value in values.items():
        ad[key] = value


def _true(expr: Any, ad: Any) -> bool:
    return expr.eval(ad) is True


def _project(ad: Any, projection: list[str]) -> Any:
    if not projection:
        return ad
    out = classad2.ClassAd()
    for name in projection:
        if name in ad:
            out[name] = ad.lookup(name)
    return out


def _plain(ad: Any) -> dict[str, Any]:
    """Literal attributes as Python values (undefined as None), expressions as their text."""
    out: dict[str, Any] = {}
    for name in ad:
        value = ad.get(name)
        if isinstance(value, classad2.ExprTree):
            out[name] = str(value)
        else:
            out[name] = None if isinstance(value, classad2.Value) else value
    return out


def _since_expr(since: Any) -> Any:
    if since is None:
        return None
    if isinstance(since, int):
        return classad2.ExprTree(f"ClusterId == {since}")
    if isinstance(since, str) and _JOB_ID_RE.fullmatch(since):
        cluster, proc = since.split(".")
        return classad2.ExprTree(f"ClusterId == {cluster} && ProcId == {proc}")
    return classad2.ExprTree(str(since))


def _named_ids(job_spec: Any) -> list[str]:
    return [str(i) for i in job_spec] if isinstance(job_spec, list) else []


def _spec_record(job_spec: Any) -> Any:
    return list(job_spec) if isinstance(job_spec, list) else {"not_a_list": str(job_spec)}


def _select(queue: list[Any], job_spec: Any) -> list[Any]:
    """The queue ads a job_spec names, as the bindings read it (a plain string is a constraint)."""
    if isinstance(job_spec, list):
        wanted = set(_named_ids(job_spec))
        return [ad for ad in queue if _sid(ad) in wanted]
    if isinstance(job_spec, int):
        return [ad for ad in queue if ad.eval("ClusterId") == job_spec]
    if isinstance(job_spec, str) and _JOB_ID_RE.fullmatch(job_spec):
        return [ad for ad in queue if _sid(ad) == job_spec]
    expr = classad2.ExprTree(str(job_spec))
    return [ad for ad in queue if _true(expr, ad)]


def _apply_action(name: str, ad: Any, reason: str, now: int) -> bool:
    status = ad.eval("JobStatus")
    if name == "Release":
        if status != 5:
            return False
        for key in ("HoldReason", "HoldReasonCode", "HoldReasonSubCode"):
            if key in ad:
                del ad[key]
        _set(ad, JobStatus=1, EnteredCurrentStatus=now)
    elif name == "Remove":
        _set(ad, JobStatus=3, RemoveReason=reason, EnteredCurrentStatus=now)
    elif name == "Hold":
        if status == 5:
            return False
        _set(ad, JobStatus=5, HoldReason=reason, HoldReasonCode=USER_REQUEST, EnteredCurrentStatus=now)
    else:
        raise NotImplementedError(f"FakeSchedd does not implement {name}")
    return True


def _start(ad: Any, now: int) -> None:
    if "JobStartDate" not in ad:
        ad["JobStartDate"] = now
    _set(ad, JobStatus=2, JobCurrentStartDate=now, EnteredCurrentStatus=now)


def _exit(ad: Any, exit_code: int, signal: int | None, now: int) -> None:
    if signal is None:
        _set(ad, ExitBySignal=False, ExitCode=exit_code)
    else:
        _set(ad, ExitBySignal=True, ExitSignal=signal)
    if "OnExitHold" in ad and ad.eval("OnExitHold") is True:
        expr = str(ad.lookup("OnExitHold"))
        _set(
            ad,
            JobStatus=5,
            HoldReasonCode=JOB_POLICY,
            HoldReasonSubCode=0,
            EnteredCurrentStatus=now,
            HoldReason=f"The job attribute OnExitHold expression '{expr}' evaluated to TRUE",
        )
        return
    _set(ad, JobStatus=4, CompletionDate=now, EnteredCurrentStatus=now)


def _raise_fault(mode: str | None, method: str) -> None:
    if mode is None:
        return
    if mode in ("hang", "lost_answer"):
        time.sleep(HANG_S)
    if mode in ("crash", "crash_after"):
        os._exit(CRASH_EXIT_CODE)
    raise htcondor2.HTCondorException(f"fake schedd: {method} failed ({mode})")
