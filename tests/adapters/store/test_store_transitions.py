"""Every JobStore admits one in-flight attempt per original and applies transitions, updates and links."""

from __future__ import annotations

import asyncio

from ee_retry.domain.ids import new_id
from ee_retry.domain.model import JobInput, JobRequirements, JobStatus
from ee_retry.domain.values import Transition
from ee_retry.ports import JobStore
from tests.adapters.store.conftest import ACTIVE, attempt_of
from tests.builders import COMMIT, T0, make_job

# ------------------------------------------------------------------ the in-flight guard


async def test_two_attempts_of_one_original_in_one_write_admit_one(store: JobStore) -> None:
    original = new_id()
    first, second = attempt_of(original), attempt_of(original)
    bystander = make_job()
    outcome = await store.insert_jobs([first, second, bystander])
    assert len(outcome.inserted - {bystander.id}) == 1
    assert bystander.id in outcome.inserted
    (winner,) = outcome.inserted - {bystander.id}
    (loser,) = {first.id, second.id} - {winner}
    assert outcome.conflicts == {loser: winner}
    assert set(await store.get_jobs([first.id, second.id])) == {winner}


async def test_an_attempt_loses_to_the_attempt_already_in_flight(store: JobStore) -> None:
    original = new_id()
    first = attempt_of(original)
    await store.insert_jobs([first])
    second = attempt_of(original)
    outcome = await store.insert_jobs([second])
    assert outcome.inserted == frozenset()
    assert outcome.conflicts == {second.id: first.id}
    assert await store.active_attempts([original, new_id()]) == {original: first.id}


async def test_fifty_concurrent_attempts_of_one_original_admit_exactly_one(store: JobStore) -> None:
    original = new_id()
    attempts = [attempt_of(original) for _ in range(50)]
    outcomes = await asyncio.gather(*(store.insert_jobs([a]) for a in attempts))
    inserted = [i for o in outcomes for i in o.inserted]
    assert len(inserted) == 1
    winner = inserted[0]
    assert all(
        o.conflicts == {a.id: winner} for a, o in zip(attempts, outcomes, strict=True) if a.id != winner
    )
    assert await store.active_attempts([original]) == {original: winner}


async def test_a_terminal_transition_releases_the_guard_for_a_new_attempt(store: JobStore) -> None:
    original = new_id()
    first = attempt_of(original)
    await store.insert_jobs([first])
    changed = await store.transition([Transition(first.id, ACTIVE, JobStatus.ERROR, {"updated": T0 + 5})])
    assert changed == {first.id}
    assert (await store.get_jobs([first.id]))[first.id].retry_active is None
    assert await store.active_attempts([original]) == {}
    second = attempt_of(original)
    assert (await store.insert_jobs([second])).inserted == {second.id}
    assert await store.active_attempts([original]) == {original: second.id}


async def test_a_non_terminal_transition_keeps_the_guard(store: JobStore) -> None:
    original = new_id()
    first = attempt_of(original)
    await store.insert_jobs([first])
    await store.transition([Transition(first.id, ACTIVE, JobStatus.RUNNING, {"running": T0 + 1})])
    assert await store.active_attempts([original]) == {original: first.id}


# ------------------------------------------------------------------ transitions and field updates


async def test_a_transition_applies_only_from_an_expected_status(store: JobStore) -> None:
    created, running = make_job(), make_job(status=JobStatus.RUNNING)
    await store.insert_jobs([created, running])
    changes = [
        Transition(
            j.id, frozenset({JobStatus.CREATED}), JobStatus.QUEUED, {"queued": T0 + 1, "updated": T0 + 1}
        )
        for j in (created, running)
    ]
    assert await store.transition([*changes, Transition(new_id(), ACTIVE, JobStatus.ERROR)]) == {created.id}
    got = await store.get_jobs([created.id, running.id])
    assert (got[created.id].status, got[created.id].queued, got[created.id].updated) == (
        JobStatus.QUEUED,
        T0 + 1,
        T0 + 1,
    )
    assert got[running.id] == running


