"""Build a service from fakes: the demo tokens, workspaces and catalog, a fake scheduler and clock."""

from __future__ import annotations

from ee_retry.adapters.kbase.static import FileAuth, FileCatalog, FileWorkspace
from ee_retry.domain.values import User
from ee_retry.ports import Clock, JobStore, Scheduler
from ee_retry.service.deps import Deps
from ee_retry.settings import Settings, demo_file
from ee_retry.testing.clock import FakeClock
from ee_retry.testing.scheduler import FakeScheduler

# Demo tokens shipped in ee_retry/demo/tokens.json.
ALICE_TOKEN = "alice-token"  # owns workspace 1
BOB_TOKEN = "bob-token"  # reads workspace 1, owns workspace 2
ADMIN_TOKEN = "admin-token"  # EE2_ADMIN
READONLY_ADMIN_TOKEN = "readonly-admin-token"  # EE2_ADMIN_RO


def service_deps(
    store: JobStore,
    scheduler: Scheduler | None = None,
    clock: Clock | None = None,
    settings: Settings | None = None,
) -> Deps:
    """Deps over the given store, with the demo file adapters and fakes for the rest."""
    return Deps(
        store=store,
        scheduler=scheduler or FakeScheduler(),
        auth=FileAuth(demo_file("tokens.json")),
        workspace=FileWorkspace(demo_file("workspaces.json")),
        catalog=FileCatalog(demo_file("catalog.json")),
        clock=clock or FakeClock(1_700_000_000.0),
        settings=settings or Settings(),
    )


async def user(deps: Deps, token: str) -> User:
    return await deps.auth.user_for_token(token)
