"""Idempotency keys: the same key with the same params replays the first answer, never re-runs."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from ee_retry import constants
from ee_retry.domain.model import Operation, OperationState
from ee_retry.errors import IdempotencyConflict, InvalidParams
from ee_retry.service.deps import Deps

_KEY = re.compile(rf"[A-Za-z0-9_.:-]{{1,{constants.IDEMPOTENCY_KEY_MAX_LEN}}}")
_WAIT_STEP_S = 0.05  # how often a second caller with the same key looks for the first one's answer


def check_key(key: object) -> str | None:
    """None, or a key of 1 to 255 of [A-Za-z0-9_.:-]."""
    if key is None:
        return None
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise InvalidParams(
            f"idempotency_key must be 1 to {constants.IDEMPOTENCY_KEY_MAX_LEN} characters "
            "of A-Z a-z 0-9 _ . : -"
        )
    return key


def request_hash(fingerprint: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode()).hexdigest()


def _expired(op: Operation, now: float) -> bool:
    return op.state.finished and op.updated < now - constants.IDEMPOTENCY_TTL_S


async def holder(deps: Deps, user: str, key: str) -> Operation | None:
    """The unexpired operation that holds (user, key), if any."""
    found = await deps.store.find_operations(user=user, idempotency_key=key)
    live = [
        op
        for op in found
        if op.idempotency_key == key
        and op.state is not OperationState.ROLLED_BACK
        and not _expired(op, deps.clock.now())
    ]
    return live[-1] if live else None


async def replay(deps: Deps, op: Operation, req_hash: str) -> Any:
    """The holder's answer: an error if the params differ; waits while the first call is under way."""
    if op.request_hash != req_hash:
        raise IdempotencyConflict(
            "This idempotency_key was already used with different params; use a new key for a new request"
        )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + constants.IDEMPOTENCY_WAIT_S
    current: Operation | None = op
    while current is not None and not current.state.finished:
        if loop.time() > deadline:
            raise IdempotencyConflict(
                "A request with this idempotency_key is still in progress; "
                "send it again later to get its answer"
            )
        await asyncio.sleep(_WAIT_STEP_S)
        current = await deps.store.get_operation(op.id)
    if current is None or current.state is OperationState.ROLLED_BACK or current.result is None:
        raise IdempotencyConflict(
            "The request with this idempotency_key did not complete; use a new key to try again"
        )
    return current.result
