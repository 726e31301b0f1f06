"""The decision pass: every attempt that finished since the last pass, decided once.

Round trips per pass, whatever the number of jobs: one query for finished jobs, one read of the
originals not among them, one compare-and-set bulk write of the decisions, one write of log lines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from dataclasses import replace as _replace

from ee_retry.domain.model import TERMINAL_STATUSES, Job, JobStatus
from ee_retry.domain.policy import breaker as breakers
from ee_retry.domain.policy import decide
from ee_retry.domain.policy.model import AutoRetry, AutoRetryState, Policy
from ee_retry.domain.policy.rules import Uniform, core_hours
from ee_retry.domain.values import JobQuery
from ee_retry.service.deps import Deps
from ee_retry.service.policy.records import Write, announce, entry_of, facts_of, start_key_of, store_writes
from ee_retry.service.policy.state import PolicyState


@dataclass
class Planned:
    write: Write
    after: list[Callable[[], None]] = field(default_factory=list)  # state changes once the write won


async def decide_pass(
    deps: Deps, policy: Policy, state: PolicyState, since: float, uniform: Uniform
) -> list[Write]:
    """Decide every attempt that ended at or after `since` (epoch seconds); the decisions stored."""
    now = deps.clock.now()
    now_ms = int(now * 1000)
    query = JobQuery(statuses=sorted(TERMINAL_STATUSES), updated_from=since, exclude_batch_containers=True)
    finished = await deps.store.find_jobs(query)
    if not finished:
        return []
    jobs = {j.id: j for j in finished}
    missing = sorted({j.retry_parent for j in finished if j.retry_parent and j.retry_parent not in jobs})
    if missing:
        jobs.update(await deps.store.get_jobs(missing))
    planned = [
        plan for job in finished if (plan := _plan(policy, state, job, jobs, now_ms, uniform)) is not None
    ]
    done = await store_writes(deps, [plan.write for plan in planned])
    won = {w.original.id for w in done}
    for plan in planned:
        if plan.write.original.id in won:
            for change in plan.after:
                change()
    await announce(deps, done, now)
    return done


async def supersede_pass(deps: Deps, since: float) -> list[Write]:
    """A person's retry created since `since` supersedes its original's pending automatic retry at
    once (the starter would notice it only at the retry's due time). Two reads, one write."""
    now = deps.clock.now()
    created = await deps.store.find_jobs(JobQuery(created_from=since, exclude_batch_containers=True))
    parents = sorted({j.retry_parent for j in created if j.retry_parent is not None})
    if not parents:
        return []
    writes = []
    for original in (await deps.store.get_jobs(parents)).values():
        entry = entry_of(original)
        if entry is None or not entry.due or start_key_of(original) is not None:
            continue  # nothing pending, or this service's own start is under way
        latest = original.retry_ids[-1] if original.retry_ids else original.id
        if latest != entry.failed_id:
            writes.append(Write(original, decide.superseded(entry, latest, int(now * 1000))))
    done = await store_writes(deps, writes)
    await announce(deps, done, now)
    return done


def _plan(
    policy: Policy, state: PolicyState, job: Job, jobs: dict[str, Job], now_ms: int, uniform: Uniform
) -> Planned | None:
    original = jobs.get(job.original_id)
    if original is None or original.batch_job:
        return None
    latest = original.retry_ids[-1] if original.retry_ids else original.id
    if job.id != latest:
        return None  # a newer attempt exists; its own end is what gets decided
    previous = entry_of(original)
    ours = previous is not None and previous.attempt_id == job.id
    facts = facts_of(job, original)
    after: list[Callable[[], None]] = []
    if job.status is JobStatus.COMPLETED:
        if not ours or previous is None or previous.state is not AutoRetryState.SCHEDULED:
            return None
        entry = decide.succeeded(previous, now_ms)
        after.append(lambda: _probe(state, facts.app, original.id, True, now_ms))
        return Planned(Write(original, entry), after)
    decided = decide.decide(policy, facts, previous, now_ms, uniform)
    if decided is None or decided == previous:
        return None
    if ours:
        hours = core_hours(facts.cpus, job.running, job.finished)
        after.append(lambda: state.record_failed_attempt(facts.user, now_ms, hours))
        after.append(lambda: _probe(state, facts.app, original.id, False, now_ms))
    return Planned(
        Write(original, _shown(policy, state, decided, original.id, facts.user, facts.app, now_ms)), after
    )


def _shown(
    policy: Policy, state: PolicyState, entry: AutoRetry, original_id: str, user: str, app: str, now_ms: int
) -> AutoRetry:
    """A new decision shows already whether a budget or the breaker will hold it back."""
    if not entry.due:
        return entry
    breaker = state.breaker(app) if policy.breaker is not None else None
    held = decide.gate(policy, entry, original_id, state.use_for(user, app), breaker, now_ms).entry
    return held if held.state is not AutoRetryState.SCHEDULED else _replace(held, reason=entry.reason)


def _probe(state: PolicyState, app: str, original_id: str, succeeded: bool, now_ms: int) -> None:
    state.set_breaker(breakers.probe_finished(state.breaker(app), original_id, succeeded, now_ms))
