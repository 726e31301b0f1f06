"""An async facade over mongomock-ng with PyMongo's async call shapes, and job stores for tests.

`AsyncMongomockClient()[db][collection]` answers the calls MongoJobStore makes the way
`pymongo.AsyncMongoClient` does: write and single-document methods are awaited, `find()` returns a
cursor with `.sort/.skip/.limit`, `async for` and `await cursor.to_list(None)`, and `aggregate` is
awaited and returns such a cursor. Each call runs to completion before the event loop moves on, so
every call is atomic with respect to other coroutines (a real server is atomic per document).
`round_trips` counts the calls that would each be one round trip to a real server, so tests can
check that a store method's cost does not grow with its input.

What mongomock-ng 7.11 was checked to do as MongoDB does, so the facade passes it through: unique
indexes with `partialFilterExpression` and `$type` (null and missing values never collide), unique
checks on updates and upserts (an update that would collide is rolled back), unordered
`insert_many`/`bulk_write` that apply every other op and raise `BulkWriteError` whose
`details["writeErrors"]` carry the op `index` and code 11000, `$addToSet` with `$each`, `$push` with
`$each` and `$slice`, `$unset`, the `$slice` projection, `find_one_and_update` with upsert and
`ReturnDocument.AFTER`, `$group` in `aggregate`, and multi-key sorts. Documents are copied in and out.
Known gap, unreachable with this project's indexes: a partial unique index's filter is applied to the
stored documents but not to the one being written, which matters only when two equal values can
differ in whether they match the filter (never so for `$type`).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import mongomock_ng

from ee_retry.adapters.store.mongo import MongoJobStore
from ee_retry.adapters.store.sqlite import SqliteJobStore
from ee_retry.domain.ids import new_id
from ee_retry.ports import JobStore

MONGO_URI_ENV = "EE_RETRY_TEST_MONGO_URI"  # a mongod for the `mongo` kind instead of SecantusDB
STORE_KINDS = ("sqlite", "mongomock", "mongo")
TEST_DB_PREFIX = "ee_retry_test_"  # databases made (and dropped) by make_test_store for real MongoDB


class AsyncMongomockCursor:
    """A find or aggregate cursor with the async surface of PyMongo's AsyncCursor."""

    def __init__(self, cursor: Any, client: AsyncMongomockClient, counted: bool = False) -> None:
        self._cursor = cursor
        self._client = client
        self._counted = counted  # aggregate counts when awaited; find on the first fetch
        self._iter: Iterator[dict[str, Any]] | None = None

    def sort(self, key_or_list: Any, direction: Any = None) -> AsyncMongomockCursor:
        self._cursor = self._cursor.sort(key_or_list, direction)
        return self

    def skip(self, n: int) -> AsyncMongomockCursor:
        self._cursor = self._cursor.skip(n)
        return self

    def limit(self, n: int) -> AsyncMongomockCursor:
        self._cursor = self._cursor.limit(n)
        return self

    def __aiter__(self) -> AsyncMongomockCursor:
        return self

    async def __anext__(self) -> dict[str, Any]:
        if self._iter is None:
            if not self._counted:
                self._client.round_trips += 1
            self._iter = iter(self._cursor)
        try:
            return next(self._iter)
        except StopIteration:
            raise StopAsyncIteration from None

    async def to_list(self, length: int | None = None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        async for doc in self:
            out.append(doc)
            if length and len(out) >= length:
                break
        return out

    async def close(self) -> None:
        self._iter = iter(())


class AsyncMongomockCollection:
    """One collection; the awaited methods PyMongo's AsyncCollection has, over mongomock-ng's."""

    def __init__(self, collection: Any, client: AsyncMongomockClient) -> None:
        self._c = collection
        self._client = client

    def _trip(self) -> Any:
        """The wrapped collection, counting one round trip."""
        self._client.round_trips += 1
        return self._c

    @property
    def name(self) -> str:
        return str(self._c.name)

    def find(self, *args: Any, **kwargs: Any) -> AsyncMongomockCursor:
        return AsyncMongomockCursor(self._c.find(*args, **kwargs), self._client)

    async def aggregate(self, pipeline: Sequence[Mapping[str, Any]], **kwargs: Any) -> AsyncMongomockCursor:
        return AsyncMongomockCursor(
            self._trip().aggregate(list(pipeline), **kwargs), self._client, counted=True
        )

    async def find_one(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = self._trip().find_one(*args, **kwargs)
        return doc

    async def count_documents(self, filter: Mapping[str, Any], **kwargs: Any) -> int:
        return int(self._trip().count_documents(filter, **kwargs))

    async def insert_one(self, document: Any, **kwargs: Any) -> Any:
        return self._trip().insert_one(document, **kwargs)

    async def insert_many(self, documents: Any, ordered: bool = True, **kwargs: Any) -> Any:
        return self._trip().insert_many(documents, ordered=ordered, **kwargs)

    async def bulk_write(self, requests: Sequence[Any], ordered: bool = True, **kwargs: Any) -> Any:
        return self._trip().bulk_write(list(requests), ordered=ordered, **kwargs)

    async def update_one(self, filter: Mapping[str, Any], update: Any, **kwargs: Any) -> Any:
        return self._trip().update_one(filter, update, **kwargs)

    async def update_many(self, filter: Mapping[str, Any], update: Any, **kwargs: Any) -> Any:
        return self._trip().update_many(filter, update, **kwargs)

    async def find_one_and_update(self, filter: Mapping[str, Any], update: Any, **kwargs: Any) -> Any:
        return self._trip().find_one_and_update(filter, update, **kwargs)

    async def delete_one(self, filter: Mapping[str, Any], **kwargs: Any) -> Any:
        return self._trip().delete_one(filter, **kwargs)

    async def delete_many(self, filter: Mapping[str, Any], **kwargs: Any) -> Any:
        return self._trip().delete_many(filter, **kwargs)

    async def create_index(self, keys: Any, **kwargs: Any) -> str:
        return str(self._trip().create_index(keys, **kwargs))

    async def create_indexes(self, indexes: Sequence[Any], **kwargs: Any) -> list[str]:
        return [str(n) for n in self._trip().create_indexes(list(indexes), **kwargs)]

    async def index_information(self) -> dict[str, Any]:
        info: dict[str, Any] = self._trip().index_information()
        return info

    async def drop(self) -> None:
        self._trip().drop()


class AsyncMongomockDatabase:
    """One database: `db[name]` gives a collection, as with PyMongo's AsyncDatabase."""

    def __init__(self, client: AsyncMongomockClient, db: Any) -> None:
        self._client = client
        self._db = db

    @property
    def client(self) -> AsyncMongomockClient:
        return self._client

    @property
    def name(self) -> str:
        return str(self._db.name)

    def __getitem__(self, name: str) -> AsyncMongomockCollection:
        return AsyncMongomockCollection(self._db[name], self._client)


class AsyncMongomockClient:
    """In-memory stand-in for `pymongo.AsyncMongoClient`; one instance is one server."""

    def __init__(self) -> None:
        self._client: Any = mongomock_ng.MongoClient()
        self.round_trips = 0  # calls that would each be one round trip to a real server

    def __getitem__(self, name: str) -> AsyncMongomockDatabase:
        return AsyncMongomockDatabase(self, self._client[name])

    async def drop_database(self, name: str) -> None:
        self._client.drop_database(name)

    async def close(self) -> None:
        self._client.close()


# ---------------------------------------------------------------- stores for tests


def mongo_test_uri() -> str | None:
    """The real MongoDB to test against, from EE_RETRY_TEST_MONGO_URI, or None."""
    return os.environ.get(MONGO_URI_ENV, "").strip() or None


async def make_test_store(kind: str, tmp_path: Path, mongo_uri: str | None = None) -> JobStore:
    """A fresh, set-up store of one kind: "sqlite" (a file in tmp_path), "mongomock" (MongoJobStore
    over AsyncMongomockClient), or "mongo" (MongoJobStore over the wire on `mongo_uri`, else on
    EE_RETRY_TEST_MONGO_URI, in a new database that `discard_test_store` drops). Raises LookupError
    for "mongo" when there is no URI."""
    store: JobStore
    if kind == "sqlite":
        store = SqliteJobStore(tmp_path / f"jobs-{new_id()}.sqlite3")
    elif kind == "mongomock":
        client = AsyncMongomockClient()
        store = MongoJobStore(client["ee2"], client=client)
    elif kind == "mongo":
        uri = mongo_uri or mongo_test_uri()
        if uri is None:
            raise LookupError(f"{MONGO_URI_ENV} is not set: no MongoDB server to test against")
        store = MongoJobStore.from_uri(uri, TEST_DB_PREFIX + new_id())
    else:
        raise ValueError(f"unknown store kind {kind!r}; expected one of {STORE_KINDS}")
    await store.setup()
    return store


async def discard_test_store(store: JobStore) -> None:
    """Close a store from make_test_store; for real MongoDB, first drop its test database."""
    if isinstance(store, MongoJobStore) and store.database.name.startswith(TEST_DB_PREFIX):
        await store.database.client.drop_database(store.database.name)
    await store.close()


@asynccontextmanager
async def open_test_store(kind: str, tmp_path: Path, mongo_uri: str | None = None) -> AsyncIterator[JobStore]:
    """make_test_store for the length of a block, then discard_test_store."""
    store = await make_test_store(kind, tmp_path, mongo_uri)
    try:
        yield store
    finally:
        await discard_test_store(store)
