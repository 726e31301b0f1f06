"""Circuit breakers and budget use, kept as small state documents in the store so that every service
instance (and the one holding the automatic-retry lease after another) sees the same ones.

Only the lease holder writes budget use and breaker moves, and an admin's breaker reset writes from any
instance; the holder reads the states again at the start of each pass. Two instances may still both
believe they hold the lease (a holder paused past its lease), so every document a pass writes back is
a compare-and-set on its revision as the pass read it:

- a breaker written by someone else since the read (an admin's reset) is not overwritten: it is read
  back as stored, the reset stands, and the next pass starts from it;
- a budget-use document written by someone else since the read is read back, the entries this pass
  added (its starts and failed core-hours) are appended to the stored ones, and the write is tried
  again, at most BUDGET_WRITE_TRIES times. Only this pass's additions are merged, so an entry both
  writers hold counts once and neither writer's entries are lost. A document still refused after the
  last try is logged with a WARNING, and this pass's additions to it are lost: each pass loads the
  states afresh.

After a save, the state in memory is what the store holds, plus the additions of any budget-use
document still refused.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ee_retry import constants
from ee_retry.domain.policy.breaker import Breaker, BreakerState
from ee_retry.domain.policy.budgets import DAY_MS, HOUR_MS, BudgetUse
from ee_retry.domain.values import STATE_REV, StateWrite
from ee_retry.ports import JobStore

log = logging.getLogger(__name__)

BREAKER = "breaker:"
USE = "budget:"
USER_USE = USE + "user:"
APP_USE = USE + "app:"


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
    revs: dict[str, str | None] = field(default_factory=dict)  # each document's revision as read
    added: dict[str, dict[str, list[Any]]] = field(default_factory=dict)  # budget-use entries not yet stored

    @classmethod
    async def load(cls, store: JobStore) -> PolicyState:
        """Two reads: every breaker, and every budget-use document."""
        breakers = await store.get_states(BREAKER)
        uses = await store.get_states(USE)
        return cls(
            breakers={
                key[len(BREAKER) :]: breaker_from_doc(key[len(BREAKER) :], doc)
                for key, doc in breakers.items()
            },
            revs={key: doc.get(STATE_REV) for key, doc in {**breakers, **uses}.items()},
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
        self._add(USER_USE + user, "starts", now_ms)
        self._add(APP_USE + app, "starts", now_ms)

    def record_failed_attempt(self, user: str, now_ms: int, core_hours: float) -> None:
        self._add(USER_USE + user, "failed_core_hours", [now_ms, core_hours])

    def _add(self, key: str, kind: str, entry: Any) -> None:
        """Append one entry to the budget-use document under `key`, and note it as this pass's own."""
        self._use(key).setdefault(kind, []).append(entry)
        self.added.setdefault(key, {}).setdefault(kind, []).append(entry)
        self.dirty.add(key)

    def _use(self, key: str) -> dict[str, list[Any]]:
        """The budget-use document under `key` as held in memory (an empty one if there is none)."""
        if key.startswith(USER_USE):
            return self.user_use.setdefault(key[len(USER_USE) :], {})
        return self.app_use.setdefault(key[len(APP_USE) :], {})

    async def save(self, store: JobStore, now_ms: int) -> list[str]:
        """Write every changed document, with entries older than their window dropped, as a
        compare-and-set on its revision as read: budget use first (merged with a write made since the
        read, as the module's docstring says), then breakers in one write that skips a breaker written
        by someone else since it was read (an admin's reset). Such a breaker is read back as stored;
        returns their apps."""
        keys = sorted(self.dirty)
        refused = await self._save_uses(store, [k for k in keys if not k.startswith(BREAKER)], now_ms)
        kept = await self._save_breakers(store, [k for k in keys if k.startswith(BREAKER)])
        self.dirty = set(refused)
        return kept

    async def _save_uses(self, store: JobStore, keys: Sequence[str], now_ms: int) -> list[str]:
        """Write the budget-use documents under `keys` by compare-and-set; those written by someone else
        since the read are read back, given this pass's additions and tried again. Returns the keys
        still refused after BUDGET_WRITE_TRIES tries."""
        pending = list(keys)
        for _ in range(constants.BUDGET_WRITE_TRIES):
            if not pending:
                break
            writes = [StateWrite(k, _pruned(self._use(k), now_ms), self.revs.get(k)) for k in pending]
            written = await store.put_states_if(writes)
            self.revs.update(written)
            for key in written:
                self.added.pop(key, None)
            pending = [key for key in pending if key not in written]
            if pending:
                stored = await store.get_states(USE)
                for key in pending:
                    self._rebase(key, stored.get(key, {}))
        for key in pending:
            log.warning(
                "budget use %s was written by another writer before each of %d tries: the entries "
                "this pass added to it are not stored",
                key,
                constants.BUDGET_WRITE_TRIES,
            )
        return pending

    def _rebase(self, key: str, doc: Mapping[str, Any]) -> None:
        """Hold the budget-use document under `key` as stored (`doc`) plus this pass's additions, and
        expect the stored revision at the next write."""
        merged = _lists(doc)
        for kind, entries in self.added.get(key, {}).items():
            merged.setdefault(kind, []).extend(entries)
        use = self._use(key)
        use.clear()
        use.update(merged)
        self.revs[key] = doc.get(STATE_REV)

    async def _save_breakers(self, store: JobStore, keys: Sequence[str]) -> list[str]:
        """Write the breakers under `keys` in one compare-and-set write; one refused is read back as
        stored. Returns the apps of those."""
        writes = [
            StateWrite(k, breaker_doc(self.breakers[k[len(BREAKER) :]]), self.revs.get(k)) for k in keys
        ]
        written = await store.put_states_if(writes) if writes else {}
        self.revs.update(written)
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
