"""Automatic retries with the example policy over the service fakes and a fake clock: a flaky job is
retried after its backoff up to its rule's max_attempts, then exhausted; a stop rule stops; a success
ends the decisions; memory is raised; a cancel is never retried; a person's retry supersedes."""

from __future__ import annotations

from pathlib import Path

from ee_retry.service.jobs import cancel_job
from tests.service.conftest import Env
from tests.service.policy.auto_support import auto, flaky_job_with_a_started_attempt, latest, make_retrier


async def test_a_flaky_job_is_retried_after_its_backoff_until_exhausted(env: Env, tmp_path: Path) -> None:
    retrier = make_retrier(env, tmp_path)
    job = await env.run(method="Demo.fail")
    await env.sched.complete(job, exit_code=3, error="download timed out")

    assert await retrier.run_once() == (1, 0)
    decision = await auto(env, job)
    assert decision["state"] == "scheduled" and decision["rule"] == "flaky downloads"
    assert decision["next_at"] == round((env.clock.now() + 1.0) * 1000)
    assert await retrier.run_once() == (0, 0)  # not due yet: nothing starts, nothing is decided again

    for n in range(1, 6):
        env.clock.advance(1.0)
        assert await retrier.run_once() == (0, 1)
        attempt = await latest(env, job)
        assert attempt != job and (await env.job(attempt)).user == "alice"  # the owner's attempt
        assert (await auto(env, job))["attempts"] == n
        await env.sched.complete(attempt, exit_code=3)
        decided, _ = await retrier.run_once()
        assert decided == 1

    final = await auto(env, job)
    assert final["state"] == "exhausted" and final["attempts"] == final["max_attempts"] == 5
    assert len((await env.job(job)).retry_ids) == 5
    env.clock.advance(3600)
    assert await retrier.run_once() == (0, 0)


async def test_a_stop_rule_stops_with_no_attempt(env: Env, tmp_path: Path) -> None:
    retrier = make_retrier(env, tmp_path)
    job = await env.run(method="Demo.fail")
    await env.sched.complete(job, exit_code=2, error="invalid input: no reads")
    await retrier.run_once()
    env.clock.advance(3600)
    await retrier.run_once()

    decision = await auto(env, job)
    assert decision["state"] == "stopped" and decision["rule"] == "bad input never heals"
    assert (await env.job(job)).retry_ids == ()


async def test_a_failure_no_rule_matches_is_stopped_without_a_rule(env: Env, tmp_path: Path) -> None:
    retrier = make_retrier(env, tmp_path)
    job = await env.run(method="Demo.fail")
    await env.sched.complete(job, exit_code=7)
    await retrier.run_once()
    decision = await auto(env, job)
    assert decision["state"] == "stopped" and decision["rule"] is None
    assert decision["reason"] == "no rule matched"


async def test_an_automatic_attempt_that_completes_ends_succeeded(env: Env, tmp_path: Path) -> None:
    retrier = make_retrier(env, tmp_path)
    job = await flaky_job_with_a_started_attempt(env, retrier)
    await env.sched.complete(await latest(env, job), exit_code=0, output='{"result": [1]}')
    await retrier.run_once()

    decision = await auto(env, job)
    assert decision["state"] == "succeeded" and decision["attempts"] == 1


async def test_the_memory_rule_raises_the_memory_of_the_attempt(env: Env, tmp_path: Path) -> None:
    retrier = make_retrier(env, tmp_path)
    job = await env.run(method="Demo.fail")
    await env.sched.start(job)
    await env.sched.hold(job, "memory usage exceeded request_memory", hold_code=34, hold_subcode=102)
    failed = await env.job(job)
    assert failed.failure == {"exit_code": None, "signal": None, "hold_code": 34, "hold_subcode": 102}

    await retrier.run_once()
    assert (await auto(env, job))["rule"] == "out of memory"
    env.clock.advance(3600)
    await retrier.run_once()

    attempt = await env.job(await latest(env, job))
    assert attempt.job_input is not None and attempt.job_input.requirements.memory_mb == 768  # 512 x 1.5
    spec = env.sched.spec(attempt.id)
    assert spec is not None and spec.requirements.memory_mb == 768


async def test_a_user_cancel_is_never_retried(env: Env, tmp_path: Path) -> None:
    retrier = make_retrier(env, tmp_path)
    job = await env.run(method="Demo.fail")
    await cancel_job(env.deps, env.alice, job, False)
    await retrier.run_once()
    env.clock.advance(3600)
    await retrier.run_once()
    stored = await env.job(job)
    assert stored.status.value == "terminated" and stored.auto_retry is None and stored.retry_ids == ()


async def test_a_system_termination_is_retried_by_a_matching_rule(env: Env, tmp_path: Path) -> None:
    policy = '[[rules]]\nname = "lost"\nwhen = { message = "removed from the scheduler" }\naction = "retry"\n'
    retrier = make_retrier(env, tmp_path, policy)
    job = await env.run(method="Demo.fail")
    proc = env.sched.proc(job)
    assert proc is not None
    await env.sched.remove([proc.scheduler_id], "node lost")
    await retrier.run_once()
    assert (await env.job(job)).terminated_code == 2
    assert (await auto(env, job))["rule"] == "lost"


async def test_a_person_retry_supersedes_a_scheduled_automatic_one(env: Env, tmp_path: Path) -> None:
    retrier = make_retrier(env, tmp_path)
    job = await env.run(method="Demo.fail")
    await env.sched.complete(job, exit_code=3)
    await retrier.run_once()
    [answer] = await env.retry(job)
    env.clock.advance(1.0)
    await retrier.run_once()

    decision = await auto(env, job)
    assert decision["state"] == "superseded" and answer["retry_id"] in decision["reason"]
    assert (await env.job(job)).retry_ids == (answer["retry_id"],)


async def test_a_person_retry_supersedes_a_pending_automatic_one_at_once(env: Env, tmp_path: Path) -> None:
    retrier = make_retrier(env, tmp_path)
    job = await env.run(method="Demo.fail")
    await env.sched.start(job)
    await env.sched.hold(job, "over memory", hold_code=34, hold_subcode=102)  # a 15 s backoff
    await retrier.run_once()
    [answer] = await env.retry(job)
    assert await retrier.run_once() == (1, 0)  # no time passed: superseded now, not at its due time

    decision = await auto(env, job)
    assert decision["state"] == "superseded" and decision["next_at"] is None
    env.clock.advance(3600)
    await retrier.run_once()
    assert (await env.job(job)).retry_ids == (answer["retry_id"],)


async def test_every_decision_leaves_a_log_line_on_the_original(env: Env, tmp_path: Path) -> None:
    retrier = make_retrier(env, tmp_path)
    job = await flaky_job_with_a_started_attempt(env, retrier)
    lines, total = await env.deps.store.get_logs(job, 0, 100)
    text = [line["line"] for line in lines]
    assert total == 2
    assert text[0].startswith("automatic retry (policy:flaky downloads): scheduled")
    assert text[1].startswith("automatic retry (policy:flaky downloads): started")
    rendered = env.deps.metrics.render().decode()
    assert 'ee_retry_auto_retries_total{outcome="started",rule="flaky downloads"} 1.0' in rendered
