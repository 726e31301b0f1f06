"""Every kind of bad request gets its own error code and a message saying what to fix, and changes
no job, operation, log or scheduler state."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from ee_retry.app import create_app
from ee_retry.constants import MAX_BODY_BYTES, MAX_JOB_IDS_PER_CALL
from ee_retry.domain.values import JobQuery, OperationQuery
from ee_retry.ports import JobStore
from ee_retry.service.deps import Deps
from ee_retry.testing.clock import FakeClock
from ee_retry.testing.harness import ALICE_TOKEN, service_deps
from ee_retry.testing.instrument import Instrumented
from ee_retry.testing.scheduler import FakeScheduler

Rpc = Callable[..., tuple[int, Any]]
Snapshot = tuple[list[dict[str, Any]], list[dict[str, Any]], int, int]

OTHER_ID = "0123456789abcdef01234567"  # well formed, names no job


async def snapshot(deps: Deps, sched: FakeScheduler, job_id: str) -> Snapshot:
    """Everything a request could change: job and operation records, the job's logs, submissions."""
    jobs = await deps.store.find_jobs(JobQuery())
    ops = await deps.store.find_operations(OperationQuery())
    _, log_count = await deps.store.get_logs(job_id, 0, 10)
    return [j.to_doc() for j in jobs], [o.to_doc() for o in ops], log_count, sched.submit_calls


