"""The ports one service instance is built from, passed in (never looked up globally)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
