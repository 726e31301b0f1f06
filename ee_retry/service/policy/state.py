"""Circuit breakers and budget use, kept as small state documents in the store so that every service
instance (and the one holding the automatic-retry lease after another) sees the same ones.

Only the lease holder writes budget use and breaker moves; an admin's breaker reset writes from any
instance, and the holder reads the states again at the start of each pass. The pass writes a breaker
back only if it is still as the pass read it (a compare-and-set on the document's revision): a reset
that lands during the pass stands, and the next pass starts from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from ee_retry.domain.policy.breaker import Breaker, BreakerState
from ee_retry.domain.policy.budgets import DAY_MS, HOUR_MS, BudgetUse
from ee_retry.domain.values import STATE_REV, StateWrite
from ee_retry.ports import JobStore

BREAKER = "breaker:"
USER_USE = "budget:user:"
APP_USE = "budget:app:"


def breaker_from_doc(app: str, doc: Mapping[str, Any]) -> Breaker:
    return Breaker(
        app=app,
        state=BreakerState(doc.get("state", BreakerState.CLOSED.value)),
        opened_at_ms=doc.get("opened_at_ms"),
        since_ms=int(doc.get("since_ms") or 0),
        probe_id=doc.get("probe_id"),
        probe_at_ms=doc.get("probe_at_ms"),
    )


def breaker_doc(breaker: Breaker) -> dict[str, Any]:
    doc = asdict(breaker)
    doc["state"] = breaker.state.value
    return doc


@dataclass
class PolicyState:
    breakers: dict[str, Breaker] = field(default_factory=dict)
    user_use: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    app_use: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)
    revs: dict[str, str | None] = field(default_factory=dict)  # each breaker's revision as read

    @classmethod
    async def load(cls, store: JobStore) -> PolicyState:
        """Two reads: every breaker, and every budget-use document."""
        breakers = await store.get_states(BREAKER)
        uses = await store.get_states("budget:")
        return cls(
            breakers={
                key[len(BREAKER) :]: breaker_from_doc(key[len(BREAKER) :], doc)
                for key, doc in breakers.items()
            },
            revs={key: doc.get(STATE_REV) for key, doc in breakers.items()},
            user_use={
                key[len(USER_USE) :]: _lists(doc) for key, doc in uses.items() if key.startswith(USER_USE)
            },
            app_use={
                key[len(APP_USE) :]: _lists(doc) for key, doc in uses.items() if key.startswith(APP_USE)
            },
        )

    def breaker(self, app: str) -> Breaker:
        return self.breakers.get(app) or Breaker(app)

    def set_breaker(self, breaker: Breaker) -> None:
        if self.breakers.get(breaker.app, Breaker(breaker.app)) != breaker:
            self.breakers[breaker.app] = breaker
            self.dirty.add(BREAKER + breaker.app)

    def use_for(self, user: str, app: str) -> BudgetUse:
        user_use, app_use = self.user_use.get(user, {}), self.app_use.get(app, {})
        return BudgetUse(
            user_starts_ms=tuple(user_use.get("starts", ())),
            app_starts_ms=tuple(app_use.get("starts", ())),
            user_failed_core_hours=tuple(
                (int(t), float(v)) for t, v in user_use.get("failed_core_hours", ())
            ),
        )

    def record_start(self, user: str, app: str, now_ms: int) -> None:
        self.user_use.setdefault(user, {}).setdefault("starts", []).append(now_ms)
        self.app_use.setdefault(app, {}).setdefault("starts", []).append(now_ms)
        self.dirty.update({USER_USE + user, APP_USE + app})

    def record_failed_attempt(self, user: str, now_ms: int, core_hours: float) -> None:
        self.user_use.setdefault(user, {}).setdefault("failed_core_hours", []).append([now_ms, core_hours])
        self.dirty.add(USER_USE + user)

    async def save(self, store: JobStore, now_ms: int) -> list[str]:
        """Write every changed document, with entries older than their window dropped: budget use in
        one write, and breakers in one compare-and-set write that skips a breaker written by someone
        else since it was read (an admin's reset). Such a breaker is read back as stored; returns
        their apps."""
        uses: dict[str, dict[str, Any]] = {}
        writes: list[StateWrite] = []
        for key in sorted(self.dirty):
            if key.startswith(BREAKER):
                doc = breaker_doc(self.breakers[key[len(BREAKER) :]])
                writes.append(StateWrite(key, doc, self.revs.get(key)))
            elif key.startswith(USER_USE):
                uses[key] = _pruned(self.user_use[key[len(USER_USE) :]], now_ms)
            elif key.startswith(APP_USE):
                uses[key] = _pruned(self.app_use[key[len(APP_USE) :]], now_ms)
        if uses:
            await store.put_states(uses)
        written = await store.put_states_if(writes) if writes else {}
        self.revs.update(written)
        self.dirty.clear()
        kept = [w.key for w in writes if w.key not in written]
        if kept:
            stored = await store.get_states(BREAKER)
            for key in kept:
                app = key[len(BREAKER) :]
                self.breakers[app] = breaker_from_doc(app, stored.get(key, {}))
                self.revs[key] = stored.get(key, {}).get(STATE_REV)
        return [key[len(BREAKER) :] for key in kept]


def _lists(doc: Mapping[str, Any]) -> dict[str, list[Any]]:
    return {k: list(v) for k, v in doc.items() if isinstance(v, list)}


def _pruned(use: dict[str, list[Any]], now_ms: int) -> dict[str, list[Any]]:
    use["starts"] = [t for t in use.get("starts", []) if t > now_ms - HOUR_MS]
    use["failed_core_hours"] = [e for e in use.get("failed_core_hours", []) if e[0] > now_ms - DAY_MS]
    return use
