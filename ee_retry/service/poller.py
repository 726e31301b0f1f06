"""The status poller: one leader at a time (a lease in the store) syncs scheduler state into jobs."""

from __future__ import annotations

from ee_retry import constants
from ee_retry.domain.ids import new_id
from ee_retry.service.deps import Deps
from ee_retry.service.loops import every
from ee_retry.service.status_sync import apply_procs

LEASE_NAME = "status-poller"


class Poller:
    def __init__(self, deps: Deps, interval_s: float) -> None:
        self._deps = deps
        self._interval_s = interval_s
        self.instance_id = new_id()
        self.last_pass: float | None = None

    async def run_once(self) -> int:
        """One pass if this instance holds the lease; returns how many jobs changed."""
        deps = self._deps
        now = deps.clock.now()
        ttl = max(constants.LEADER_LEASE_TTL_S, 3 * self._interval_s)
        if not await deps.store.acquire_lease(LEASE_NAME, self.instance_id, ttl, now):
            return 0
        changed = await apply_procs(deps, await deps.scheduler.poll())
        self.last_pass = deps.clock.now()
        deps.metrics.poller_last_pass.set(self.last_pass)
        return len(changed)

    async def run_forever(self) -> None:
        await every(self._interval_s, self._pass, "status poll")

    async def _pass(self) -> None:
        try:
            await self.run_once()
        finally:
            if self.last_pass is not None:
                self._deps.metrics.poller_lag.set(self._deps.clock.now() - self.last_pass)

    async def stop(self) -> None:
        await self._deps.store.release_lease(LEASE_NAME, self.instance_id)
