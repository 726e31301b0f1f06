"""The soak's invariants, as pure functions of what the soak observed; each returns its violations.

An "attempt" is a job that is not a batch container; its original is `retry_parent` or itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ee_retry.domain.model import ACTIVE_STATUSES, Job, Operation

MEMORY_GROWTH_LIMIT = 0.20  # service memory at the end may exceed memory after warm-up by this much

IN_FLIGHT = "at most one attempt in flight per original, at every sample"
DUPLICATE_LINKS = "no duplicate in any retry_ids or child_jobs"
NOT_TERMINAL = "every job terminal after the drain"
INCOMPLETE_OPS = "no incomplete operation after reconcile"
LEFTOVER_PROCS = "no local job process left over"
BAD_5XX = "no 5xx other than JSON-RPC errors"
MEMORY = f"service memory at the end within {MEMORY_GROWTH_LIMIT:.0%} of memory after warm-up"
IDEMPOTENT = "one idempotency key never answers two different attempts"
ORDER = (
    IN_FLIGHT,
    DUPLICATE_LINKS,
    NOT_TERMINAL,
    INCOMPLETE_OPS,
    LEFTOVER_PROCS,
    BAD_5XX,
    MEMORY,
    IDEMPOTENT,
)


@dataclass
class Violations:
    """Violation counts per invariant (every invariant listed, 0 when it held) and one example each."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ORDER, 0))
    examples: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, found: Sequence[str]) -> None:
        self.counts[name] += len(found)
        if found and name not in self.examples:
            self.examples[name] = found[0]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def in_flight_twice(jobs: Iterable[Job]) -> list[str]:
    """Originals with more than one active attempt in this sample."""
    active = Counter(j.original_id for j in jobs if not j.batch_job and j.status in ACTIVE_STATUSES)
    return [f"original {o} has {n} attempts in flight" for o, n in sorted(active.items()) if n > 1]


def duplicate_links(jobs: Iterable[Job]) -> list[str]:
    """Jobs whose retry_ids or child_jobs name one job twice."""
    found = []
    for job in jobs:
        for name, ids in (("retry_ids", job.retry_ids), ("child_jobs", job.child_jobs)):
            twice = sorted(i for i, n in Counter(ids).items() if n > 1)
            if twice:
                found.append(f"job {job.id}: {name} holds {', '.join(twice)} more than once")
    return found


def not_terminal(jobs: Iterable[Job]) -> list[str]:
    return [
        f"job {j.id} is still {j.status.value} (scheduler id {j.scheduler_id}, operation {j.operation_id}, "
        f"retry of {j.retry_parent}, updated at {j.updated:.3f})"
        for j in jobs
        if j.status in ACTIVE_STATUSES
    ]


def incomplete(operations: Iterable[Operation]) -> list[str]:
    return [
        f"operation {op.id} ({op.kind.value}) is {op.state.value}"
        for op in operations
        if not op.state.finished
    ]


def memory_growth(warm_bytes: int | None, end_bytes: int | None) -> list[str]:
    """A violation when either figure is missing or the end exceeds warm-up by more than the limit."""
    if warm_bytes is None or end_bytes is None:
        return ["service memory was not measured (the service was down at a sample)"]
    if end_bytes > warm_bytes * (1 + MEMORY_GROWTH_LIMIT):
        return [f"memory grew from {warm_bytes / 2**20:.1f} MiB to {end_bytes / 2**20:.1f} MiB"]
    return []


def idempotency_conflicts(answers: Mapping[str, set[str]]) -> list[str]:
    """Keys (as the soak sent them) that got success answers naming different attempts."""
    return [f"key {k} answered {sorted(v)}" for k, v in sorted(answers.items()) if len(v) > 1]
