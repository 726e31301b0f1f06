"""The two measured paths of the retry benchmark, run over metered fakes, and what each left behind."""

from __future__ import annotations

import cProfile
import io
import pstats
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from ee_retry.domain.ids import new_id
from ee_retry.domain.jobs import new_attempt
from ee_retry.domain.model import Job, JobInput, JobStatus
from ee_retry.domain.values import ProcState, Transition, User
from ee_retry.ports import JobStore, Scheduler
from ee_retry.service.deps import Deps
from ee_retry.service.submit.requests import RetryRequest
from ee_retry.service.submit.retry import retry
from ee_retry.service.submit.specs import specs_builder
from ee_retry.testing.harness import ALICE_TOKEN, service_deps
from ee_retry.testing.instrument import Instrumented
from ee_retry.testing.mongo import open_test_store
from ee_retry.testing.scheduler import FakeScheduler

DEFAULT_STORE_LATENCY_MS = 1.0  # one MongoDB round trip on a LAN
DEFAULT_SUBMIT_LATENCY_MS = 80.0  # one HTCondor schedd transaction (ee2: ~9 s per 100 serial retries)
BATCH_EVERY = 10  # every tenth seeded job is a batch child, so child_jobs linking is exercised
DEMO_WSID = 1  # owned by alice in ee_retry/demo/workspaces.json
DEMO_METHOD = "Demo.run"
DEMO_COMMIT = "52ea58866b80a931944b028dd66b9b3a906be270"  # Demo's release in ee_retry/demo/catalog.json
SEED_AGE_S = 3_600.0  # seeded jobs failed an hour before the request

PROFILE_TOP = 40  # functions listed by --profile

QUERIES = ("procs_for_operation", "procs_for_jobs", "poll")  # scheduler calls that only read


@dataclass(frozen=True)
class Latency:
    """Injected latency per call, in seconds."""

    store_s: float = DEFAULT_STORE_LATENCY_MS / 1_000
    submit_s: float = DEFAULT_SUBMIT_LATENCY_MS / 1_000

    @property
    def is_default(self) -> bool:
        return self == Latency()


@dataclass(frozen=True)
class Seed:
    """The failed jobs to retry (in request order) and the batch container of each batch child."""

    jobs: tuple[Job, ...]
    original_ids: tuple[str, ...]
    container_of: dict[str, str]


@dataclass(frozen=True)
class EndState:
    """What a retry of every seeded job left behind; both paths must leave the same."""

    originals: int
    linked: int  # originals whose retry_ids is exactly [their new attempt]
    child_jobs_appended: int  # batch children whose attempt was appended to the container's child_jobs
    saved: int  # attempts with retry_saved_toggle set
    queued: int  # attempts in status queued with a scheduler id
    in_scheduler: int  # attempts the scheduler holds exactly one released proc for


@dataclass(frozen=True)
class PathRun:
    """One path at one N: wall time, calls counted by method, and the end state."""

    wall_s: float
    store_calls: Counter[str]
    scheduler_calls: Counter[str]
    end: EndState

    @property
    def round_trips(self) -> int:
        return sum(self.store_calls.values())

    @property
    def submits(self) -> int:
        return self.scheduler_calls["submit"]

    @property
    def queries(self) -> int:
        return sum(self.scheduler_calls[m] for m in QUERIES)


@dataclass(frozen=True)
class Row:
    n: int
    ours: PathRun
    serial: PathRun

    @property
    def speedup(self) -> float:
        return self.serial.wall_s / self.ours.wall_s if self.ours.wall_s > 0 else float("inf")


def table_lines(table: Sequence[Sequence[str]], markdown: bool) -> list[str]:
    """A header row and data rows as a Markdown table or as right-aligned columns."""
    if markdown:
        lines = ["| " + " | ".join(c) + " |" for c in table]
        lines.insert(1, "|" + "|".join("---:" for _ in table[0]) + "|")
        return lines
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    return ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in table]


# ---------------------------------------------------------------- the two paths


def seed(n: int, user: str, now: float) -> Seed:
    """N failed originals owned by `user`; job i with i % BATCH_EVERY == 0 is the child of its own batch."""
    failed_at = now - SEED_AGE_S
    originals: list[Job] = []
    containers: list[Job] = []
    container_of: dict[str, str] = {}
    common: dict[str, Any] = {
        "user": user,
        "status": JobStatus.ERROR,
        "created": failed_at,
        "updated": failed_at,
    }
    for i in range(n):
        job_id = new_id(failed_at)
        batch_id = new_id(failed_at) if i % BATCH_EVERY == 0 else None
        job_input = JobInput(method=DEMO_METHOD, service_ver=DEMO_COMMIT, params=[{"i": i}], wsid=DEMO_WSID)
        originals.append(
            Job(
                id=job_id,
                job_input=job_input,
                wsid=DEMO_WSID,
                finished=failed_at,
                errormsg="seeded failure",
                batch_id=batch_id,
                scheduler_type="fake",
                scheduler_id=f"0.{i}",
                **common,
            )
        )
        if batch_id is not None:
            container_of[job_id] = batch_id
            containers.append(
                Job(
                    id=batch_id,
                    job_input=None,
                    wsid=DEMO_WSID,
                    batch_job=True,
                    child_jobs=(job_id,),
                    **common,
                )
            )
    return Seed(tuple(containers + originals), tuple(j.id for j in originals), container_of)


