"""The ports one service instance is built from, passed in (never looked up globally)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from ee_retry.domain.backoff import Tries
from ee_retry.metrics import Metrics
from ee_retry.ports import Auth, Catalog, Clock, JobStore, Scheduler, Workspace
from ee_retry.settings import Settings


@dataclass
class Deps:
    store: JobStore
    scheduler: Scheduler
    auth: Auth
    workspace: Workspace
    catalog: Catalog
    clock: Clock
    settings: Settings = field(default_factory=Settings)
    metrics: Metrics = field(default_factory=Metrics)
    policy: Any = None  # the automatic retry policy source (service.policy.source.PolicySource), if any
    # Operations a request of this instance left incomplete when the store failed after its submit:
    # nothing of theirs is still under way, so reconcile_abandoned finishes them without a grace period.
    abandoned: set[str] = field(default_factory=set)
    abandoned_tries: dict[str, Tries] = field(default_factory=dict)  # of those whose finishing failed


async def close_clients(deps: Deps) -> None:
    """Close the identity, permission and catalog clients; a failure to close is logged, not raised
    (it happens on the way out, and the store must still be closed after it)."""
    for port in (deps.auth, deps.workspace, deps.catalog):
        try:
            await port.close()
        except Exception as exc:
            logging.getLogger(__name__).warning("closing %s failed: %s", type(port).__name__, exc)
