"""Every JobStore stores, reads back and queries jobs alike."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from ee_retry.domain.ids import new_id
from ee_retry.domain.model import Job, JobInput, JobStatus
from ee_retry.domain.values import JobQuery
from ee_retry.errors import InvalidJobId
from ee_retry.ports import JobStore
from tests.adapters.store.conftest import attempt_of, full_job
from tests.builders import COMMIT, T0, make_job

# ------------------------------------------------------------------ jobs: insert and read


async def test_a_job_with_every_field_set_reads_back_unchanged(store: JobStore) -> None:
    job = full_job()
    assert (await store.insert_jobs([job])).inserted == {job.id}
    assert await store.get_jobs([job.id]) == {job.id: job}


async def test_a_job_with_every_optional_field_unset_reads_back_with_none(store: JobStore) -> None:
    container = Job(id=new_id(), user="bob", status=JobStatus.CREATED, job_input=None, created=T0, updated=T0)
    bare_input = replace(container, id=new_id(), job_input=JobInput(method="Mod.run", service_ver=COMMIT))
    await store.insert_jobs([container, bare_input])
    assert await store.get_jobs([container.id, bare_input.id]) == {
        container.id: container,
        bare_input.id: bare_input,
    }


async def test_get_jobs_returns_only_the_jobs_that_exist(store: JobStore) -> None:
    job = make_job()
    await store.insert_jobs([job])
    assert set(await store.get_jobs([job.id, new_id(), "not-an-id"])) == {job.id}


async def test_job_documents_read_as_the_jobs_get_jobs_answers(store: JobStore) -> None:
    """get_job_docs: the documents of the jobs that exist, each read by Job.from_doc as get_jobs reads it."""
    jobs = [
        full_job(),
        make_job(),
        Job(id=new_id(), user="bob", status=JobStatus.CREATED, job_input=None, created=T0, updated=T0),
    ]
    await store.insert_jobs(jobs)
    ids = [j.id for j in jobs]

    docs = await store.get_job_docs([*ids, new_id(), "not-an-id"])

    assert set(docs) == set(ids)
    assert {job_id: Job.from_doc(doc) for job_id, doc in docs.items()} == await store.get_jobs(ids)


async def test_a_job_id_that_is_not_24_hex_characters_is_refused(store: JobStore) -> None:
    with pytest.raises(InvalidJobId):
        await store.insert_jobs([make_job(id="job-1")])


async def test_jobs_without_an_active_attempt_never_collide(store: JobStore) -> None:
    jobs = [make_job() for _ in range(3)]
    outcome = await store.insert_jobs(jobs)
    assert outcome.inserted == {j.id for j in jobs}
    assert outcome.conflicts == {}


async def test_reinserting_a_stored_job_changes_nothing_and_names_it(store: JobStore) -> None:
    original = new_id()
    attempt = attempt_of(original)
    plain = make_job()
    await store.insert_jobs([attempt, plain])
    again = await store.insert_jobs([replace(attempt, user="mallory"), replace(plain, user="mallory")])
    assert again.inserted == frozenset()
    assert again.conflicts == {attempt.id: attempt.id, plain.id: None}
    assert {j.user for j in (await store.get_jobs([attempt.id, plain.id])).values()} == {"alice"}


# ------------------------------------------------------------------ queries


@pytest.fixture
async def population(store: JobStore) -> dict[str, Job]:
    """Named jobs that each JobQuery field tells apart."""
    op = new_id()
    orig = make_job(status=JobStatus.ERROR, error_code=1, created=T0 + 1, updated=T0 + 1)
    jobs = {
        "orig": orig,
        "retry": attempt_of(orig.id, created=T0 + 2, updated=T0 + 20, operation_id=op),
        "bob": make_job(user="bob", wsid=8, created=T0 + 3, updated=T0 + 3, status=JobStatus.COMPLETED),
        "app": make_job(
            job_input=JobInput(method="Other.go", service_ver="1", app_id="Other/go"),
            wsid=None,
            created=T0 + 4,
            updated=T0 + 4,
            status=JobStatus.RUNNING,
        ),
        "batch": make_job(
            batch_job=True, job_input=None, user="carol", wsid=9, created=T0 + 5, updated=T0 + 5
        ),
    }
    jobs["child"] = make_job(user="carol", wsid=9, batch_id=jobs["batch"].id, created=T0 + 6, updated=T0 + 6)
    await store.insert_jobs(list(jobs.values()))
    return jobs


QUERIES: dict[str, tuple[dict[str, Any], list[str]]] = {
    "everything": ({}, ["orig", "retry", "bob", "app", "batch", "child"]),
    "users": ({"users": ["bob", "carol"]}, ["bob", "batch", "child"]),
    "wsids": ({"wsids": [8]}, ["bob"]),
    "users_or_wsids": ({"users": ["bob"], "wsids": [9]}, ["bob", "batch", "child"]),
    "statuses": ({"statuses": [JobStatus.ERROR, JobStatus.RUNNING]}, ["orig", "app"]),
    "method": ({"method": "Other.go"}, ["app"]),
    "app_id": ({"app_id": "Other/go"}, ["app"]),
    "module": ({"module": "Mod"}, ["orig", "retry", "bob", "child"]),
    "module_is_not_a_text_prefix": ({"module": "Mo"}, []),
    "module_with_regex_characters": ({"module": "M.d"}, []),
    "owners_or_spaces_and_one_space": (
        {"users": ["alice", "bob"], "wsids": [9], "wsid": 9},
        ["batch", "child"],
    ),
    "error_code": ({"error_code": 1}, ["orig"]),
    "originals_only": ({"originals_only": True, "users": ["alice"]}, ["orig", "app"]),
    "exclude_batch_containers": ({"exclude_batch_containers": True, "wsids": [9]}, ["child"]),
    "created_range": ({"created_from": T0 + 2, "created_to": T0 + 4}, ["retry", "bob"]),
    "updated_before": ({"updated_before": T0 + 4}, ["orig", "bob"]),
    "limit_offset": ({"limit": 2, "offset": 1}, ["retry", "bob"]),
    "descending": ({"ascending": False, "limit": 3}, ["child", "batch", "app"]),
    "nothing_for_empty_ids": ({"ids": []}, []),
}


@pytest.mark.parametrize("case", list(QUERIES))
async def test_each_query_field_selects_its_jobs_in_created_order(
    store: JobStore, population: dict[str, Job], case: str
) -> None:
    fields, expected = QUERIES[case]
    got = await store.find_jobs(JobQuery(**fields))
    by_id = {j.id: name for name, j in population.items()}
    assert [by_id[j.id] for j in got] == expected


async def test_jobs_created_at_the_same_time_are_ordered_by_id(store: JobStore) -> None:
    jobs = [make_job() for _ in range(4)]
    await store.insert_jobs(list(reversed(jobs)))
    ids = sorted(j.id for j in jobs)
    assert [j.id for j in await store.find_jobs(JobQuery())] == ids
    assert [j.id for j in await store.find_jobs(JobQuery(ascending=False))] == ids[::-1]


async def test_queries_by_ids_batch_retry_parent_and_operation(
    store: JobStore, population: dict[str, Job]
) -> None:
    p = population
    assert [j.id for j in await store.find_jobs(JobQuery(ids=[p["bob"].id, p["app"].id, new_id()]))] == [
        p["bob"].id,
        p["app"].id,
    ]
    assert [j.id for j in await store.find_jobs(JobQuery(batch_id=p["batch"].id))] == [p["child"].id]
    assert [j.id for j in await store.find_jobs(JobQuery(retry_parent=p["orig"].id))] == [p["retry"].id]
    op = p["retry"].operation_id
    assert op is not None
    assert [j.id for j in await store.find_jobs(JobQuery(operation_ids=[op]))] == [p["retry"].id]


async def test_count_jobs_counts_matches_per_status(store: JobStore, population: dict[str, Job]) -> None:
    counts = await store.count_jobs(JobQuery(users=["alice", "carol"], limit=1))
    assert counts == {
        JobStatus.CREATED: 3,
        JobStatus.ESTIMATING: 0,
        JobStatus.QUEUED: 0,
        JobStatus.RUNNING: 1,
        JobStatus.COMPLETED: 0,
        JobStatus.ERROR: 1,
        JobStatus.TERMINATED: 0,
    }
