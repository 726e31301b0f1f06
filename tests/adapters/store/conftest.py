"""The `store` fixture: every JobStore test runs on SQLite, on MongoJobStore over the mongomock
facade, and on MongoJobStore over the wire protocol against the session's `mongo_uri` (SecantusDB,
or the server EE_RETRY_TEST_MONGO_URI names). Tests outside this folder use
ee_retry.testing.mongo.make_test_store or open_test_store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ee_retry.adapters.store.mongo import MongoJobStore
from ee_retry.ports import JobStore
from ee_retry.testing.mongo import open_test_store
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
