"""Shared by the KBase adapter tests. For the clients: the demo token, user and catalog modules; a
client connected to a fake service's app (`connected`, or the `connect` fixture on the fake clock); the
fake Auth service and its client (`auth_app`, `auth`); and the fake services' call counts. For their
file-backed twins: `write` (an edit they are sure to see) and `refused_at_startup`."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx2
import pytest
from starlette.applications import Starlette

from ee_retry.adapters.kbase import KBaseAuth
from ee_retry.adapters.kbase.http import KBaseClient
from ee_retry.domain.values import User
from ee_retry.errors import EERetryError
from ee_retry.testing.clock import FakeClock
from ee_retry.testing.kbase import fake_auth2_app, fake_state

SECRET = "SECRETTOKEN0123456789ABCDEFGHIJK"
TOKENS = {
    SECRET: ("alice", ()),
    "admin-token": ("ee2admin", ("EE2_ADMIN", "DEV_TOKEN_CREATOR")),
}
RELEASE = "52ea58866b80a931944b028dd66b9b3a906be270"
BETA = "b2051874499e4ce56f1ade1c35cdd488b35b21b5"
MODULES = {
    "Demo": {
        "versions": [
            {"git_commit_hash": RELEASE, "tags": ["release"], "version": "1.0.0"},
            {"git_commit_hash": BETA, "tags": ["beta", "dev"], "version": "1.1.0"},
        ],
        "client_groups": {
            "assemble": ["bigmem,request_cpus=8,request_memory=64000M,request_disk=100GB"],
            "upload": ['{"client_group": "kb_upload"', '"request_cpus": "2"}'],
            "broken": ["njs,request_cpus"],
        },
    }
}
Client = TypeVar("Client", bound=KBaseClient)
ALICE = User(name="alice", token=SECRET)
RECHECK_S = 1.0  # FILE_RECHECK_S: how long an edit may go unseen


@asynccontextmanager
async def connected(
    kind: type[Client], url: str, to: Starlette | httpx2.AsyncBaseTransport, clock: FakeClock | None = None
) -> AsyncIterator[Client]:
    """A client of `kind` whose requests go to a fake service's app (or through a transport); closed
    when the block ends."""
    transport = httpx2.ASGITransport(to) if isinstance(to, Starlette) else to
    client = kind(url, transport=transport, clock=clock)
    try:
        yield client
    finally:
        await client.close()


def assert_token_hidden(exc: BaseException) -> None:
    """Neither the error nor its cause mentions the secret token."""
    for err in (exc, exc.__cause__):
        if err is not None:
            assert SECRET not in str(err)
            assert SECRET not in repr(err)
    if isinstance(exc, EERetryError):
        assert SECRET not in exc.message


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_700_000_000.0)


class Connect(Protocol):
    """The `connect` fixture: a client of `kind` at `url` whose requests go to a fake service's app."""

    async def __call__(self, kind: type[Client], url: str, app: Starlette) -> Client: ...


@pytest.fixture
async def connect(clock: FakeClock) -> AsyncIterator[Connect]:
    """Connects clients on the test's clock; each is closed when the test ends."""
    async with AsyncExitStack() as stack:

        async def make(kind: type[Client], url: str, app: Starlette) -> Client:
            return await stack.enter_async_context(connected(kind, url, app, clock))

        yield make


@pytest.fixture
def auth_app() -> Starlette:
    return fake_auth2_app(TOKENS)


@pytest.fixture
async def auth(auth_app: Starlette, connect: Connect) -> KBaseAuth:
    return await connect(KBaseAuth, "http://auth.test/services/auth/", auth_app)


def calls(app: Starlette, method: str) -> int:
    return fake_state(app).calls[method]


def write(path: Path, data: Any) -> Path:
    """Write JSON (or raw text) to `path`, moving its mtime forward so a change is always visible."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    later = max(before + 1_000_000_000, path.stat().st_mtime_ns)
    os.utime(path, ns=(later, later))
    return path


def refused_at_startup(adapter: Callable[[Path], object], path: Path) -> str:
    """The message with which `adapter` refuses the file at `path` when it is built; it names the file."""
    with pytest.raises(ValueError) as caught:
        adapter(path)
    message = str(caught.value)
    assert str(path) in message
    return message
