"""Every JobStore supports what automatic retries need: a compare-and-set on a job field, queries by
update time and by due automatic retry, logs for many jobs in one write, and small state documents."""

from __future__ import annotations

from typing import Any

from ee_retry.domain.model import JobStatus
from ee_retry.domain.values import STATE_REV, GuardedUpdate, JobQuery, StateWrite
from ee_retry.ports import JobStore
from tests.builders import T0, make_job


async def test_a_guarded_update_applies_only_while_the_guard_holds(store: JobStore) -> None:
    job = make_job(status=JobStatus.ERROR)
    await store.insert_jobs([job])
    first = GuardedUpdate(job.id, "auto_rev", None, {"auto_rev": "r1", "auto_retry": {"state": "scheduled"}})
    assert await store.guarded_update([first]) == {job.id}
    assert await store.guarded_update([first]) == set()  # the guard no longer holds: rev is r1

    stale = GuardedUpdate(job.id, "auto_rev", "r0", {"auto_rev": "r2", "auto_retry": {"state": "x"}})
    fresh = GuardedUpdate(job.id, "auto_rev", "r1", {"auto_rev": "r2", "auto_retry": {"state": "succeeded"}})
    assert await store.guarded_update([stale, fresh]) == {job.id}
    stored = (await store.get_jobs([job.id]))[job.id]
    assert stored.auto_retry == {"state": "succeeded"}


async def test_jobs_are_found_by_update_time_and_by_due_automatic_retry(store: JobStore) -> None:
    old = make_job(status=JobStatus.ERROR, updated=T0)
    new = make_job(status=JobStatus.ERROR, updated=T0 + 100)
    await store.insert_jobs([old, new])
    found = await store.find_jobs(JobQuery(updated_from=T0 + 50))
    assert [j.id for j in found] == [new.id]

    due = GuardedUpdate(old.id, "auto_rev", None, {"auto_rev": "a", "auto_next_at": T0 + 10})
    later = GuardedUpdate(new.id, "auto_rev", None, {"auto_rev": "b", "auto_next_at": T0 + 500})
    assert await store.guarded_update([due, later]) == {old.id, new.id}
    assert [j.id for j in await store.find_jobs(JobQuery(auto_due_before=T0 + 20))] == [old.id]

    done = GuardedUpdate(old.id, "auto_rev", "a", {"auto_rev": "c", "auto_next_at": None})
    assert await store.guarded_update([done]) == {old.id}
    assert await store.find_jobs(JobQuery(auto_due_before=T0 + 1000)) == [
        (await store.get_jobs([new.id]))[new.id]
    ]


async def test_logs_of_many_jobs_are_appended_in_one_call(store: JobStore) -> None:
    a, b = make_job(), make_job()
    await store.add_logs(a.id, [{"line": "first", "is_error": False, "ts": T0}])
    line = {"line": "policy: scheduled", "is_error": False, "ts": T0 + 1}
    await store.add_logs_many({a.id: [line], b.id: [line, line]})
    assert (await store.get_logs(a.id, 0, 10))[1] == 2
    assert await store.get_logs(b.id, 0, 10) == ([line, line], 2)


def without_revs(docs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {key: {k: v for k, v in doc.items() if k != STATE_REV} for key, doc in docs.items()}


async def test_state_documents_are_written_and_read_by_key_prefix(store: JobStore) -> None:
    await store.put_states({"breaker:Mod.run": {"state": "open"}, "breaker:Other.x": {"state": "closed"}})
    first = (await store.get_states("breaker:Mod.run"))["breaker:Mod.run"][STATE_REV]
    await store.put_states({"breaker:Mod.run": {"state": "half_open"}, "other:thing": {"n": 1}})
    stored = await store.get_states("breaker:")
    assert without_revs(stored) == {
        "breaker:Mod.run": {"state": "half_open"},
        "breaker:Other.x": {"state": "closed"},
    }
    assert stored["breaker:Mod.run"][STATE_REV] != first  # every write gives a new revision
    assert await store.get_states("nothing:") == {}


async def test_a_conditional_state_write_applies_only_while_the_revision_holds(store: JobStore) -> None:
    """As an automatic-retry pass saves a breaker it read: a write in between (an admin's reset) wins."""
    written = await store.put_states_if([StateWrite("breaker:A", {"state": "open"}, None)])
    loaded = await store.get_states("breaker:")
    assert written == {"breaker:A": loaded["breaker:A"][STATE_REV]}
    again = StateWrite("breaker:A", {"state": "half_open"}, None)  # expects no document: there is one
    assert await store.put_states_if([again]) == {}

    await store.put_states({"breaker:A": {"state": "closed"}})  # the admin's reset
    stale = StateWrite("breaker:A", {"state": "half_open"}, written["breaker:A"])
    new = StateWrite("breaker:B", {"state": "open"}, None)
    missing = StateWrite("breaker:C", {"state": "open"}, written["breaker:A"])  # expects one: there is none
    assert set(await store.put_states_if([stale, new, missing])) == {"breaker:B"}
    stored = await store.get_states("breaker:")
    assert without_revs(stored) == {"breaker:A": {"state": "closed"}, "breaker:B": {"state": "open"}}

    fresh = StateWrite("breaker:A", {"state": "open", "opened_at_ms": 5}, stored["breaker:A"][STATE_REV])
    assert set(await store.put_states_if([fresh])) == {"breaker:A"}
    assert without_revs(await store.get_states("breaker:A")) == {
        "breaker:A": {"state": "open", "opened_at_ms": 5}
    }
    assert await store.put_states_if([]) == {}