def post_raw(client: TestClient, content: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    response = client.post("/", content=content, headers={"Authorization": ALICE_TOKEN, **(headers or {})})
    return response.status_code, response.json()


def call_body(method: str, params: Any) -> dict[str, Any]:
    return {"version": "1.1", "method": f"execution_engine2.{method}", "params": params, "id": "1"}


def assert_error(status: int, body: Any, code: int, phrase: str) -> None:
    assert status == 500, body
    assert body["error"]["code"] == code, body["error"]
    assert phrase.lower() in body["error"]["message"].lower(), body["error"]["message"]


@pytest.fixture
def job_id(client: TestClient, rpc: Rpc) -> str:
    """One job alice already ran, so that 'nothing changed' has something to compare."""
    status, body = rpc(client, "run_job", [{"method": "Demo.succeed", "wsid": 1}], ALICE_TOKEN)
    assert status == 200, body
    made: str = body["result"][0]
    return made


# ---------------------------------------------------------------- framing


async def test_malformed_json_is_a_parse_error(
    client: TestClient, deps: Deps, sched: FakeScheduler, job_id: str
) -> None:
    before = await snapshot(deps, sched, job_id)

    status, body = post_raw(client, b'{"version": "1.1", "method": "execution_engine2.run_job", "params": [{')

    assert_error(status, body, -32700, "not valid JSON")
    assert await snapshot(deps, sched, job_id) == before


@pytest.mark.parametrize(
    ("raw", "phrase"),
    [
        (b'{"x": NaN}', "NaN"),
        (b'{"x": Infinity}', "Infinity"),
        (b'{"x": -Infinity}', "-Infinity"),
        (b'{"x": 1e999}', "too large"),
        (b"[" * 100_000 + b"]" * 100_000, "nested more than 64 levels"),
        (b'{"x": ' + b"[" * 70 + b"]" * 70 + b"}", "nested more than 64 levels"),
        (b'{"x": ' + b"9" * 5_000 + b"}", "number too long"),
    ],
    ids=[
        "nan",
        "infinity",
        "minus-infinity",
        "overflowing-float",
        "deep-nesting",
        "params-70-deep",
        "long-int",
    ],
)
async def test_json_that_could_not_be_stored_or_parsed_is_a_parse_error(
    client: TestClient, deps: Deps, sched: FakeScheduler, job_id: str, raw: bytes, phrase: str
) -> None:
    """Python's json module accepts NaN and Infinity; stored, they would break every later read."""
    before = await snapshot(deps, sched, job_id)
    body = raw
    if raw.startswith(b'{"x"'):
        body = json.dumps(call_body("run_job", [{"method": "Demo.succeed", "params": ["X"]}])).encode()
        body = body.replace(b'"X"', raw[6:-1])

    status, answer = post_raw(client, body)

    assert_error(status, answer, -32700, phrase)
    assert await snapshot(deps, sched, job_id) == before


RUN = call_body("run_job", [{"method": "Demo.succeed", "wsid": 1}])


@pytest.mark.parametrize(
    ("raw", "phrase"),
    [
        pytest.param(b'"run_job"', "must be a JSON object", id="string-body"),
        pytest.param(b"42", "must be a JSON object", id="number-body"),
        pytest.param(b"null", "must be a JSON object", id="null-body"),
        pytest.param(b"true", "must be a JSON object", id="bool-body"),
        pytest.param(
            json.dumps([RUN, RUN]).encode(),
            "one JSON-RPC request object per call",
            id="batch-array-runs-none-of-its-calls",
        ),
        pytest.param(
            json.dumps(call_body("run_job", 5)).encode(),
            "'params' must be a list",
            id="params-neither-a-list-nor-an-object",
        ),
    ],
)
async def test_a_body_that_is_not_one_request_object_is_an_invalid_request(
    client: TestClient, deps: Deps, sched: FakeScheduler, job_id: str, raw: bytes, phrase: str
) -> None:
    before = await snapshot(deps, sched, job_id)

    status, body = post_raw(client, raw)

    assert_error(status, body, -32600, phrase)
    assert await snapshot(deps, sched, job_id) == before


@pytest.mark.parametrize("method", ["execution_engine2.run_jobs_now", "OtherService.run_job", ""])
async def test_an_unknown_method_is_method_not_found(
    client: TestClient, deps: Deps, sched: FakeScheduler, job_id: str, method: str
) -> None:
    before = await snapshot(deps, sched, job_id)
    request = {"version": "1.1", "method": method, "params": [{"method": "Demo.succeed"}], "id": "1"}

    status, body = post_raw(client, _json(request))

    if method:
        assert_error(status, body, -32601, method.split(".")[-1])
    else:
        assert_error(status, body, -32600, "needs a 'method' string")
    assert await snapshot(deps, sched, job_id) == before


# ---------------------------------------------------------------- authentication


@pytest.mark.parametrize(
    ("token", "phrase"),
    [(None, "Authorization header"), ("", "Authorization header"), ("no-such-token", "log in again")],
    ids=["missing", "empty", "unknown"],
)
async def test_a_missing_or_unknown_token_is_an_authentication_error(
    client: TestClient,
    rpc: Rpc,
    deps: Deps,
    sched: FakeScheduler,
    job_id: str,
    token: str | None,
    phrase: str,
) -> None:
    before = await snapshot(deps, sched, job_id)

    for method, params in [
        ("run_job", [{"method": "Demo.succeed", "wsid": 1}]),
        ("cancel_job", [{"job_id": job_id}]),
        ("add_job_logs", [{"job_id": job_id}, [{"line": "x", "is_error": 0}]]),
        ("check_job", [{"job_id": job_id}]),
    ]:
        status, body = rpc(client, method, params, token)
        assert_error(status, body, -32001, phrase)
    assert await snapshot(deps, sched, job_id) == before


# ---------------------------------------------------------------- parameter types


WRONG_TYPES = [
    ("check_jobs", [{"job_ids": OTHER_ID}], "'job_ids' must be a list"),
    ("check_job", [{"job_id": "JOB", "as_admin": "maybe"}], "'as_admin' must be a boolean"),
    ("cancel_job", [{"job_id": "JOB", "as_admin": 2}], "'as_admin' must be a boolean"),
    ("run_job", [{"method": "Demo.succeed", "wsid": "x"}], "'wsid' must be an integer"),
    ("run_job", [{"method": 5}], "'method' must be a string"),
    (
        "run_job",
        [{"method": "Demo.succeed", "source_ws_objects": "1/2/3"}],
        "'source_ws_objects' must be a list",
    ),
    ("run_job", [{"method": "Demo.succeed", "meta": ["a"]}], "'meta' must be an object"),
    ("run_job", ["Demo.succeed"], "takes an object as its first param"),
    ("run_job", [], "takes one object in params"),
    ("run_job_batch", [{"method": "Demo.succeed"}], "takes a list of job params"),
    ("run_job_batch", [[{"method": "Demo.succeed"}], "ws"], "must be an object"),
    ("add_job_logs", [{"job_id": "JOB"}, "line"], "list of {line, is_error} objects"),
    ("get_job_logs", [{"job_id": "JOB", "limit": "many"}], "'limit' must be an integer"),
    ("check_job", [{"job_id": "JOB", "exclude_fields": "user"}], "'exclude_fields' must be a list"),
    ("update_job_status", [{"job_id": "JOB", "status": 3, "as_admin": True}], "'status' must be a string"),
    (
        "check_jobs_date_range_for_user",
        [{"start_time": "last tuesday", "end_time": 1_700_000_000_000}],
        "epoch milliseconds or an ISO 8601 date",
    ),
    ("retry_job", [{"job_id": "JOB", "idempotency_key": {"k": 1}}], "idempotency_key must be"),
    (
        "retry_job",
        [{"job_id": "JOB", "as_admin": True, "job_requirements": {"client_group": "njs && true"}}],
        "Invalid client_group",
    ),
    ("run_job", [{"method": "Demo.succeed", "params": "notalist"}], "'params' must be a list"),
    ("run_job", [{"method": "Demo.succeed", "params": {"x": 1}}], "'params' must be a list"),
    ("get_job_logs", [{"job_id": "JOB", "skip_lines": 10**30}], "'skip_lines' is too large"),
    ("get_job_logs", [{"job_id": "JOB", "limit": "--5"}], "'limit' must be an integer"),
    ("get_job_logs", [{"job_id": "JOB", "limit": "\u00b2"}], "'limit' must be an integer"),
    (
        "check_jobs_date_range_for_user",
        [{"start_time": "nan", "end_time": 1_700_000_000_000}],
        "'start_time' is not a usable time",
    ),
    (
        "check_jobs_date_range_for_user",
        [{"start_time": 0, "end_time": 10**400}],
        "'end_time' is not a usable time",
    ),
    (
        "check_jobs_date_range_for_user",
        [{"start_time": 0, "end_time": 1_700_000_000_000, "offset": 10**30}],
        "'offset' is too large",
    ),
]


@pytest.mark.parametrize(("method", "params", "phrase"), WRONG_TYPES)
async def test_a_parameter_of_the_wrong_type_is_invalid_params_naming_it(
    client: TestClient,
    rpc: Rpc,
    deps: Deps,
    sched: FakeScheduler,
    job_id: str,
    method: str,
    params: list[Any],
    phrase: str,
) -> None:
    params = _with_job_id(params, job_id)
    before = await snapshot(deps, sched, job_id)

    status, body = rpc(client, method, params, ALICE_TOKEN)

    assert_error(status, body, -32602, phrase)
    assert await snapshot(deps, sched, job_id) == before


# ---------------------------------------------------------------- job ids


@pytest.fixture
def spied(
    store: JobStore, sched: FakeScheduler, clock: FakeClock
) -> Iterator[tuple[TestClient, Instrumented]]:
    """A service whose store counts every call it receives."""
    spy = Instrumented(store)
    deps = service_deps(spy, sched, clock)
    with TestClient(create_app(deps, recover=False, poll=False)) as started:
        yield started, spy


BAD_IDS = [
    pytest.param("abc", id="short"),
    pytest.param("0123456789abcdef0123456", id="23-hex"),
    pytest.param("0123456789abcdef012345678", id="25-hex"),
    pytest.param("0123456789abcdef0123456z", id="non-hex"),
    pytest.param(12345, id="number"),
    pytest.param(None, id="null"),
    pytest.param({"$ne": None}, id="operator-dict"),
    pytest.param({"$gt": ""}, id="operator-dict-gt"),
    pytest.param([OTHER_ID], id="list"),
]


@pytest.mark.parametrize("bad_id", BAD_IDS)
@pytest.mark.parametrize(
    "method", ["check_job", "cancel_job", "get_job_logs", "check_job_batch", "start_job"]
)
async def test_a_malformed_job_id_is_refused_before_any_store_query(
    spied: tuple[TestClient, Instrumented], rpc: Rpc, method: str, bad_id: Any
) -> None:
    client, spy = spied
    spy.reset()

    status, body = rpc(client, method, [{"job_id": bad_id}], ALICE_TOKEN)

    # A method that writes refuses an operator's '$' key before it reads the id.
    writes = method in ("cancel_job", "start_job") and isinstance(bad_id, dict)
    assert_error(status, body, -32602, "starts with '$'" if writes else "24 hexadecimal characters")
    assert spy.calls["get_jobs"] == 0
    assert spy.calls["find_jobs"] == 0
    assert spy.calls["transition"] == 0


@pytest.mark.parametrize("bad_id", BAD_IDS)
async def test_a_malformed_id_among_check_jobs_ids_is_refused_before_any_store_query(
    spied: tuple[TestClient, Instrumented], rpc: Rpc, bad_id: Any
) -> None:
    client, spy = spied
    spy.reset()

    status, body = rpc(client, "check_jobs", [{"job_ids": [OTHER_ID, bad_id]}], ALICE_TOKEN)

    assert_error(status, body, -32602, "24 hexadecimal characters")
    assert spy.calls["get_jobs"] == 0


# ---------------------------------------------------------------- size limits


def _run_job_over_limit() -> bytes:
    """A valid run_job request padded past the body limit."""
    padding = "x" * (MAX_BODY_BYTES + 1)
    return _json(call_body("run_job", [{"method": "Demo.succeed", "wsid": 1, "params": [{"pad": padding}]}]))


def _chunks(raw: bytes) -> Iterator[bytes]:
    """The body in 64 KiB chunks: sent chunked, with no Content-Length."""
    for start in range(0, len(raw), 64 * 1024):
        yield raw[start : start + 64 * 1024]


@pytest.mark.parametrize(
    ("chunked", "headers"),
    [
        pytest.param(False, {}, id="with-its-content-length"),
        pytest.param(True, {}, id="chunked-without-content-length"),
        pytest.param(False, {"Content-Length": "100"}, id="with-a-lying-content-length"),
    ],
)
async def test_a_body_over_1_mib_is_refused(
    client: TestClient,
    deps: Deps,
    sched: FakeScheduler,
    job_id: str,
    chunked: bool,
    headers: dict[str, str],
) -> None:
    before = await snapshot(deps, sched, job_id)
    raw = _run_job_over_limit()

    status, body = post_raw(client, _chunks(raw) if chunked else raw, headers=headers)

    assert_error(status, body, -32600, "1 MiB")
    assert await snapshot(deps, sched, job_id) == before


@pytest.mark.parametrize("method", ["check_jobs", "retry_jobs"])
async def test_more_than_1000_ids_in_one_call_is_refused(
    client: TestClient, rpc: Rpc, deps: Deps, sched: FakeScheduler, job_id: str, method: str
) -> None:
    await sched.complete(job_id, exit_code=1)  # retryable, so only the count can refuse it
    before = await snapshot(deps, sched, job_id)
    ids = [job_id] + [f"{i:024x}" for i in range(MAX_JOB_IDS_PER_CALL)]

    status, body = rpc(client, method, [{"job_ids": ids}], ALICE_TOKEN)

    assert_error(status, body, -32602, f"at most {MAX_JOB_IDS_PER_CALL}")
    assert await snapshot(deps, sched, job_id) == before


async def test_exactly_1000_ids_in_check_jobs_are_accepted(client: TestClient, rpc: Rpc, job_id: str) -> None:
    status, body = rpc(client, "check_jobs", [{"job_ids": [job_id] * MAX_JOB_IDS_PER_CALL}], ALICE_TOKEN)

    assert status == 200, body
    assert len(body["result"][0]["job_states"]) == MAX_JOB_IDS_PER_CALL


# ---------------------------------------------------------------- helpers


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _with_job_id(params: list[Any], job_id: str) -> list[Any]:
    """Put the real job id where a parameter list says "JOB"."""
    return [
        {k: (job_id if v == "JOB" else v) for k, v in p.items()} if isinstance(p, dict) else p for p in params
    ]
