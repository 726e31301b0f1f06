"""retry_job / retry_jobs: plan (no writes), reserve, one scheduler submission, link, release.

The answer lists, in input order, `{job_id, retry_id}` or `{job_id, error}`; `job_id` is the original's
id when the item named a job that exists. Stored answer items also carry the error's `code`, so that a
replayed `retry_job` raises the same error class; the wire form drops it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ee_retry.constants import MAX_JOB_IDS_PER_CALL
from ee_retry.domain.access import Access, check_admin_flag
from ee_retry.domain.model import Operation, OperationKind, OperationState, OperationUpdate
from ee_retry.domain.retry_rules import in_flight_message, same_original_message
from ee_retry.domain.values import User
from ee_retry.errors import (
    InvalidParams,
    PermissionDenied,
    RetryInFlight,
    TooManyIds,
    item_error,
)
from ee_retry.service.deps import Deps
from ee_retry.service.submit import idempotency
from ee_retry.service.submit.requests import RetryRequest
from ee_retry.service.submit.retry_plan import RetryPlan, conflicts_by_original, plan_retry
from ee_retry.service.submit.specs import specs_builder
from ee_retry.service.submit.submission import reserve, submit_reserved


async def retry(
    deps: Deps, user: User, req: RetryRequest, origin: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Run a retry request; returns the stored answer items (with codes).

    `origin`: the request that chose the ids (retry_failed_jobs: its method, filters and limit); it
    is kept in the audit record, and an idempotency key is matched against it instead of the ids.
    """
    _check_request(user, req)
    req_hash = idempotency.request_hash(origin if origin is not None else req.fingerprint())
    if req.idempotency_key is not None:
        held = await idempotency.holder(deps, user.name, req.idempotency_key)
        if held is not None:
            return list(await idempotency.replay(deps, held, req_hash))
    plan = await plan_retry(deps, user, req)
    op = _operation(plan, user, req, req_hash, origin)
    if not plan.attempts:
        answer = await _record_refusal(deps, op, _answer(plan, {}))
        deps.metrics.retries_refused.inc(len(answer))
        return answer
    reservation = await reserve(deps, op, plan.attempts, answer_for=lambda c: _answer(plan, c))
    if reservation.op.id != op.id:  # a concurrent call with the same key got there first
        return list(await idempotency.replay(deps, reservation.op, req_hash))
    if reservation.jobs:
        await submit_reserved(deps, reservation, specs_builder(deps, user.token))
    else:
        reserved = frozenset({OperationState.RESERVED})
        await deps.store.update_operation(
            OperationUpdate(op.id, reserved, {"state": OperationState.DONE.value})
        )
    answer = list(reservation.op.result or [])
    deps.metrics.retries_started.inc(len(reservation.jobs))
    deps.metrics.retries_refused.inc(sum(1 for a in answer if "error" in a))
    return answer


def _check_request(user: User, req: RetryRequest) -> None:
    """Whole-call rules: a non-empty, bounded list without repeats; admin-only requirements."""
    if not req.job_ids:
        raise InvalidParams("No job_ids provided to retry")
    if len(req.job_ids) > MAX_JOB_IDS_PER_CALL:
        raise TooManyIds(f"{len(req.job_ids)} job_ids; at most {MAX_JOB_IDS_PER_CALL} per call")
    repeated = [i for i, n in Counter(str(j) for j in req.job_ids).items() if n > 1]
    if repeated:
        raise InvalidParams(
            f"Retry of the same id in the same request is not supported. Offending ids: {repeated}"
        )
    check_admin_flag(user, req.as_admin, Access.WRITE, "retry jobs")
    if req.job_requirements is not None and not (req.as_admin and user.is_admin):
        raise PermissionDenied("job_requirements on a retry may only be set by an EE2_ADMIN with as_admin")


def _operation(
    plan: RetryPlan, user: User, req: RetryRequest, req_hash: str, origin: Mapping[str, Any] | None
) -> Operation:
    """The operation record, which is also the audit record of who asked for which retry."""
    request: dict[str, Any] = {
        "method": "retry_job" if req.single else "retry_jobs",
        **req.fingerprint(),
        "idempotency_key": req.idempotency_key,
    }
    if origin is not None:
        request.update(method=origin.get("method", request["method"]), origin=dict(origin))
    job_ids = tuple(a.id for a in plan.attempts)
    return Operation.reserving(
        plan.op_id, OperationKind.RETRY, user.name, plan.now, job_ids, request, req.idempotency_key, req_hash
    )


async def _record_refusal(deps: Deps, op: Operation, answer: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A request where every item was refused still leaves its audit record (and idempotent answer)."""
    holder = await deps.store.insert_operation(replace(op, state=OperationState.DONE, result=answer))
    if holder is not None:
        return list(await idempotency.replay(deps, holder, op.request_hash or ""))
    return answer


def _answer(plan: RetryPlan, conflicts: Mapping[str, str | None]) -> list[dict[str, Any]]:
    """Per-item answer in input order, once the store's guard has spoken."""
    in_flight = conflicts_by_original(plan, conflicts)
    out: list[dict[str, Any]] = []
    for item in plan.items:
        job_id = item.original_id or str(item.named_id)
        err = item.error
        if err is None and item.original_id in in_flight:
            err = RetryInFlight(in_flight_message(item.original_id, in_flight[item.original_id]))
        elif err is None and item.same_as is not None:
            first = plan.items[item.same_as].attempt
            assert first is not None and item.original_id is not None
            err = RetryInFlight(same_original_message(str(item.named_id), item.original_id, first.id))
        if err is not None:
            out.append({"job_id": job_id, **item_error(err)})
        else:
            assert item.attempt is not None
            out.append({"job_id": job_id, "retry_id": item.attempt.id})
    return out
