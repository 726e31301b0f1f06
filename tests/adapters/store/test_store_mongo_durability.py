"""Writes the Mongo store was told are done survive a crash of the database server.

The store asks for journaled writes (`j: true`): the server answers once the write is in its journal.
A plain `w: 1` write is answered from memory, and MongoDB (and SecantusDB) lose it when the server
process dies before its journal is flushed; the lifecycle's later writes then land without it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ee_retry.adapters.store.mongo import MongoJobStore
from ee_retry.domain.model import JobStatus
from ee_retry.domain.values import Transition
from ee_retry.testing.secantus import SecantusServer
from tests.builders import make_job


@pytest.mark.slow
async def test_every_write_the_store_was_told_is_done_survives_a_database_crash(tmp_path: Path) -> None:
    server = SecantusServer(tmp_path / "mongo")
    store = MongoJobStore.from_uri(server.start(), "ee2")
    try:
        await store.setup()
        job = make_job()
        await store.insert_jobs([job])
        await store.set_fields({job.id: {"scheduler_id": "local.1", "scheduler_type": "local"}})
        await store.transition([Transition(job.id, frozenset({JobStatus.CREATED}), JobStatus.QUEUED)])

        server.kill()
        server.start()

        stored = (await store.get_jobs([job.id]))[job.id]
        assert (stored.scheduler_id, stored.status) == ("local.1", JobStatus.QUEUED)
    finally:
        await store.close()
        server.stop()


def test_writes_are_journaled_unless_the_uri_says_otherwise() -> None:
    """The clients connect lazily, so no server is needed to check this."""
    default = MongoJobStore.from_uri("mongodb://db.invalid:27017/", "ee2")
    chosen = MongoJobStore.from_uri("mongodb://db.invalid:27017/?journal=false&w=majority", "ee2")
    assert default.database.client.write_concern.document == {"j": True}
    assert chosen.database.client.write_concern.document == {"j": False, "w": "majority"}
