"""Job ads to SchedulerProc values, and the constraints this service queries the schedd with.

Ads arrive here as plain dicts (the worker process projects and evaluates them), so this module is
pure: no htcondor2 import, no I/O. Constraints are built only from checked ids, quoted as ClassAd
strings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ee_retry.adapters.htcondor import safety
from ee_retry.domain.values import ProcState, SchedulerProc
from ee_retry.errors import InvalidParams

PROJECTION: tuple[str, ...] = (
    "ClusterId",
    "ProcId",
    "JobStatus",
    "ee_job_id",
    "ee_op_id",
    "ExitCode",
    "ExitBySignal",
    "ExitSignal",
    "HoldReason",
    "HoldReasonCode",
    "HoldReasonSubCode",
    "JobStartDate",
    "JobCurrentStartDate",
    "CompletionDate",
    "EnteredCurrentStatus",
)

# HTCondor JobStatus values.
IDLE, RUNNING, REMOVED, COMPLETED, HELD, TRANSFERRING_OUTPUT, SUSPENDED = 1, 2, 3, 4, 5, 6, 7
_STATES: dict[int, ProcState] = {
    IDLE: ProcState.IDLE,
    RUNNING: ProcState.RUNNING,
    REMOVED: ProcState.REMOVED,
    COMPLETED: ProcState.COMPLETED,
    HELD: ProcState.HELD,
    TRANSFERRING_OUTPUT: ProcState.RUNNING,  # the job has exited; its output is on the way back
    SUSPENDED: ProcState.RUNNING,  # still has its slot
}

# HoldReasonCode 15 (SubmittedOnHold) is the only hold that means "we held it" (hold=true at submit,
# waiting for the release that ends the retry lifecycle). Any other hold (1 UserRequest from an
# admin's condor_hold, 3 JobPolicy from on_exit_hold, ...) is the scheduler or a person stopping the
# job: the status sync marks the job error with the HoldReason and removes the proc. An on_exit_hold's
# HoldReason names the exit code or the signal (the submit description's on_exit_hold_reason).
HELD_BY_US_CODES = frozenset({15})

THIS_SERVICE = "ee_job_id isnt undefined"


def proc_from_ad(ad: Mapping[str, Any], in_queue: bool) -> SchedulerProc | None:
    """The proc an ad describes, or None when it is not one of ours (no ee_job_id) or malformed."""
    job_id = ad.get("ee_job_id")
    cluster, proc = _int_or_none(ad.get("ClusterId")), _int_or_none(ad.get("ProcId"))
    status = _int_or_none(ad.get("JobStatus"))
    if not isinstance(job_id, str) or cluster is None or proc is None or status is None:
        return None
    state = _STATES.get(status, ProcState.IDLE)
    op_id = ad.get("ee_op_id")
    held_code = _int_or_none(ad.get("HoldReasonCode"))
    held_by_us = state is ProcState.HELD and held_code in HELD_BY_US_CODES
    hold_reason = hold_code = hold_subcode = None
    held_by_them = state is ProcState.HELD and not held_by_us
    if held_by_them:
        reason = ad.get("HoldReason")
        hold_reason = str(reason) if reason is not None else f"held (HoldReasonCode {held_code})"
        hold_code, hold_subcode = held_code, _int_or_none(ad.get("HoldReasonSubCode"))
    exit_code = exit_signal = None
    if state is ProcState.COMPLETED or held_by_them:  # an on_exit_hold keeps the exit status
        if ad.get("ExitBySignal") is True:
            exit_signal = _int_or_none(ad.get("ExitSignal"))
        else:
            exit_code = _int_or_none(ad.get("ExitCode"))
    return SchedulerProc(
        job_id=job_id,
        operation_id=op_id if isinstance(op_id, str) else None,
        scheduler_id=f"{cluster}.{proc}",
        state=state,
        exit_code=exit_code,
        exit_signal=exit_signal,
        hold_reason=hold_reason,
        hold_code=hold_code,
        hold_subcode=hold_subcode,
        held_by_us=held_by_us,
        in_queue=in_queue,
        started=_time(ad.get("JobStartDate")) or _time(ad.get("JobCurrentStartDate")),
        finished=_finished(ad, state),
    )


def procs_from_ads(
    queue: Iterable[Mapping[str, Any]], history: Iterable[Mapping[str, Any]]
) -> list[SchedulerProc]:
    """Procs from a queue and a history answer; a proc seen in both is reported as history has it."""
    found: dict[str, SchedulerProc] = {}
    for ads, in_queue in ((queue, True), (history, False)):
        for ad in ads:
            proc = proc_from_ad(ad, in_queue)
            if proc is not None:
                found[proc.scheduler_id] = proc
    return list(found.values())


def operation_constraint(op_id: str) -> str:
    """Every proc tagged with this operation id."""
    if not isinstance(op_id, str) or safety.OP_ID_RE.fullmatch(op_id) is None:
        raise InvalidParams("an operation id must be 1-64 letters, digits, '_' or '-'")
    return f"ee_op_id =?= {_quote(op_id)}"


def jobs_constraint(job_ids: Sequence[str]) -> str:
    """Every proc tagged with one of these job ids (checked as 24-hex ids first)."""
    ids = [safety.check_job_id("job id", j) for j in job_ids]
    return f"member(ee_job_id, {{{', '.join(_quote(j) for j in ids)}}})"


def history_since(watermark: float) -> str:
    """A `since` expression: history is read newest first and stops at the first older record."""
    return f"EnteredCurrentStatus < {int(watermark)}"


def _quote(value: str) -> str:
    # Only checked ids reach here (hex, or letters/digits/_/-); quoting keeps it a ClassAd string anyway.
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _time(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def _finished(ad: Mapping[str, Any], state: ProcState) -> float | None:
    if state not in (ProcState.COMPLETED, ProcState.REMOVED):
        return None
    return _time(ad.get("CompletionDate")) or _time(ad.get("EnteredCurrentStatus"))