async def run_ours(deps: Deps, user: User, ids: Sequence[str]) -> None:
    """Our path: one retry_jobs request for every id."""
    answer = await retry(deps, user, RetryRequest(job_ids=tuple(ids)))
    refused = [a for a in answer if "retry_id" not in a]
    if refused:
        raise RuntimeError(f"the service refused {len(refused)} items, e.g. {refused[0]}")


async def run_serial(deps: Deps, user: User, ids: Sequence[str]) -> None:
    """A model of ee2's `_retry` loop, one job at a time: five store round trips (six for a batch
    child) and one scheduler submit each."""
    specs_for = specs_builder(deps, user.token)
    for job_id in ids:
        original = (await deps.store.get_jobs([job_id]))[job_id]
        now = deps.clock.now()
        op_id = new_id(now)
        attempt = new_attempt(original, new_id(now), user.name, now, op_id)
        await deps.store.insert_jobs([attempt])
        spec = (await specs_for([attempt]))[attempt.id]
        sid = (await deps.scheduler.submit(op_id, [spec], hold=False))[attempt.id]
        queued = {
            "queued": now,
            "updated": now,
            "scheduler_id": sid,
            "scheduler_type": deps.scheduler.scheduler_type,
        }
        await deps.store.transition(
            [Transition(attempt.id, frozenset({JobStatus.CREATED}), JobStatus.QUEUED, queued)]
        )
        await deps.store.link({original.id: [attempt.id]}, {}, [])
        if original.batch_id is not None:
            await deps.store.link({}, {original.batch_id: [attempt.id]}, [])
        await deps.store.set_fields({attempt.id: {"retry_saved_toggle": True}})


PATHS = {"ours": run_ours, "serial": run_serial}


# ---------------------------------------------------------------- measuring


async def end_state(store: JobStore, scheduler: FakeScheduler, seeded: Seed) -> EndState:
    """Read back what the retry left (unmetered): links, toggles, statuses and scheduler procs."""
    originals = await store.get_jobs(list(seeded.original_ids))
    attempt_of = {o.id: o.retry_ids[-1] for o in originals.values() if o.retry_ids}
    attempts = await store.get_jobs(list(attempt_of.values()))
    containers = await store.get_jobs(sorted(set(seeded.container_of.values())))
    procs = Counter(p.job_id for p in scheduler.procs() if p.state is ProcState.IDLE)
    return EndState(
        originals=len(originals),
        linked=sum(
            1
            for o in originals.values()
            if len(o.retry_ids) == 1
            and o.retry_ids[0] in attempts
            and attempts[o.retry_ids[0]].retry_parent == o.id
        ),
        child_jobs_appended=sum(
            1
            for child, batch in seeded.container_of.items()
            if child in attempt_of and attempt_of[child] in containers[batch].child_jobs
        ),
        saved=sum(1 for a in attempts.values() if a.retry_saved_toggle),
        queued=sum(1 for a in attempts.values() if a.status is JobStatus.QUEUED and a.scheduler_id),
        in_scheduler=sum(1 for a in attempts.values() if procs[a.id] == 1),
    )


async def measure(
    path: str, n: int, store_kind: str, latency: Latency, profiler: cProfile.Profile | None = None
) -> PathRun:
    """Seed N jobs in a fresh store, then time one path retrying them all over metered fakes
    (under `profiler` when given; seeding and read-back are never profiled or timed)."""
    with tempfile.TemporaryDirectory(prefix="ee-retry-bench-") as tmp:
        async with open_test_store(store_kind, Path(tmp)) as store:
            fake = FakeScheduler()
            metered_store = Instrumented(store, latency_s=latency.store_s)
            metered_scheduler = Instrumented(fake, latency_s=latency.submit_s)
            deps = service_deps(cast(JobStore, metered_store), cast(Scheduler, metered_scheduler))
            user = await deps.auth.user_for_token(ALICE_TOKEN)
            seeded = seed(n, user.name, deps.clock.now())
            await store.insert_jobs(seeded.jobs)
            if profiler is not None:
                profiler.enable()
            started = time.perf_counter()
            try:
                await PATHS[path](deps, user, seeded.original_ids)
            finally:
                wall = time.perf_counter() - started
                if profiler is not None:
                    profiler.disable()
            calls = (Counter(metered_store.calls), Counter(metered_scheduler.calls))
            return PathRun(wall, calls[0], calls[1], await end_state(store, fake, seeded))


async def bench_retry(sizes: Sequence[int], store_kind: str, latency: Latency) -> list[Row]:
    """Both paths at every N, each on its own fresh store and scheduler."""
    rows = []
    for n in sizes:
        ours = await measure("ours", n, store_kind, latency)
        serial = await measure("serial", n, store_kind, latency)
        rows.append(Row(n, ours, serial))
    return rows


async def profile_ours(n: int, store_kind: str, latency: Latency, top: int = PROFILE_TOP) -> str:
    """Our path at N under cProfile, on its own fresh store: the functions with most cumulative time."""
    profiler = cProfile.Profile()
    run = await measure("ours", n, store_kind, latency, profiler)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    head = f"cProfile of ours at N = {n} ({store_kind}): {run.wall_s:.3f} s under the profiler, "
    return head + f"store calls {dict(run.store_calls)}\n{out.getvalue()}"
