"""Building, matching and changing the fake schedd's job ads."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import classad2
import htcondor2

SUBMITTED_ON_HOLD = 15  # HoldReasonCode for hold=true at submit
USER_REQUEST = 1  # HoldReasonCode for condor_hold / act(Hold)
ON_HOLD = "submitted on hold at user's request"
OWNER = "ee-retry"  # the Owner of every fake job (the service account)
JOB_POLICY = 3  # HoldReasonCode for on_exit_hold / periodic_hold
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
    "on_exit_hold_reason": ("OnExitHoldReason", classad2.ExprTree),
    "on_exit_hold_subcode": ("OnExitHoldSubCode", classad2.ExprTree),
    "periodic_hold": ("PeriodicHold", classad2.ExprTree),
    "request_cpus": ("RequestCpus", int),
    "request_memory": ("RequestMemory", lambda v: _size_kb(v, "M") // 1024),
    "request_disk": ("RequestDisk", lambda v: _size_kb(v, "K")),
    "job_lease_duration": ("JobLeaseDuration", int),
    "max_job_retirement_time": ("MaxJobRetirementTime", int),
    "universe": ("JobUniverse", lambda v: {"vanilla": 5}[v.lower()]),
    "getenv": ("GetEnv", lambda v: v.lower() == "true"),
}


# ---------------------------------------------------------------- submit -> ads


def round_trip(
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


def expand(commands: Mapping[str, str], row: Mapping[str, str], cluster: int, proc: int) -> dict[str, str]:
    """Each command with `$(...)` expanded for one proc by the real submit macro expander."""
    sub = htcondor2.Submit(dict(commands))
    for key, value in row.items():
        sub[key] = value
    for name, number in (("Cluster", cluster), ("ClusterId", cluster), ("Process", proc), ("ProcId", proc)):
        sub[name] = str(number)
    return {key: sub.expand(key) for key in commands}


def ad_for(commands: Mapping[str, str], cluster: int, proc: int, now: int) -> Any:
    """The job ad the schedd would build from one proc's expanded commands."""
    ad = classad2.ClassAd()
    set_attrs(
        ad, ClusterId=cluster, ProcId=proc, QDate=now, EnteredCurrentStatus=now, JobStatus=1, Owner=OWNER
    )
    for key, value in commands.items():
        low = key.lower()
        if low.startswith("my.") or key.startswith("+"):
            if value.strip():
                ad[key[3:] if low.startswith("my.") else key[1:]] = classad2.ExprTree(value)
        elif low == "hold":
            if value.lower() in ("true", "1", "yes"):
                set_attrs(
                    ad, JobStatus=5, HoldReasonCode=SUBMITTED_ON_HOLD, HoldReasonSubCode=0, HoldReason=ON_HOLD
                )
        elif low in _COMMANDS:
            attribute, convert = _COMMANDS[low]
            ad[attribute] = convert(value)
        else:
            raise ValueError(f"FakeSchedd does not know the submit command {key!r}")
    if "AcctGroup" in ad:
        user = ad.get("AcctGroupUser", OWNER)
        set_attrs(ad, AcctGroupUser=user, AccountingGroup=f"{ad['AcctGroup']}.{user}")
    return ad


# ---------------------------------------------------------------- state helpers


def parse_ads(texts: list[str]) -> list[Any]:
    return [classad2.ClassAd(t) for t in texts]


def store(state: dict[str, Any], queue: list[Any]) -> None:
    """Write the queue back; procs that left it (removed, completed) go to the history."""
    state["queue"] = [str(ad) for ad in queue if ad.eval("JobStatus") not in (3, 4)]
    state["history"].extend(str(ad) for ad in queue if ad.eval("JobStatus") in (3, 4))


def sid(ad: Any) -> str:
    return f"{ad.eval('ClusterId')}.{ad.eval('ProcId')}"


def set_attrs(ad: Any, **values: Any) -> None:
    for key, value in values.items():
        ad[key] = value


def true(expr: Any, ad: Any) -> bool:
    return expr.eval(ad) is True


def project(ad: Any, projection: list[str]) -> Any:
    if not projection:
        return ad
    out = classad2.ClassAd()
    for name in projection:
        if name in ad:
            out[name] = ad.lookup(name)
    return out


