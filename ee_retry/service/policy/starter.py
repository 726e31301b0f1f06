"""The start pass: due automatic retries go through the same retry path as a person's click.

Per pass, whatever the number of jobs: one query for due decisions (and, with a breaker, one for the
recent outcomes of apps), one compare-and-set write that holds back, supersedes, or marks each
decision to start with the key of its retry request, one retry request (one scheduler transaction)
per rule and batch of up to 1,000 jobs, and one compare-and-set write recording the attempts.

A decision marked with a request key but not recorded (the service died between start and record)
is finished by re-sending the same request: the idempotency key replays its answer, or, when the
request never got as far as its operation record, runs it now. Either way one attempt per decision.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from ee_retry import constants
from ee_retry.domain.ids import new_id
from ee_retry.domain.model import Job, JobStatus
from ee_retry.domain.policy import breaker as breakers
from ee_retry.domain.policy import decide
from ee_retry.domain.policy.model import AutoRetry, AutoRetryState, Policy
from ee_retry.domain.policy.rules import system_terminated
from ee_retry.domain.values import JobQuery, User
from ee_retry.errors import EERetryError, RetryInFlight
from ee_retry.service.deps import Deps
from ee_retry.service.policy.records import Write, announce, entry_of, start_key_of, store_writes
from ee_retry.service.policy.state import PolicyState
from ee_retry.service.submit import retry
from ee_retry.service.submit.requests import RequirementsOverride, RetryRequest

log = logging.getLogger(__name__)

AUTO_METHOD = "auto_retry"  # the method the audit record (operation) names for automatic retries


@dataclass
class Batch:
    """One retry request to send: its key, rule, and the originals (with the guard of each)."""

    key: str
    rule: str
    writes: list[Write] = field(default_factory=list)


def app_of(job: Job) -> str:
    return job.job_input.method if job.job_input else ""


async def start_pass(deps: Deps, policy: Policy, state: PolicyState, token: str | None) -> list[Write]:
    """Start what is due; returns the decisions recorded as started."""
    now = deps.clock.now()
    now_ms = int(now * 1000)
    due_query = JobQuery(auto_due_before=now + 0.001, limit=constants.AUTO_RETRY_MAX_DUE_PER_PASS)
    due = await deps.store.find_jobs(due_query)
    if not due:
        return []
    if policy.breaker is not None:
        await _observe_breakers(deps, policy, state, due, now_ms)
    moves, batches = _plan(policy, state, due, now_ms)
    stored = await store_writes(deps, moves + [w for b in batches for w in b.writes])
    won = {w.rev for w in stored}
    await announce(deps, [w for w in stored if w.start_key is None], now)
    records: list[Write] = []
    for batch in batches:
        batch.writes = [w for w in batch.writes if w.rev in won]  # another instance moved the rest
        if batch.writes:
            records += await _send(deps, batch, token, now_ms)
    done = await store_writes(deps, records)
    await announce(deps, done, now, outcome="started")
    return [w for w in done if w.entry.attempt_id is not None and w.entry.state is AutoRetryState.SCHEDULED]


def _plan(
    policy: Policy, state: PolicyState, due: Sequence[Job], now_ms: int
) -> tuple[list[Write], list[Batch]]:
    """Held-back and superseded decisions to store, and the retry requests to send."""
    moves: list[Write] = []
    starting: dict[str, list[Write]] = defaultdict(list)  # by rule: retries the gates let start now
    recover: dict[tuple[str, str], Batch] = {}
    for original in due:
        entry = entry_of(original)
        if entry is None or not entry.due:
            continue
        rule = entry.rule or ""
        key = start_key_of(original)
        if key is not None:
            batch = recover.setdefault((key, rule), Batch(key, rule))
            rev = (original.auto_retry or {}).get("rev")
            batch.writes.append(Write(original, entry, key, expected=rev, rev=rev or ""))
            continue
        latest = original.retry_ids[-1] if original.retry_ids else original.id
        if latest != entry.failed_id:
            moves.append(Write(original, decide.superseded(entry, latest, now_ms)))
            continue
        app = app_of(original)
        breaker = state.breaker(app) if policy.breaker is not None else None
        gate = decide.gate(policy, entry, original.id, state.use_for(original.user, app), breaker, now_ms)
        if gate.start:
            state.record_start(original.user, app, now_ms)
            if gate.breaker is not None:
                state.set_breaker(gate.breaker)
            starting[rule].append(Write(original, gate.entry))
        elif gate.entry != entry:
            moves.append(Write(original, gate.entry))
    batches = list(recover.values())
    pass_id = new_id()
    for rule, writes in sorted(starting.items()):
        for part, first in enumerate(range(0, len(writes), constants.MAX_JOB_IDS_PER_CALL)):
            key = f"auto:{pass_id}:{len(batches)}:{part}"
            chunk = writes[first : first + constants.MAX_JOB_IDS_PER_CALL]
            batches.append(Batch(key, rule, [Write(w.original, w.entry, key) for w in chunk]))
    return moves, batches


async def _send(deps: Deps, batch: Batch, token: str | None, now_ms: int) -> list[Write]:
    """Send one batch through the retry path; the decisions to record from its answer."""
    user = User(name=f"policy:{batch.rule}", roles=frozenset({"EE2_ADMIN"}), token=token or "")
    memory = {
        w.original.id: RequirementsOverride(memory_mb=w.entry.memory_mb)
        for w in batch.writes
        if w.entry.memory_mb is not None
    }
    req = RetryRequest(
        job_ids=tuple(w.original.id for w in batch.writes),
        as_admin=True,
        idempotency_key=batch.key,
        requirements_by_original=memory or None,
        owner_keeps_attempts=True,
    )
    origin = {"method": AUTO_METHOD, "key": batch.key, "rule": batch.rule}
    try:
        answer = await retry.retry(deps, user, req, origin=origin)
    except EERetryError as exc:
        log.warning("automatic retries of rule %r not started this pass: %s", batch.rule, exc.message)
        return []
    items = {str(a.get("job_id")): a for a in answer}
    records = []
    for write in batch.writes:
        item = items.get(write.original.id)
        if item is not None:
            records.append(Write(write.original, _after(write.entry, item, now_ms), expected=write.rev))
    return records


def _after(entry: AutoRetry, item: dict[str, object], now_ms: int) -> AutoRetry:
    if "retry_id" in item:
        return decide.started(entry, str(item["retry_id"]), now_ms)
    if item.get("code") == RetryInFlight.code:
        return decide.ended(
            entry, AutoRetryState.SUPERSEDED, f"another attempt is in flight: {item.get('error')}", now_ms
        )
    return decide.ended(entry, AutoRetryState.STOPPED, f"the retry was refused: {item.get('error')}", now_ms)


async def _observe_breakers(
    deps: Deps, policy: Policy, state: PolicyState, due: Sequence[Job], now_ms: int
) -> None:
    """Open the breaker of each due app whose recent outcomes fail too often (one query)."""
    config = policy.breaker
    assert config is not None
    since = now_ms / 1000 - config.window_s
    recent = await deps.store.find_jobs(
        JobQuery(
            statuses=[JobStatus.COMPLETED, JobStatus.ERROR, JobStatus.TERMINATED],
            updated_from=since,
            exclude_batch_containers=True,
        )
    )
    for app in sorted({app_of(o) for o in due}):
        breaker = state.breaker(app)
        start_s = breakers.window_start_ms(config, breaker, now_ms) / 1000
        outcomes = [j for j in recent if app_of(j) == app and (j.finished or j.updated) >= start_s]
        counted = [j for j in outcomes if _counts(j)]
        failed = sum(1 for j in counted if j.status is not JobStatus.COMPLETED)
        state.set_breaker(breakers.observe(config, breaker, len(counted), failed, now_ms))


def _counts(job: Job) -> bool:
    """A person's cancel says nothing about the app's health."""
    return job.status is not JobStatus.TERMINATED or system_terminated(job.status.value, job.terminated_code)
