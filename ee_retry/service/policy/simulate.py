"""Replay recorded failures through a policy, writing nothing: what would it have done?

Failures (attempts that ended in error, or terminated by the system) finished in the window are
replayed in the order they finished. Each original carries a simulated decision from one failure to
the next, so max_attempts, backoff and memory behave as in the service; budgets and the breaker are
simulated too, over the starts the simulation makes and the outcomes the store recorded. A retry the
policy would start is assumed to request what the failed attempt requested, for as long as it ran.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from ee_retry.domain.model import Job, JobStatus
from ee_retry.domain.policy import breaker as breakers
from ee_retry.domain.policy import decide
from ee_retry.domain.policy.breaker import Breaker
from ee_retry.domain.policy.model import AutoRetry, AutoRetryState, Policy
from ee_retry.domain.policy.rules import core_hours, system_terminated
from ee_retry.domain.values import JobQuery
from ee_retry.ports import JobStore
from ee_retry.service.policy.records import facts_of
from ee_retry.service.policy.state import PolicyState

NO_RULE = "(no rule matches)"


@dataclass
class RuleTally:
    matched: int = 0
    would_start: int = 0
    held_by_budget: int = 0
    held_by_breaker: int = 0
    stopped: int = 0
    exhausted: int = 0
    core_hours: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "core_hours": round(self.core_hours, 3)}


@dataclass
class Simulation:
    since: float
    failures: int = 0
    rules: dict[str, RuleTally] = field(default_factory=lambda: defaultdict(RuleTally))

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": round(self.since * 1000),
            "failures": self.failures,
            "rules": {name: tally.to_dict() for name, tally in self.rules.items()},
        }


def _no_jitter(low: float, high: float) -> float:
    return high  # the longest wait full jitter could draw: budgets are judged at the latest start


async def simulate(store: JobStore, policy: Policy, since: float) -> Simulation:
    """Two reads: every job that finished in the window, then the originals not among them."""
    finished = await store.find_jobs(
        JobQuery(
            statuses=[JobStatus.COMPLETED, JobStatus.ERROR, JobStatus.TERMINATED],
            updated_from=since,
            exclude_batch_containers=True,
        )
    )
    jobs = {j.id: j for j in finished}
    missing = sorted({j.retry_parent for j in finished if j.retry_parent and j.retry_parent not in jobs})
    if missing:
        jobs.update(await store.get_jobs(missing))
    result = Simulation(since)
    state = PolicyState()
    entries: dict[str, AutoRetry] = {}
    history = Outcomes()
    for job in sorted(finished, key=lambda j: (_at(j), j.id)):
        original = jobs.get(job.original_id)
        if original is not None and not original.batch_job and job.status is not JobStatus.COMPLETED:
            _replay(policy, state, entries, result, job, original, history)
        history.add(job)
    return result


def _at(job: Job) -> float:
    return job.finished or job.updated


@dataclass
class Outcomes:
    """The recorded outcomes seen so far, per app, in time order, as the breaker counts them."""

    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    failed: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))  # running count

    def add(self, job: Job) -> None:
        if job.status is JobStatus.TERMINATED and not system_terminated(
            job.status.value, job.terminated_code
        ):
            return  # a person's cancel says nothing about the app's health
        app = job.job_input.method if job.job_input else ""
        fails = self.failed[app]
        fails.append((fails[-1] if fails else 0) + (job.status is not JobStatus.COMPLETED))
        self.times[app].append(_at(job))

    def since(self, app: str, start_s: float) -> tuple[int, int]:
        """(finished, failed) at or after start_s."""
        times, fails = self.times.get(app, []), self.failed.get(app, [])
        first = bisect.bisect_left(times, start_s)
        if first >= len(times):
            return 0, 0
        return len(times) - first, fails[-1] - (fails[first - 1] if first else 0)


def _replay(
    policy: Policy,
    state: PolicyState,
    entries: dict[str, AutoRetry],
    result: Simulation,
    job: Job,
    original: Job,
    history: Outcomes,
) -> None:
    now_ms = int((job.finished or job.updated) * 1000)
    facts = facts_of(job, original)
    entry = decide.decide(policy, facts, entries.get(original.id), now_ms, _no_jitter)
    if entry is None:
        return
    result.failures += 1
    tally = result.rules[entry.rule or NO_RULE]
    tally.matched += 1
    if entry.state is AutoRetryState.EXHAUSTED:
        tally.exhausted += 1
    elif entry.state is AutoRetryState.STOPPED:
        tally.stopped += 1
    else:
        entry = _gate(policy, state, entry, original, facts.app, history, tally)
        if entry.attempt_id is not None:
            tally.core_hours += core_hours(facts.cpus, job.running, job.finished)
    entries[original.id] = entry


def _gate(
    policy: Policy,
    state: PolicyState,
    entry: AutoRetry,
    original: Job,
    app: str,
    history: Outcomes,
    tally: RuleTally,
) -> AutoRetry:
    at = entry.next_at or 0
    breaker = _observed(policy, state.breaker(app), app, history, at) if policy.breaker else None
    gate = decide.gate(policy, entry, original.id, state.use_for(original.user, app), breaker, at)
    if gate.entry.state is AutoRetryState.WAITING_BUDGET:
        tally.held_by_budget += 1
    elif gate.entry.state is AutoRetryState.PAUSED:
        tally.held_by_breaker += 1
    if gate.breaker is not None:
        state.set_breaker(gate.breaker)
    if not gate.start:
        return gate.entry
    tally.would_start += 1
    state.record_start(original.user, app, at)
    return decide.started(gate.entry, f"simulated-{tally.would_start}", at)


def _observed(policy: Policy, breaker: Breaker, app: str, history: Outcomes, at_ms: int) -> Breaker:
    config = policy.breaker
    assert config is not None
    finished, failed = history.since(app, breakers.window_start_ms(config, breaker, at_ms) / 1000)
    return breakers.observe(config, breaker, finished, failed, at_ms)
