"""How a decision is stored on the original job, read back, and announced (log line, metric, log).

The `auto_retry` document carries a random `rev`, mirrored in the top-level `auto_rev` field; every
write of a decision is a compare-and-set on `auto_rev`, so each failure is decided once and each
decision moves once, whichever instance writes. `auto_next_at` (epoch seconds) is set only while an
attempt waits to be started; the starter queries by it. `start_key` names the retry request that
is starting the attempt, so a pass that dies between start and record is finished by the next one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ee_retry.domain.model import Job
from ee_retry.domain.policy.model import AutoRetry, FailureFacts
from ee_retry.domain.values import GuardedUpdate
from ee_retry.service.deps import Deps

log = logging.getLogger(__name__)


def facts_of(job: Job, original: Job) -> FailureFacts:
    """The failure facts of a finished attempt, with what the policy needs of its original."""
    failure = job.failure or {}
    job_input = job.job_input or original.job_input
    reqs = job_input.requirements if job_input else None
    return FailureFacts(
        job_id=job.id,
        original_id=original.id,
        app=job_input.method if job_input else "",
        user=original.user,
        status=job.status.value,
        terminated_code=job.terminated_code,
        batch_job=original.batch_job or job.batch_job,
        exit_code=_int(failure.get("exit_code")),
        signal=_int(failure.get("signal")),
        hold_code=_int(failure.get("hold_code")),
        hold_subcode=_int(failure.get("hold_subcode")),
        error_code=job.error_code,
        message=job.errormsg or "",
        memory_mb=reqs.memory_mb if reqs else 512,
        cpus=reqs.cpus if reqs else 1,
    )


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def entry_of(job: Job) -> AutoRetry | None:
    return AutoRetry.from_doc(job.auto_retry) if job.auto_retry else None


def start_key_of(job: Job) -> str | None:
    key = (job.auto_retry or {}).get("start_key")
    return str(key) if key else None


def actor(entry: AutoRetry) -> str:
    """Who the audit record names for a decision."""
    return f"policy:{entry.rule}" if entry.rule else "policy"


def _rev() -> str:
    return os.urandom(8).hex()


@dataclass(frozen=True)
class Write:
    """One decision to store on an original, guarded by the `rev` it was read with (`expected`;
    by default the original's stored one). `rev` is the one it writes."""

    original: Job
    entry: AutoRetry
    start_key: str | None = None
    expected: str | None = field(default=None)
    rev: str = field(default_factory=_rev)

    def guard(self) -> str | None:
        return self.expected if self.expected is not None else (self.original.auto_retry or {}).get("rev")

    def update(self) -> GuardedUpdate:
        doc: dict[str, Any] = {**self.entry.to_doc(), "rev": self.rev, "actor": actor(self.entry)}
        if self.start_key is not None:
            doc["start_key"] = self.start_key
        next_at = self.entry.next_at if self.entry.due else None
        fields = {
            "auto_retry": doc,
            "auto_rev": self.rev,
            "auto_next_at": next_at / 1000 if next_at is not None else None,
        }
        return GuardedUpdate(self.original.id, "auto_rev", self.guard(), fields)


async def store_writes(deps: Deps, writes: Sequence[Write]) -> list[Write]:
    """Apply the writes (one bulk compare-and-set); the ones that won."""
    if not writes:
        return []
    changed = await deps.store.guarded_update([w.update() for w in writes])
    return [w for w in writes if w.original.id in changed]


async def announce(deps: Deps, done: Sequence[Write], now: float, outcome: str | None = None) -> None:
    """A log line on each original job (one store write for all), the metric, and the service log."""
    if not done:
        return
    lines: dict[str, list[dict[str, Any]]] = {}
    for write in done:
        entry = write.entry
        what = outcome or entry.state.value
        text = f"automatic retry ({actor(entry)}): {what}: {entry.reason}"
        lines.setdefault(write.original.id, []).append({"line": text, "is_error": False, "ts": now})
        deps.metrics.auto_retries.labels(entry.rule or "", what).inc()
        log.info("job %s: %s", write.original.id, text)
    await deps.store.add_logs_many(lines)
