"""The automatic retrier: under a lease (one holder at a time, like the poller), each pass re-reads the
policy file if it changed, decides what finished, and starts what is due."""

from __future__ import annotations

import logging
import random
from pathlib import Path

from ee_retry import constants
from ee_retry.domain.ids import new_id
from ee_retry.domain.policy.breaker import BreakerState
from ee_retry.domain.policy.model import Policy
from ee_retry.domain.policy.rules import Uniform
from ee_retry.service.deps import Deps
from ee_retry.service.policy.admin import budget_use
from ee_retry.service.policy.decisions import decide_pass, supersede_pass
from ee_retry.service.policy.source import PolicySource
from ee_retry.service.policy.starter import start_pass
from ee_retry.service.policy.state import PolicyState
from ee_retry.service.sync.loops import every
from ee_retry.settings import Settings

log = logging.getLogger(__name__)

LEASE_NAME = "auto-retry"
_BREAKER_GAUGE = {BreakerState.CLOSED: 0, BreakerState.OPEN: 1, BreakerState.HALF_OPEN: 2}


def policy_source(settings: Settings, runs_with_owner_token: bool, now: float) -> PolicySource | None:
    """The policy named by EE_RETRY_POLICY_FILE, read now; None when unset. A file that is missing or
    does not validate, or a scheduler that needs a token when EE_RETRY_POLICY_TOKEN is unset, is a
    configuration error (ValueError) that stops the service from starting."""
    if settings.policy_file is None:
        return None
    path = Path(settings.policy_file)
    if runs_with_owner_token and not settings.policy_token:
        raise ValueError(
            "EE_RETRY_POLICY_FILE is set but EE_RETRY_POLICY_TOKEN is not: on this scheduler jobs run "
            "with a token, and automatic attempts run with the service token EE_RETRY_POLICY_TOKEN"
        )
    source = PolicySource(path)
    try:
        source.load_first(now)
    except OSError as exc:
        raise ValueError(f"EE_RETRY_POLICY_FILE {path.name}: cannot read it ({type(exc).__name__})") from None
    except UnicodeDecodeError:
        raise ValueError(f"EE_RETRY_POLICY_FILE {path.name}: not UTF-8 text") from None
    return source


class AutoRetrier:
    def __init__(
        self,
        deps: Deps,
        source: PolicySource,
        interval_s: float,
        token: str | None = None,
        uniform: Uniform | None = None,
    ) -> None:
        self._deps = deps
        self.source = source
        self._interval_s = interval_s
        self._token = token
        self._uniform = uniform or random.Random().uniform
        self.instance_id = new_id()
        self.leader = False
        self._since: float | None = None  # finished jobs updated at or after this are looked at

    async def run_once(self) -> tuple[int, int]:
        """One pass if this instance holds the lease: (decisions stored, attempts started)."""
        deps = self._deps
        now = deps.clock.now()
        policy = self.source.refresh(now)
        ttl = max(constants.LEADER_LEASE_TTL_S, 3 * self._interval_s)
        self.leader = await deps.store.acquire_lease(LEASE_NAME, self.instance_id, ttl, now)
        if not self.leader or policy is None:
            self._since = None  # a later holder looks back again
            return (0, 0)
        since = self._since if self._since is not None else now - constants.AUTO_RETRY_LOOKBACK_S
        state = await PolicyState.load(deps.store)
        decided = await decide_pass(deps, policy, state, since, self._uniform)
        decided += await supersede_pass(deps, since)
        started = await start_pass(deps, policy, state, self._token)
        for app in await state.save(deps.store, int(deps.clock.now() * 1000)):
            log.info(
                "the circuit breaker of %s was written during this pass (an admin's reset): that "
                "state stands, and the next pass judges the app from it",
                app,
            )
        self._since = now - constants.AUTO_RETRY_RESCAN_S
        self._export(policy, state)
        return (len(decided), len(started))

    def _export(self, policy: Policy, state: PolicyState) -> None:
        metrics = self._deps.metrics
        for app, breaker in state.breakers.items():
            metrics.auto_breaker.labels(app).set(_BREAKER_GAUGE[breaker.state])
        for use in budget_use(policy, state, int(self._deps.clock.now() * 1000)):
            ratio = use["used"] / use["limit"] if use["limit"] else 1.0
            metrics.auto_budget.labels(use["budget"], use.get("user") or use.get("app") or "").set(ratio)

    async def run_forever(self) -> None:
        await every(self._interval_s, self.run_once, "automatic retry pass")

    async def stop(self) -> None:
        self.leader = False
        await self._deps.store.release_lease(LEASE_NAME, self.instance_id)
