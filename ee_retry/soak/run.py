"""The soak's timeline: traffic with random kills, a quiet stretch for the memory figures, the drain and
the final checks; and the table it prints."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import httpx2

from ee_retry.domain.model import Job
from ee_retry.domain.values import JobQuery
from ee_retry.ports import JobStore
from ee_retry.settings import Settings
from ee_retry.soak import invariants as inv
from ee_retry.soak.service import ServiceProcess, processes_under
from ee_retry.soak.traffic import Client, Tally
from ee_retry.wiring import build_store

SAMPLE_EVERY_S = 1.0  # the in-flight invariant is checked on a full read of the jobs this often
KILL_GAP_S = (2.0, 6.0)  # time between two kills (uniform)
KILL_TARGETS = ("service", "database", "both")  # with --mongo, what one kill takes down
KILL_SHARE = 0.4  # kills happen only in the first 40% of the run; the rest measures memory
WARM_UP_S = 5.0  # memory "after warm-up" is read this long (at least) after the last start under traffic
WARM_UP_SHARE = 0.25  # ... or this share of the run, whichever is longer: caches fill as jobs pile up
DRAIN_POLL_S = 0.5
REQUEST_TIMEOUT_S = 30.0  # one call; a call cut by a kill fails at once


class Database(Protocol):
    """The MongoDB server of a --mongo run (ee_retry.testing.secantus.SecantusServer)."""

    def start(self) -> str: ...

    def kill(self) -> None: ...


@dataclass
class SoakConfig:
    seconds: float
    clients: int
    seed: int
    drain_s: float
    work_dir: Path
    service_env: dict[str, str] = field(default_factory=dict)


@dataclass
class SoakResult:
    tally: Tally
    violations: inv.Violations
    kills: Counter[str]
    jobs: int
    warm_rss: int | None
    end_rss: int | None


class Soak:
    def __init__(
        self, config: SoakConfig, service: ServiceProcess, store: JobStore, database: Database | None = None
    ) -> None:
        self.config, self.service, self.store, self.database = config, service, store, database
        self.rng = random.Random(config.seed)
        self.tally = Tally()
        self.violations = inv.Violations()
        self.kills: Counter[str] = Counter()
        self.warm_rss: int | None = None
        self.end_rss: int | None = None

    async def run(self) -> SoakResult:
        stop = asyncio.Event()
        started = time.monotonic()
        async with httpx2.AsyncClient(timeout=REQUEST_TIMEOUT_S) as http:
            clients = [
                Client(http, self.service.url, self.tally, random.Random(self.rng.random()))
                for _ in range(self.config.clients)
            ]
            tasks = [asyncio.create_task(c.loop(stop)) for c in clients]
            sampler = asyncio.create_task(self._sample(stop))
            await self._kill_and_measure(started)
            stop.set()
            await asyncio.gather(*tasks, sampler)
        jobs = await self._drain()
        await self._final_checks(jobs)
        return SoakResult(self.tally, self.violations, self.kills, len(jobs), self.warm_rss, self.end_rss)

    async def _kill_and_measure(self, started: float) -> None:
        """Kill and restart at random in the first part; then read memory after warm-up and at the end."""
        end = started + self.config.seconds
        kill_until = started + self.config.seconds * KILL_SHARE
        last_start = started
        order = self.rng.sample(KILL_TARGETS, len(KILL_TARGETS))  # with --mongo, each kind in turn
        while True:
            at = time.monotonic() + self.rng.uniform(*KILL_GAP_S)
            if at > kill_until:
                break
            await asyncio.sleep(at - time.monotonic())
            target = "service" if self.database is None else order[sum(self.kills.values()) % len(order)]
            self.kills[target] += 1
            if target in ("database", "both") and self.database is not None:
                self.database.kill()
            if target in ("service", "both"):
                self.service.kill9()
            if self.database is not None:
                await asyncio.to_thread(self.database.start)
            if target in ("service", "both"):
                await asyncio.to_thread(self.service.start)
                last_start = time.monotonic()
        warm_up = max(WARM_UP_S, self.config.seconds * WARM_UP_SHARE)
        await asyncio.sleep(max(0.0, min(last_start + warm_up, end) - time.monotonic()))
        self.warm_rss = self.service.rss()
        await asyncio.sleep(max(0.0, end - time.monotonic()))
        self.end_rss = self.service.rss()

    async def _sample(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                jobs = await self.store.find_jobs(JobQuery())
            except Exception:  # the store may be restarting (--mongo); the next sample reads again
                jobs = []
            self.violations.add(inv.IN_FLIGHT, inv.in_flight_twice(jobs))
            await asyncio.sleep(SAMPLE_EVERY_S)

    async def _drain(self) -> list[Job]:
        """Wait until no job is active (or the drain time is up); return the last read of every job."""
        deadline = time.monotonic() + self.config.drain_s
        while True:
            jobs = await self.store.find_jobs(JobQuery())
            self.violations.add(inv.IN_FLIGHT, inv.in_flight_twice(jobs))
            if not inv.not_terminal(jobs) or time.monotonic() > deadline:
                return list(jobs)
            await asyncio.sleep(DRAIN_POLL_S)

    async def _final_checks(self, drained: list[Job]) -> None:
        self.violations.add(inv.NOT_TERMINAL, inv.not_terminal(drained))
        # A restart runs start-up recovery, which reconciles every incomplete operation at once.
        await asyncio.to_thread(self.service.stop)
        await asyncio.to_thread(self.service.start)
        await asyncio.to_thread(self.service.stop)
        self.violations.add(inv.INCOMPLETE_OPS, inv.incomplete(await self.store.find_operations()))
        self.violations.add(inv.DUPLICATE_LINKS, inv.duplicate_links(await self.store.find_jobs(JobQuery())))
        left = processes_under(self.service.data_dir / "jobs")
        self.violations.add(inv.LEFTOVER_PROCS, [f"pid {pid}" for pid in left])
        self.violations.add(inv.BAD_5XX, self.tally.bad_5xx)
        self.violations.add(inv.MEMORY, inv.memory_growth(self.warm_rss, self.end_rss))
        self.violations.add(inv.IDEMPOTENT, inv.idempotency_conflicts(self.tally.keyed))


def observer_store(data_dir: Path, mongo_uri: str | None, mongo_db: str) -> JobStore:
    """The soak's own handle on the service's store, for reading jobs and operations."""
    return build_store(Settings(data_dir=data_dir, mongo_uri=mongo_uri, mongo_db=mongo_db))


def render(result: SoakResult, header: str) -> str:
    """The table: requests by method and outcome, kills survived, each invariant with its violations."""
    lines = [header, "", "| method | outcome | requests |", "|---|---|---:|"]
    for (method, result_name), n in sorted(result.tally.outcomes.items()):
        lines.append(f"| {method} | {result_name} | {n} |")
    total = sum(result.tally.outcomes.values())
    lines += [f"| all | | {total} |", ""]
    mib = [
        f"{b / 2**20:.1f} MiB" if b is not None else "not measured" for b in (result.warm_rss, result.end_rss)
    ]
    kills = ", ".join(f"{what} {n}" for what, n in sorted(result.kills.items())) or "none"
    lines.append(f"Kills survived (SIGKILL, then restart): {kills}. Jobs created: {result.jobs}.")
    lines.append(f"Service memory after warm-up: {mib[0]}; at the end: {mib[1]}.")
    lines += ["", "| invariant | violations |", "|---|---:|"]
    for name in inv.ORDER:
        lines.append(f"| {name} | {result.violations.counts[name]} |")
    for name, example in result.violations.examples.items():
        lines.append(f"\nFirst violation of '{name}': {example}")
    return "\n".join(lines)
