"""The `store` fixture: every JobStore test runs on SQLite, on MongoJobStore over the mongomock
facade, and on MongoJobStore over a real server when EE_RETRY_TEST_MONGO_URI is set (skipped,
visibly, otherwise). Tests outside this folder use ee_retry.testing.mongo.make_test_store or
open_test_store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ee_retry.adapters.store.mongo import MongoJobStore
from ee_retry.ports import JobStore
from ee_retry.testing.mongo import MONGO_URI_ENV, mongo_test_uri, open_test_store

STORE_PARAMS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("mongomock", id="mongomock"),
    pytest.param("mongo", id="mongo", marks=pytest.mark.mongo),
]


def _skip_without_server(kind: str) -> None:
    if kind == "mongo" and mongo_test_uri() is None:
        pytest.skip(f"{MONGO_URI_ENV} is not set: no MongoDB server to run the store tests against")


@pytest.fixture(params=STORE_PARAMS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[JobStore]:
    """A fresh, set-up store of each kind; a real MongoDB test database is dropped afterwards."""
    _skip_without_server(request.param)
    async with open_test_store(request.param, tmp_path) as made:
        yield made


@pytest.fixture(params=STORE_PARAMS[1:])
async def mongo_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MongoJobStore]:
    """MongoJobStore over the mongomock facade and, when configured, over a real server."""
    _skip_without_server(request.param)
    async with open_test_store(request.param, tmp_path) as made:
        assert isinstance(made, MongoJobStore)
        yield made
