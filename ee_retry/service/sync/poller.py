"""The status poller: one leader at a time (a lease in the store) syncs scheduler state into jobs."""

from __future__ import annotations

from ee_retry import constants
from ee_retry.domain.ids import new_id
from ee_retry.service.deps import Deps
from ee_retry.service.sync.loops import every
from ee_retry.service.sync.status_sync import apply_procs

LEASE_NAME = "status-poller"


class Poller:
    def __init__(self, deps: Deps, interval_s: float) -> None:
        self._deps = deps
        self._interval_s = interval_s
        self.instance_id = new_id()
        self.last_pass: float | None = None  # when this instance last completed a pass
        # Whether this instance holds the lease, as the last lease attempt that got an answer said. A
        # store error changes nothing: a leader that cannot reach the store is a poller whose lag must
        # keep showing, not one to hide by calling it a follower.
        self.leader = False
        self._lag_from: float | None = None  # the last pass, or when this instance took the lease

    async def run_once(self) -> int:
        """One pass if this instance holds the lease; returns how many jobs changed."""
        deps = self._deps
        now = deps.clock.now()
        ttl = max(constants.LEADER_LEASE_TTL_S, 3 * self._interval_s)
        held = await deps.store.acquire_lease(LEASE_NAME, self.instance_id, ttl, now)
        if held and not self.leader:
            self._lag_from = now
        self.leader = held
        if not held:
            return 0
        changed = await apply_procs(deps, await deps.scheduler.poll())
        self.last_pass = self._lag_from = deps.clock.now()
        deps.metrics.poller_last_pass.set(self.last_pass)
        return len(changed)

    def lag_s(self) -> float:
        """Seconds since this leader's last completed pass, or since it took the lease when none has
        completed since; 0 on an instance that does not hold the lease."""
        if not self.leader or self._lag_from is None:
            return 0.0
        return max(0.0, self._deps.clock.now() - self._lag_from)

    def export_metrics(self) -> None:
        """Set the lag and leader gauges as of now."""
        self._deps.metrics.poller_leader.set(1 if self.leader else 0)
        self._deps.metrics.poller_lag.set(self.lag_s())

    async def run_forever(self) -> None:
        await every(self._interval_s, self._pass, "status poll")

    async def _pass(self) -> None:
        try:
            await self.run_once()
        finally:
            self.export_metrics()

    async def stop(self) -> None:
        self.leader = False
        await self._deps.store.release_lease(LEASE_NAME, self.instance_id)
