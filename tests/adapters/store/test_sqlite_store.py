"""The embedded SQLite store keeps what it answered and stays correct with several writers on one file."""

from __future__ import annotations

import asyncio
import json
import random
import sys
from pathlib import Path

import pytest

from ee_retry.adapters.store.sqlite import SqliteJobStore
from ee_retry.domain.ids import new_id
from ee_retry.domain.model import Job, JobInput, JobStatus, Operation, OperationKind, OperationState
from ee_retry.domain.values import JobQuery

T0 = 1_700_000_000.0
ROUNDS = 200  # originals each writer races for


def make_job(**fields: object) -> Job:
    base: dict[str, object] = {
        "id": new_id(),
        "user": "alice",
        "status": JobStatus.ERROR,
        "job_input": JobInput(method="Mod.run", service_ver="c0ffee"),
        "created": T0,
        "updated": T0,
    }
    base.update(fields)
    return Job(**base)  # type: ignore[arg-type]


async def open_store(path: Path) -> SqliteJobStore:
    store = SqliteJobStore(path)
    await store.setup()
    return store


async def race(
    store: SqliteJobStore, originals: list[str], ledger: str, seed: int
) -> tuple[list[str], list[str]]:
    """For each original (in an order of its own), try to start an attempt, and append a fresh id
    to the ledger's retry_ids; returns the attempts it inserted and the ids it linked, in order."""
    inserted: list[str] = []
    linked: list[str] = []
    for original in random.Random(seed).sample(originals, len(originals)):
        attempt = make_job(status=JobStatus.CREATED, retry_parent=original, retry_active=original)
        inserted.extend((await store.insert_jobs([attempt])).inserted)
        linked.append(new_id())
        await store.link({ledger: [linked[-1]]}, {}, [])
    return inserted, linked


async def test_everything_survives_closing_and_reopening(tmp_path: Path) -> None:
    path = tmp_path / "data" / "jobs.sqlite3"
    store = await open_store(path)
    job = make_job(
        retry_active=None, job_input=JobInput(method="Mod.run", service_ver="1", params={"a": [1]})
    )
    op = Operation(
        new_id(), OperationKind.RETRY, "alice", OperationState.DONE, T0, T0, (job.id,), idempotency_key="k"
    )
    await store.insert_jobs([job])
    await store.insert_operation(op)
    await store.add_logs(job.id, [{"line": "hello", "is_error": False, "ts": T0}])
    await store.acquire_lease("poller", "a", 30, T0)
    await store.close()

    reopened = await open_store(path)
    try:
        assert await reopened.get_jobs([job.id]) == {job.id: job}
        assert await reopened.get_operation(op.id) == op
        assert await reopened.find_operations(user="alice", idempotency_key="k") == [op]
        assert await reopened.get_logs(job.id, 0, 10) == ([{"line": "hello", "is_error": False, "ts": T0}], 1)
        assert not await reopened.acquire_lease("poller", "b", 30, T0 + 1)
    finally:
        await reopened.close()


async def test_two_store_objects_on_one_file_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    first, second = await open_store(path), await open_store(path)
    try:
        ledger = make_job()
        await first.insert_jobs([ledger])
        originals = [new_id() for _ in range(ROUNDS)]
        (ins_a, linked_a), (ins_b, linked_b) = await asyncio.gather(
            race(first, originals, ledger.id, 1), race(second, originals, ledger.id, 2)
        )
        assert len(ins_a) + len(ins_b) == ROUNDS
        assert set(await first.active_attempts(originals)) == set(originals)
        retry_ids = (await second.get_jobs([ledger.id]))[ledger.id].retry_ids
        assert sorted(retry_ids) == sorted(linked_a + linked_b)
        assert [i for i in retry_ids if i in linked_a] == linked_a
    finally:
        await first.close()
        await second.close()


CHILD = """
import asyncio, json, sys, time
from pathlib import Path
from tests.adapters.store.test_sqlite_store import open_store, race

async def main(path, originals, ledger, sync):
    store = await open_store(Path(path))
    (Path(sync) / "ready").touch()
    deadline = time.monotonic() + 60
    while not (Path(sync) / "go").exists() and time.monotonic() < deadline:
        await asyncio.sleep(0.001)
    result = await race(store, originals, ledger, 2)
    await store.close()
    print(json.dumps(result))

asyncio.run(main(sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]))
"""


async def wait_for(path: Path, proc: asyncio.subprocess.Process) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while not path.exists():
        if proc.returncode is not None or loop.time() > deadline:
            raise AssertionError(f"the second process did not create {path.name}")
        await asyncio.sleep(0.001)


@pytest.mark.slow
async def test_a_second_process_on_the_same_file_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    store = await open_store(path)
    try:
        ledger = make_job()
        await store.insert_jobs([ledger])
        originals = [new_id() for _ in range(ROUNDS)]
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CHILD,
            str(path),
            json.dumps(originals),
            ledger.id,
            str(tmp_path),
            stdout=asyncio.subprocess.PIPE,
            cwd=Path(__file__).resolve().parents[3],
        )
        await wait_for(tmp_path / "ready", proc)
        (tmp_path / "go").touch()
        ours, (out, _) = await asyncio.gather(race(store, originals, ledger.id, 1), proc.communicate())
        assert proc.returncode == 0
        theirs = json.loads(out)
        assert len(ours[0]) + len(theirs[0]) == ROUNDS
        attempts = await store.find_jobs(JobQuery(statuses=[JobStatus.CREATED]))
        assert sorted(j.retry_active or "" for j in attempts) == sorted(originals)
        retry_ids = (await store.get_jobs([ledger.id]))[ledger.id].retry_ids
        assert sorted(retry_ids) == sorted(ours[1] + theirs[1])
        assert [i for i in retry_ids if i in theirs[1]] == theirs[1]
    finally:
        await store.close()
