"""The `store` fixture: every JobStore test runs on SQLite, on MongoJobStore over the mongomock
facade, and on MongoJobStore over the wire protocol against the session's `mongo_uri` (SecantusDB,
or the server EE_RETRY_TEST_MONGO_URI names). Tests outside this folder use
ee_retry.testing.mongo.make_test_store or open_test_store. Also what the conformance tests add to
tests.builders: attempts, a job with every field set."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ee_retry.adapters.store.mongo import MongoJobStore
from ee_retry.domain.ids import new_id
from ee_retry.domain.model import Job, JobInput, JobRequirements, JobStatus
from ee_retry.ports import JobStore
from ee_retry.testing.mongo import open_test_store
from tests.builders import T0, make_job
from tests.conftest import store_mongo_uri

STORE_PARAMS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("mongomock", id="mongomock"),
    pytest.param("mongo", id="mongo"),
]


@pytest.fixture(params=STORE_PARAMS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[JobStore]:
    """A fresh, set-up store of each kind; a wire-protocol test database is dropped afterwards."""
    async with open_test_store(request.param, tmp_path, store_mongo_uri(request, request.param)) as made:
        yield made


@pytest.fixture(params=STORE_PARAMS[1:])
async def mongo_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MongoJobStore]:
    """MongoJobStore over the mongomock facade and over the wire protocol."""
    async with open_test_store(request.param, tmp_path, store_mongo_uri(request, request.param)) as made:
        assert isinstance(made, MongoJobStore)
        yield made


ACTIVE = frozenset({JobStatus.CREATED, JobStatus.QUEUED, JobStatus.RUNNING})


def attempt_of(original: str, **fields: Any) -> Job:
    return make_job(retry_parent=original, retry_active=original, **fields)


def full_job() -> Job:
    """A job with every field set, including nested job_input and requirements."""
    original = new_id()
    return Job(
        id=new_id(),
        user="alice",
        status=JobStatus.ERROR,
        job_input=JobInput(
            method="MegaHit.run_megahit",
            service_ver="0123456789abcdef0123456789abcdef01234567",
            params=[{"reads": "1/2/3", "k": [21, 33], "opt": None, "nested": {"deep": [1.5, True]}}],
            app_id="MegaHit/run_megahit",
            source_ws_objects=("1/2/3", "4/5/6"),
            wsid=42,
            parent_job_id=new_id(),
            requirements=JobRequirements(cpus=4, memory_mb=2048, disk_gb=30, client_group="bigmem"),
            narrative_cell_info={"cell_id": "c1", "run_id": "r1", "tag": "release"},
            meta={"origin": "narrative"},
        ),
        created=T0 + 0.123456,
        updated=T0 + 9.5,
        wsid=42,
        authstrat="kbaseworkspace",
        queued=T0 + 1.25,
        running=T0 + 2.5,
        finished=T0 + 9.5,
        errormsg="job crashed",
        error={"code": -32000, "name": "Server error", "message": "job crashed"},
        error_code=1,
        terminated_code=2,
        scheduler_type="condor",
        scheduler_id="123.4",
        job_output={"result": [{"report_ref": "1/2/3"}], "version": "1.1"},
        batch_job=False,
        batch_id=new_id(),
        child_jobs=(new_id(), new_id()),
        retry_ids=(new_id(), new_id()),
        retry_parent=original,
        retry_saved_toggle=True,
        operation_id=new_id(),
        retry_active=original,
    )