async def test_transitions_report_exactly_the_jobs_that_changed(store: JobStore) -> None:
    jobs = [make_job(status=JobStatus.QUEUED if i % 3 else JobStatus.COMPLETED) for i in range(9)]
    await store.insert_jobs(jobs)
    to_run = [Transition(j.id, frozenset({JobStatus.QUEUED}), JobStatus.RUNNING) for j in jobs]
    assert await store.transition(to_run) == {j.id for j in jobs if j.status is JobStatus.QUEUED}
    assert await store.transition(to_run) == set()


async def test_of_two_racing_transitions_only_one_reports_the_change(store: JobStore) -> None:
    jobs = [make_job() for _ in range(10)]
    await store.insert_jobs(jobs)
    only_created = frozenset({JobStatus.CREATED})
    cancel = [Transition(j.id, only_created, JobStatus.TERMINATED, {"terminated_code": 0}) for j in jobs]
    queue = [Transition(j.id, only_created, JobStatus.QUEUED) for j in jobs]
    cancelled, queued = await asyncio.gather(store.transition(cancel), store.transition(queue))
    assert cancelled | queued == {j.id for j in jobs}
    assert not cancelled & queued
    stored = await store.get_jobs([j.id for j in jobs])
    assert all(stored[i].status is JobStatus.TERMINATED for i in cancelled)
    assert all(stored[i].status is JobStatus.QUEUED for i in queued)


async def test_set_fields_updates_several_jobs_and_nested_fields(store: JobStore) -> None:
    a, b = make_job(), make_job()
    await store.insert_jobs([a, b])
    bigger = JobRequirements(cpus=8, memory_mb=4096, disk_gb=50, client_group="bigmem")
    await store.set_fields(
        {
            a.id: {"scheduler_id": "10.0", "scheduler_type": "condor"},
            b.id: {"scheduler_id": "10.1", "job_input.requirements": bigger.to_doc()},
            new_id(): {"scheduler_id": "10.2"},
        }
    )
    got = await store.get_jobs([a.id, b.id])
    assert (got[a.id].scheduler_id, got[a.id].scheduler_type) == ("10.0", "condor")
    assert got[b.id].scheduler_id == "10.1"
    assert got[b.id].job_input == JobInput(method="Mod.run", service_ver=COMMIT, wsid=7, requirements=bigger)


async def test_link_appends_in_order_and_repeating_it_adds_nothing(store: JobStore) -> None:
    existing = new_id()
    original = make_job(status=JobStatus.ERROR, retry_ids=(existing,))
    container = make_job(batch_job=True, job_input=None)
    attempts = [make_job(retry_parent=original.id, batch_id=container.id) for _ in range(3)]
    await store.insert_jobs([original, container, *attempts])
    new_ids = [a.id for a in attempts]
    for _ in range(2):
        await store.link({original.id: [*new_ids, existing]}, {container.id: new_ids}, new_ids)
    got = await store.get_jobs([original.id, container.id, *new_ids])
    assert got[original.id].retry_ids == (existing, *new_ids)
    assert got[container.id].child_jobs == tuple(new_ids)
    assert all(got[i].retry_saved_toggle for i in new_ids)
    assert not got[original.id].retry_saved_toggle


async def test_delete_created_removes_only_unsubmitted_created_jobs(store: JobStore) -> None:
    unsubmitted = make_job()
    submitted = make_job(scheduler_id="5.0")
    queued = make_job(status=JobStatus.QUEUED)
    await store.insert_jobs([unsubmitted, submitted, queued])
    assert await store.delete_created([unsubmitted.id, submitted.id, queued.id, new_id()]) == 1
    assert set(await store.get_jobs([unsubmitted.id, submitted.id, queued.id])) == {submitted.id, queued.id}
