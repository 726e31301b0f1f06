"""get_retry_policy and reset_retry_breaker: what the active policy is and holds back, and an admin's
way to close a breaker."""

from __future__ import annotations

import logging
import sys
from dataclasses import replace
from typing import Any

from ee_retry import constants
from ee_retry.domain.access import Access, check_admin_flag
from ee_retry.domain.policy import breaker as breakers
from ee_retry.domain.policy.breaker import BreakerState
from ee_retry.domain.policy.budgets import BudgetUse, near_exhausted, usage
from ee_retry.domain.policy.describe import policy_dict
from ee_retry.domain.policy.model import AutoRetryState, Budgets, Policy
from ee_retry.domain.values import JobQuery, User
from ee_retry.errors import InvalidParams
from ee_retry.service.deps import Deps
from ee_retry.service.policy.records import Write, entry_of, store_writes
from ee_retry.service.policy.source import PolicySource
from ee_retry.service.policy.state import BREAKER, PolicyState, breaker_doc

log = logging.getLogger(__name__)


def _source(deps: Deps) -> PolicySource | None:
    source = deps.policy
    return source if isinstance(source, PolicySource) else None


async def retry_policy(deps: Deps, user: User) -> dict[str, Any]:
    """The active policy, when it was loaded, every breaker that is not closed, and the budgets used
    at least 80 %; a caller who is not a read admin sees only their own budget."""
    source = _source(deps)
    if source is None or source.current is None:
        return {"enabled": False, "policy": None, "loaded_at": None, "breakers": [], "budgets": []}
    now_ms = int(deps.clock.now() * 1000)
    state = await PolicyState.load(deps.store)
    policy = source.current.policy
    open_breakers = [
        {**breaker_doc(b), "reopens_at": _reopens_at(policy.breaker.cooldown_s if policy.breaker else 0, b)}
        for b in state.breakers.values()
        if b.state is not BreakerState.CLOSED
    ]
    mine = None if user.is_read_admin else user.name
    budgets = [b for b in budget_use(policy, state, now_ms, mine) if near_exhausted(b["used"], b["limit"])]
    return {
        "enabled": True,
        "file": source.path.name,
        "loaded_at": round(source.current.loaded_at * 1000),
        "last_error": source.last_error,
        "policy": policy_dict(policy),
        "breakers": open_breakers,
        "budgets": budgets,
    }


def budget_use(
    policy: Policy, state: PolicyState, now_ms: int, only_user: str | None = None
) -> list[dict[str, Any]]:
    """Every limited budget's use now: per user (only `only_user`'s when given) and, unless limited
    to one user, per app."""
    out: list[dict[str, Any]] = []
    per_user = replace(policy.budgets, per_app_per_hour=None)
    for name in sorted(state.user_use):
        if only_user is None or name == only_user:
            for budget, (used, limit) in usage(per_user, state.use_for(name, ""), now_ms).items():
                out.append({"user": name, "budget": budget, "used": used, "limit": limit})
    per_app = Budgets(per_app_per_hour=policy.budgets.per_app_per_hour)
    for app in sorted(state.app_use) if only_user is None else ():
        use = BudgetUse(app_starts_ms=tuple(state.app_use[app].get("starts", ())))
        for budget, (used, limit) in usage(per_app, use, now_ms).items():
            out.append({"app": app, "budget": budget, "used": used, "limit": limit})
    return out


def _reopens_at(cooldown_s: float, breaker: breakers.Breaker) -> int | None:
    if breaker.state is BreakerState.OPEN and breaker.opened_at_ms is not None:
        return breaker.opened_at_ms + int(cooldown_s * 1000)
    return None


async def reset_breaker(deps: Deps, user: User, app: object) -> dict[str, Any]:
    """Close an app's breaker now (EE2_ADMIN); outcomes before now no longer count, and the retries
    it paused become due now, so the next pass decides them again. The answer is the closed breaker
    and `released`, how many paused retries became due."""
    check_admin_flag(user, True, Access.WRITE, "reset a retry circuit breaker")
    if not isinstance(app, str) or not app or len(app) > constants.APP_NAME_MAX_LEN:
        raise InvalidParams(
            f"'app' must be the app's Module.method, 1 to {constants.APP_NAME_MAX_LEN} characters"
        )
    now_ms = int(deps.clock.now() * 1000)
    closed = breakers.closed(app, now_ms)
    await deps.store.put_states({BREAKER + app: breaker_doc(closed)})
    released = await _release_paused(deps, app, now_ms)
    log.info(
        "the circuit breaker of %s was reset by %s; %d paused retries released", app, user.name, released
    )
    return {**breaker_doc(closed), "released": released}


async def _release_paused(deps: Deps, app: str, now_ms: int) -> int:
    """Make the app's paused retries due now (one read, one compare-and-set write on each decision's
    revision, so a decision a pass moved since the read stays as that pass wrote it)."""
    query = JobQuery(
        auto_due_before=sys.float_info.max, method=app, limit=constants.AUTO_RETRY_MAX_DUE_PER_PASS
    )
    writes = []
    for original in await deps.store.find_jobs(query):
        entry = entry_of(original)
        if entry is not None and entry.due and entry.state is AutoRetryState.PAUSED:
            reason = f"circuit breaker of {app} was reset"
            writes.append(Write(original, replace(entry, next_at=now_ms, reason=reason)))
    return len(await store_writes(deps, writes))