def plain(ad: Any) -> dict[str, Any]:
    """Literal attributes as Python values (undefined as None), expressions as their text."""
    out: dict[str, Any] = {}
    for name in ad:
        value = ad.get(name)
        if isinstance(value, classad2.ExprTree):
            out[name] = str(value)
        else:
            out[name] = None if isinstance(value, classad2.Value) else value
    return out


def since_expr(since: Any) -> Any:
    if since is None:
        return None
    if isinstance(since, int):
        return classad2.ExprTree(f"ClusterId == {since}")
    if isinstance(since, str) and _JOB_ID_RE.fullmatch(since):
        cluster, proc = since.split(".")
        return classad2.ExprTree(f"ClusterId == {cluster} && ProcId == {proc}")
    return classad2.ExprTree(str(since))


def named_ids(job_spec: Any) -> list[str]:
    return [str(i) for i in job_spec] if isinstance(job_spec, list) else []


def spec_record(job_spec: Any) -> Any:
    return list(job_spec) if isinstance(job_spec, list) else {"not_a_list": str(job_spec)}


def select(queue: list[Any], job_spec: Any) -> list[Any]:
    """The queue ads a job_spec names, as the bindings read it (a plain string is a constraint)."""
    if isinstance(job_spec, list):
        wanted = set(named_ids(job_spec))
        return [ad for ad in queue if sid(ad) in wanted]
    if isinstance(job_spec, int):
        return [ad for ad in queue if ad.eval("ClusterId") == job_spec]
    if isinstance(job_spec, str) and _JOB_ID_RE.fullmatch(job_spec):
        return [ad for ad in queue if sid(ad) == job_spec]
    expr = classad2.ExprTree(str(job_spec))
    return [ad for ad in queue if true(expr, ad)]


def apply_action(name: str, ad: Any, reason: str, now: int) -> bool:
    status = ad.eval("JobStatus")
    if name == "Release":
        if status != 5:
            return False
        for key in ("HoldReason", "HoldReasonCode", "HoldReasonSubCode"):
            if key in ad:
                del ad[key]
        set_attrs(ad, JobStatus=1, EnteredCurrentStatus=now)
    elif name == "Remove":
        set_attrs(ad, JobStatus=3, RemoveReason=reason, EnteredCurrentStatus=now)
    elif name == "Hold":
        if status == 5:
            return False
        set_attrs(ad, JobStatus=5, HoldReason=reason, HoldReasonCode=USER_REQUEST, EnteredCurrentStatus=now)
    else:
        raise NotImplementedError(f"FakeSchedd does not implement {name}")
    return True


def start_proc(ad: Any, now: int) -> None:
    if "JobStartDate" not in ad:
        ad["JobStartDate"] = now
    set_attrs(ad, JobStatus=2, JobCurrentStartDate=now, EnteredCurrentStatus=now)


def exit_proc(ad: Any, exit_code: int, signal: int | None, now: int) -> None:
    """The process exits: held when OnExitHold is true (as the schedd does), else to the history."""
    if signal is None:
        set_attrs(ad, ExitBySignal=False, ExitCode=exit_code)
    else:
        set_attrs(ad, ExitBySignal=True, ExitSignal=signal)
    if "OnExitHold" in ad and ad.eval("OnExitHold") is True:
        set_attrs(
            ad,
            JobStatus=5,
            HoldReasonCode=JOB_POLICY,
            HoldReasonSubCode=_policy_subcode(ad, "OnExitHold"),
            EnteredCurrentStatus=now,
            HoldReason=_policy_reason(ad, "OnExitHold"),
        )
        return
    set_attrs(ad, JobStatus=4, CompletionDate=now, EnteredCurrentStatus=now)


def _policy_reason(ad: Any, policy: str) -> str:
    """`<policy>Reason` evaluated in the ad; when it is not a non-empty string, the schedd's default."""
    reason = ad.eval(f"{policy}Reason") if f"{policy}Reason" in ad else None
    if isinstance(reason, str) and reason:
        return reason
    return f"The job attribute {policy} expression '{ad.lookup(policy)}' evaluated to TRUE"


def _policy_subcode(ad: Any, policy: str) -> int:
    """`<policy>SubCode` evaluated in the ad when it is a number, else 0 (the schedd's default)."""
    subcode = ad.eval(f"{policy}SubCode") if f"{policy}SubCode" in ad else None
    if isinstance(subcode, int | float) and not isinstance(subcode, bool):
        return int(subcode)
    return 0
