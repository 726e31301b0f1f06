"""The JSON-RPC framing KBase clients rely on: 1.1 and 2.0 success and error shapes, and errors that
never carry a traceback, a server path or a token."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from starlette.testclient import TestClient

from ee_retry.app import create_app
from ee_retry.domain.model import Job
from ee_retry.errors import InternalError
from ee_retry.ports import JobStore
from ee_retry.testing.clock import FakeClock
from ee_retry.testing.harness import ALICE_TOKEN, service_deps
from ee_retry.testing.scheduler import FakeScheduler

Rpc = Callable[..., tuple[int, Any]]

SECRET_PATH = "/secret/path/ee_retry/adapters/store/sqlite.py"
SOME_JOB_ID = "0123456789abcdef01234567"


def run_demo_job(client: TestClient, rpc: Rpc) -> str:
    status, body = rpc(client, "run_job", [{"method": "Demo.succeed", "wsid": 1}], ALICE_TOKEN)
    assert status == 200, body
    job_id: str = body["result"][0]
    return job_id


def test_a_11_call_is_answered_with_http_200_version_11_its_id_and_a_result_list(
    client: TestClient, rpc: Rpc
) -> None:
    status, body = rpc(client, "ver", [], None, id="call-42")

    assert status == 200
    assert body["version"] == "1.1"
    assert body["id"] == "call-42"
    assert isinstance(body["result"], list)
    assert len(body["result"]) == 1
    assert "error" not in body


def test_a_numeric_id_is_echoed_unchanged(client: TestClient, rpc: Rpc) -> None:
    _, body = rpc(client, "ver", [], None, id=7)

    assert body["id"] == 7


def test_a_20_call_is_answered_in_20_form(client: TestClient, rpc: Rpc) -> None:
    job_id = run_demo_job(client, rpc)

    status, body = rpc(client, "check_job", [{"job_id": job_id}], ALICE_TOKEN, version="2.0", id=3)

    assert status == 200
    assert body["jsonrpc"] == "2.0"
    assert "version" not in body
    assert body["id"] == 3
    assert body["result"][0]["job_id"] == job_id


def test_a_20_error_is_answered_in_20_form_with_code_and_message(client: TestClient, rpc: Rpc) -> None:
    status, body = rpc(client, "no_such_method", [], ALICE_TOKEN, version="2.0", id=4)

    assert status == 500
    assert body["jsonrpc"] == "2.0"
    assert body["id"] == 4
    assert body["error"]["code"] == -32601
    assert "no_such_method" in body["error"]["message"]


def test_params_sent_as_one_object_are_read_as_the_params_list(client: TestClient, rpc: Rpc) -> None:
    job_id = run_demo_job(client, rpc)

    status, body = rpc(client, "check_job", {"job_id": job_id}, ALICE_TOKEN, version="2.0")

    assert status == 200, body
    assert body["result"][0]["job_id"] == job_id


def test_an_error_is_http_500_json_with_name_code_message_and_error(client: TestClient, rpc: Rpc) -> None:
    response = client.post(
        "/",
        json={"version": "1.1", "method": "execution_engine2.check_job", "params": [{}], "id": "e1"},
        headers={"Authorization": ALICE_TOKEN},
    )

    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["version"] == "1.1"
    assert body["id"] == "e1"
    assert "result" not in body
    error = body["error"]
    assert set(error) == {"name", "code", "message", "error"}
    assert isinstance(error["name"], str)
    assert isinstance(error["code"], int)
    assert isinstance(error["message"], str)
    assert isinstance(error["error"], str)
    assert error["message"]


def test_an_error_before_the_id_could_be_read_has_a_null_id(client: TestClient) -> None:
    response = client.post("/", content=b"{not json", headers={"Authorization": ALICE_TOKEN})

    assert response.status_code == 500
    assert response.json()["id"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"jsonrpc": "2.0", "method": "execution_engine2.ver", "params": "x", "id": 7},
        {"jsonrpc": "2.0", "params": [], "id": 7},
        {"jsonrpc": "2.0", "method": 5, "params": [], "id": 7},
    ],
    ids=["params-a-string", "no-method", "method-not-a-string"],
)
def test_a_malformed_20_request_is_answered_in_20_form_with_its_id(
    client: TestClient, body: dict[str, Any]
) -> None:
    response = client.post("/", json=body, headers={"Authorization": ALICE_TOKEN})

    answer = response.json()
    assert response.status_code == 500
    assert answer["jsonrpc"] == "2.0" and "version" not in answer
    assert answer["id"] == 7
    assert answer["error"]["code"] == -32600


def test_a_malformed_11_request_keeps_its_id(client: TestClient) -> None:
    body = {"version": "1.1", "method": "execution_engine2.ver", "params": "x", "id": "1"}
    answer = client.post("/", json=body, headers={"Authorization": ALICE_TOKEN}).json()
    assert (answer["version"], answer["id"], answer["error"]["code"]) == ("1.1", "1", -32600)


def test_a_batch_of_20_requests_is_refused_in_20_form(client: TestClient) -> None:
    batch: list[dict[str, Any]] = [
        {"jsonrpc": "2.0", "method": "execution_engine2.ver", "params": [], "id": i} for i in (1, 2)
    ]
    answer = client.post("/", json=batch, headers={"Authorization": ALICE_TOKEN}).json()
    assert answer["jsonrpc"] == "2.0" and answer["id"] is None
    assert "Batch requests are not supported" in answer["error"]["message"]


class LeakyStore:
    """A job store whose job reads fail with a message full of things callers must never see."""

    def __init__(self, inner: JobStore) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def get_jobs(self, ids: Sequence[str]) -> dict[str, Job]:
        raise RuntimeError(f"{SECRET_PATH} token={ALICE_TOKEN}")

    async def get_job_docs(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        raise RuntimeError(f"{SECRET_PATH} token={ALICE_TOKEN}")


@pytest.fixture
def leaky_client(store: JobStore, sched: FakeScheduler, clock: FakeClock) -> Iterator[TestClient]:
    """A service whose store fails unexpectedly on every job read."""
    deps = service_deps(LeakyStore(store), sched, clock)
    with TestClient(create_app(deps, recover=False, poll=False)) as started:
        yield started


@pytest.mark.parametrize("version", ["1.1", "2.0"])
def test_an_unexpected_failure_is_an_internal_error_without_traceback_path_or_token(
    leaky_client: TestClient, rpc: Rpc, version: str
) -> None:
    response = leaky_client.post(
        "/",
        json={
            **({"jsonrpc": "2.0"} if version == "2.0" else {"version": "1.1"}),
            "method": "execution_engine2.check_job",
            "params": [{"job_id": SOME_JOB_ID}],
            "id": "x",
        },
        headers={"Authorization": ALICE_TOKEN},
    )

    assert response.status_code == 500
    assert response.json()["error"]["code"] == InternalError.code == -32099
    text = response.text
    for secret in (SECRET_PATH, "/secret", ".py", ALICE_TOKEN, "Traceback", "RuntimeError", "line "):
        assert secret not in text, f"{secret!r} leaked into the error answer"


def test_an_internal_error_is_named_internal_error(leaky_client: TestClient, rpc: Rpc) -> None:
    status, body = rpc(leaky_client, "check_job", [{"job_id": SOME_JOB_ID}], ALICE_TOKEN)

    assert status == 500
    assert body["error"]["name"] == "Internal error"
    assert body["error"]["error"].startswith("InternalError")


def test_a_rejected_token_is_not_repeated_in_the_error(client: TestClient, rpc: Rpc) -> None:
    token = "not-a-real-token-8d1f0c"

    status, body = rpc(client, "check_job", [{"job_id": SOME_JOB_ID}], token)

    assert status == 500
    assert body["error"]["code"] == -32001
    assert token not in str(body)
