"""Finish or roll back every submission operation a crash left incomplete.

    RESERVING  -> roll back: the reserved documents were never acknowledged to anyone; delete them,
                  free the idempotency key, mark the operation rolled_back.
    RESERVED / LINKED -> finish: ask the scheduler what it holds for the operation, submit only what
                  is missing (held), record ids, link, release, mark queued, mark done.

Operations younger than the grace period are left alone: their request may still be running. Every
step is idempotent, so a second pass right after the first writes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ee_retry import constants
from ee_retry.domain.model import Operation, OperationState
from ee_retry.errors import EERetryError
from ee_retry.service.deps import Deps
from ee_retry.service.specs import specs_builder
from ee_retry.service.submission import advance

log = logging.getLogger(__name__)

INCOMPLETE = (OperationState.RESERVING, OperationState.RESERVED, OperationState.LINKED)


@dataclass(frozen=True)
class ReconcileAction:
    """What reconcile did (or, in a dry run, would do) with one operation."""

    op_id: str
    kind: str
    state: str
    action: str  # "finished", "rolled_back", "failed", or "would finish" / "would roll back"
    jobs: int
    detail: str = ""


async def reconcile(
    deps: Deps, grace_s: float = constants.SUBMIT_GRACE_S, dry_run: bool = False
) -> list[ReconcileAction]:
    """One pass over every incomplete operation older than `grace_s`."""
    now = deps.clock.now()
    actions: list[ReconcileAction] = []
    for op in await deps.store.find_operations(states=list(INCOMPLETE)):
        if op.updated > now - grace_s:
            continue
        try:
            actions.append(await reconcile_one(deps, op, dry_run))
        except EERetryError as exc:
            log.warning("reconcile of operation %s failed: %s", op.id, exc.message)
            actions.append(_action(op, "failed", exc.message))
    return actions


async def reconcile_one(deps: Deps, op: Operation, dry_run: bool = False) -> ReconcileAction:
    if op.state is OperationState.RESERVING:
        if dry_run:
            return _action(op, "would roll back")
        await deps.store.delete_created(op.job_ids)
        await deps.store.update_operation(
            op.id,
            frozenset({OperationState.RESERVING}),
            {"state": OperationState.ROLLED_BACK.value, "updated": deps.clock.now()},
        )
        await deps.store.release_idempotency(op.id)
        return _action(op, "rolled_back", "never acknowledged; reserved jobs removed")
    jobs = list((await deps.store.get_jobs(op.job_ids)).values())
    if dry_run:
        held = await deps.scheduler.procs_for_operation(op.id)
        return _action(op, "would finish", f"scheduler holds {len(held)} of {len(jobs)} jobs")
    await advance(deps, op, jobs, specs_builder(deps, token=None), fresh=False)
    return _action(op, "finished", f"{len(jobs)} jobs submitted, linked and released")


def _action(op: Operation, action: str, detail: str = "") -> ReconcileAction:
    return ReconcileAction(op.id, op.kind.value, op.state.value, action, len(op.job_ids), detail)
