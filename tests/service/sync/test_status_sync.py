"""Status sync: a proc the scheduler held on its own leaves the queue once its job is over."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from ee_retry.domain.model import JobStatus
from ee_retry.domain.values import ProcState, Transition
from ee_retry.service.jobs import cancel_job
from ee_retry.service.submit.requests import RunRequest
from ee_retry.service.submit.run import run_job_batch
from ee_retry.service.sync.callbacks import finish_job, start_job
from ee_retry.service.sync.status_sync import apply_procs, refresh_containers
from tests.service.conftest import Env


async def test_a_scheduler_hold_marks_an_active_job_error_and_removes_its_proc(env: Env) -> None:
    job_id = await env.run()
    await env.sched.hold(job_id, "memory limit exceeded")
    job = await env.job(job_id)
    assert job.status is JobStatus.ERROR
    assert job.errormsg is not None and "memory limit exceeded" in job.errormsg
    assert env.sched.proc(job_id).state is ProcState.REMOVED  # type: ignore[union-attr]


async def test_the_held_proc_of_a_job_its_runner_already_finished_is_removed(env: Env) -> None:
    """The runner reports the failure, then exits non-zero and on_exit_hold holds the proc: the job
    keeps the runner's message and the proc does not sit in the queue for ever (as it did in ee2)."""
    job_id = await env.run()
    await env.sched.start(job_id)
    await start_job(env.deps, env.alice, job_id, False)
    await finish_job(env.deps, env.alice, job_id, False, "input file missing", 1, None, None)
    await env.sched.hold(job_id, "OnExitHold evaluated to TRUE")
    job = await env.job(job_id)
    assert job.status is JobStatus.ERROR
    assert job.errormsg == "input file missing"
    assert env.sched.proc(job_id).state is ProcState.REMOVED  # type: ignore[union-attr]


def before_batch_write(env: Env, batch_id: str, event: Callable[[], Awaitable[None]]) -> list[bool]:
    """Run `event` once, right before the first store write that touches the batch; the returned list
    says whether it ran."""
    store = env.deps.store
    write = store.transition
    raced: list[bool] = []

    async def racing(changes: Sequence[Transition]) -> set[str]:
        if not raced and any(t.job_id == batch_id for t in changes):
            raced.append(True)
            await event()
        return set(await write(changes))

    store.transition = racing  # type: ignore[method-assign]
    return raced


async def test_a_batch_refresh_never_overwrites_a_cancel_that_lands_during_it(env: Env) -> None:
    """The refresh read the batch as queued; the owner's cancel lands before its write."""
    answer = await run_job_batch(env.deps, env.alice, [RunRequest("Demo.succeed")] * 2, 1, False)
    batch_id, first = answer["batch_id"], answer["child_job_ids"][0]

    async def cancel() -> None:
        await cancel_job(env.deps, env.alice, batch_id, False)

    raced = before_batch_write(env, batch_id, cancel)
    await env.sched.start(first)  # the child runs: the batch would follow it to running

    assert raced
    assert (await env.job(batch_id)).status is JobStatus.TERMINATED
    assert (await env.job(first)).status is JobStatus.TERMINATED


async def test_a_removed_duplicate_reported_after_the_recorded_proc_does_not_hide_it(env: Env) -> None:
    """Reports come in scheduler order; a duplicate proc (removed) listed last must not speak for the job."""
    job_id = await env.run()
    job = await env.job(job_id)
    assert job.operation_id is not None
    duplicate = env.sched.add_orphan(job_id, job.operation_id, ProcState.REMOVED)
    await env.sched.start(job_id)  # the recorded proc runs; the duplicate is newer and removed
    env.sched.set_listener(None)
    recorded = next(p for p in env.sched.procs() if p.scheduler_id == job.scheduler_id)
    gone = next(p for p in env.sched.procs() if p.scheduler_id == duplicate)
    await apply_procs(env.deps, [replace(recorded, state=ProcState.COMPLETED, exit_code=0), gone])
    assert (await env.job(job_id)).status is JobStatus.COMPLETED


async def test_a_batch_refresh_rechecks_after_writing_so_a_stale_write_never_sticks(env: Env) -> None:
    """Refresh A read the retried child queued and is about to write `queued`; meanwhile the attempt
    fails and refresh B, seeing `error` already, writes nothing. A's write lands, then A reads again."""
    batch_id, [child] = await env.failed_batch(1)
    env.sched.set_listener(None)  # no report refreshes the batch: it still says error
    [item] = await env.retry(child)
    attempt = item["retry_id"]
    assert (await env.job(batch_id)).status is JobStatus.ERROR
    store = env.deps.store
    write = store.transition

    async def attempt_fails() -> None:
        failed = Transition(attempt, frozenset({JobStatus.QUEUED}), JobStatus.ERROR, {"finished": 1.0})
        assert await write([failed]) == {attempt}
        await refresh_containers(env.deps, {batch_id})  # B: error already, nothing to write

    raced = before_batch_write(env, batch_id, attempt_fails)
    await refresh_containers(env.deps, {batch_id})  # A

    assert raced
    assert (await env.job(batch_id)).status is JobStatus.ERROR
