"""Property test of the values the stores keep: whatever `run_job` accepts as params and `finish_job`
accepts as output, each store (SQLite, and MongoDB over the wire protocol) returns unchanged, type
for type (`get_job_params`, `check_job`); whatever they refuse is refused as "Invalid params" with
nothing written.

Values are generated and sent as a client's JSON text through the whole JSON-RPC endpoint (httpx2's
ASGI transport, in the loop the store's client is bound to): any Unicode (lone surrogates too), keys
holding NUL, '$' or '.', integers past 64 bits, floats, deep and wide nesting.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from ee_retry.app import create_app
from ee_retry.domain.values import JobQuery, OperationQuery
from ee_retry.errors import InvalidParams
from ee_retry.service.deps import Deps
from ee_retry.service.submit.submission import INCOMPLETE
from ee_retry.testing.clock import FakeClock
from ee_retry.testing.harness import ALICE_TOKEN, service_deps
from ee_retry.testing.mongo import discard_test_store, make_test_store
from ee_retry.testing.scheduler import FakeScheduler
from tests.conftest import store_mongo_uri

keys = st.text(max_size=8) | st.sampled_from(["\x00", "a\x00b", "$set", "a.b", "_id", "\ud800", ""])
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=12,
)


def _kind(value: Any) -> str:
    """The JSON type of a value (PyMongo's Int64 is an int)."""
    for kind in (bool, int, float, str, list, dict):
        if isinstance(value, kind):
            return kind.__name__
    return "null" if value is None else type(value).__name__


def same(a: Any, b: Any) -> bool:
    """Equal and of the same JSON types all the way down (1 is not 1.0, True is not 1)."""
    if _kind(a) != _kind(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@pytest.fixture(params=["sqlite", "mongo"])
def service(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[asyncio.AbstractEventLoop, Deps]]:
    """The service's ports over a fresh store of each kind, with the loop its client is bound to."""
    loop = asyncio.new_event_loop()
    store = loop.run_until_complete(
        make_test_store(request.param, tmp_path, store_mongo_uri(request, request.param))
    )
    clock = FakeClock(1_700_000_000.0)
    try:
        yield loop, service_deps(store, FakeScheduler(clock=clock), clock)
    finally:
        loop.run_until_complete(discard_test_store(store))
        loop.close()


async def _call(deps: Deps, method: str, params: Any) -> Any:
    """One call through the endpoint; the result, or the JSON-RPC error raised as its error class."""
    body = json.dumps(
        {"version": "1.1", "method": f"execution_engine2.{method}", "params": [params], "id": "1"}
    )
    transport = httpx2.ASGITransport(app=create_app(deps, recover=False, poll=False))
    async with httpx2.AsyncClient(transport=transport, base_url="http://soak.invalid") as client:
        response = await client.post("/", content=body.encode(), headers={"Authorization": ALICE_TOKEN})
    answer = response.json()
    if response.status_code == 200:
        return answer["result"][0]
    assert response.status_code == 500, answer
    if answer["error"]["code"] == InvalidParams.code:
        raise InvalidParams(answer["error"]["message"])
    raise AssertionError(f"{method} answered {answer['error']}")


async def _job_count(deps: Deps) -> int:
    """How many jobs the store holds (counted, not read: a long run stores thousands)."""
    return sum((await deps.store.count_jobs(JobQuery())).values())


async def _nothing_left(deps: Deps, jobs_before: int) -> None:
    assert await _job_count(deps) == jobs_before
    assert await deps.store.find_operations(OperationQuery(states=list(INCOMPLETE))) == []


def test_params_run_job_accepts_come_back_unchanged(service: tuple[asyncio.AbstractEventLoop, Deps]) -> None:
    loop, deps = service

    async def example(params: Any) -> None:
        before = await _job_count(deps)
        try:
            job_id = await _call(deps, "run_job", {"method": "Demo.succeed", "params": [params], "wsid": 1})
        except InvalidParams:
            event("refused")
            await _nothing_left(deps, before)
            return
        event("accepted")
        got = (await _call(deps, "get_job_params", {"job_id": job_id}))["params"]
        assert same(got, [params]), (ascii(got), ascii([params]))
        assert same((await _call(deps, "check_job", {"job_id": job_id}))["job_input"]["params"], [params])

    @given(values)
    def round_trips(params: Any) -> None:
        loop.run_until_complete(example(params))

    round_trips()


def test_output_finish_job_accepts_comes_back_unchanged(
    service: tuple[asyncio.AbstractEventLoop, Deps],
) -> None:
    loop, deps = service

    async def example(output: Any) -> None:
        job_id = await _call(deps, "run_job", {"method": "Demo.succeed", "params": [], "wsid": 1})
        await _call(deps, "start_job", {"job_id": job_id})
        try:
            await _call(deps, "finish_job", {"job_id": job_id, "job_output": {"result": [output]}})
        except InvalidParams:
            event("refused")
            assert (await _call(deps, "check_job", {"job_id": job_id}))["status"] == "running"
            return
        event("accepted")
        state = await _call(deps, "check_job", {"job_id": job_id})
        assert same(state["job_output"], {"result": [output]})

    @given(values)
    def round_trips(output: Any) -> None:
        loop.run_until_complete(example(output))

    round_trips()
