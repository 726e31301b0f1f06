"""The local executor's claim on its store: one live instance per store runs local jobs.

A local job's process lives in the service process that started it, and no other process can see
it. So start-up recovery (which kills leftover job processes and marks jobs it cannot see `error`),
reconcile with no grace period and the in-service reaper are safe only in the one instance that owns
the store's local jobs. That instance holds a lease in the store, named `local-executor`, renewed
every INSTANCE_CLAIM_RENEW_S; another instance refuses to start while it is live.

The holder's name is its host and its data folder. The data folder's own lock (adapters/local/folder_lock)
admits one process per folder, so a process that holds the folder lock and finds the lease held under
its own name knows the holder died (a crash, then a restart): the lease is taken over at once. An
instance with another data folder waits for a dead holder's lease to lapse (INSTANCE_CLAIM_TTL_S).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from pathlib import Path

from ee_retry.constants import INSTANCE_CLAIM_TTL_S
from ee_retry.ports import JobStore

log = logging.getLogger(__name__)

LEASE_NAME = "local-executor"


class InstanceClaimed(Exception):
    """Another live ee-retry instance owns this store's local jobs."""


def holder_name(data_dir: Path) -> str:
    """This instance's name in the claim: its host and its data folder."""
    return f"{socket.gethostname()}:{data_dir.resolve()}"


def claimed_message(data_dir: Path) -> str:
    return (
        "another ee-retry instance with the local executor is running on this job store; its jobs run "
        "in its own process, so this one does not start. Stop the other instance first; if it was "
        f"killed, start again within {INSTANCE_CLAIM_TTL_S:.0f} s (its claim lapses) or use its data "
        f"folder. This instance's data folder: {data_dir.resolve()}"
    )


class InstanceClaim:
    """Take, keep and give back the store's local-executor lease."""

    def __init__(self, store: JobStore, data_dir: Path, now: Callable[[], float]) -> None:
        self._store = store
        self._data_dir = data_dir
        self._now = now
        self.holder = holder_name(data_dir)
        self.held = False

    async def take(self) -> None:
        """Take the claim or raise InstanceClaimed; called before any recovery."""
        if not await self._store.acquire_lease(LEASE_NAME, self.holder, INSTANCE_CLAIM_TTL_S, self._now()):
            raise InstanceClaimed(claimed_message(self._data_dir))
        self.held = True

    async def renew(self) -> None:
        """One renewal; losing the claim (a store outage longer than its TTL) is logged loudly."""
        kept = await self._store.acquire_lease(LEASE_NAME, self.holder, INSTANCE_CLAIM_TTL_S, self._now())
        if self.held and not kept:
            log.error("this instance lost its claim on the job store; another instance holds it now")
        self.held = kept

    async def release(self) -> None:
        if self.held:
            await self._store.release_lease(LEASE_NAME, self.holder)
            self.held = False
