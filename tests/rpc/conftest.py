"""Short wire calls for the ee2 method tests: the `Api` wrapper (the `api` fixture, over the `client`
and `rpc` fixtures), result and error readers, and demo values; and for the conformance tests, KBase's
generated-style client (the `ee2` fixture for any token, `alice` and `admin`), `raises` and a demo job."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from ee_retry.testing.harness import ADMIN_TOKEN, ALICE_TOKEN
from tests.kbase_client import EE2Client, ServerError

Rpc = Callable[..., tuple[int, Any]]
Clients = Callable[[str | None], EE2Client]

RELEASE_COMMIT = "52ea58866b80a931944b028dd66b9b3a906be270"  # Demo's "release" in the demo catalog
BETA_COMMIT = "b2051874499e4ce56f1ade1c35cdd488b35b21b5"  # Demo's "beta" and "dev"
T0_S = 1_700_000_000.0  # the clock fixture's start
T0_MS = 1_700_000_000_000
JOB = {"method": "Demo.succeed", "params": [{"x": 1}], "wsid": 1}


def ok(answer: tuple[int, Any]) -> Any:
    """The result of a call that must succeed."""
    status, body = answer
    assert status == 200, body
    assert body["version"] == "1.1"
    return body["result"][0]


def failed(answer: tuple[int, Any], code: int) -> str:
    """The message of a call that must fail with `code`."""
    status, body = answer
    assert status == 500, body
    assert body["error"]["code"] == code, body["error"]
    message: str = body["error"]["message"]
    return message


class Api:
    """Short calls for the tests below."""

    def __init__(self, client: TestClient, rpc: Rpc) -> None:
        self.client = client
        self.rpc = rpc

    def call(self, method: str, params: Any, token: str | None = ALICE_TOKEN) -> tuple[int, Any]:
        answer: tuple[int, Any] = self.rpc(self.client, method, params, token)
        return answer

    def run(self, token: str = ALICE_TOKEN, **fields: Any) -> str:
        job: str = ok(self.call("run_job", [{"method": "Demo.succeed", "wsid": 1, **fields}], token))
        return job

    def state(self, job_id: str, token: str = ALICE_TOKEN) -> dict[str, Any]:
        found: dict[str, Any] = ok(self.call("check_job", [{"job_id": job_id}], token))
        return found

    def batch(self, n: int = 2) -> dict[str, Any]:
        jobs = [{"method": "Demo.succeed", "params": [{"i": i}]} for i in range(n)]
        answer: dict[str, Any] = ok(self.call("run_job_batch", [jobs, {"wsid": 1}]))
        return answer


@pytest.fixture
def api(client: TestClient, rpc: Rpc) -> Api:
    return Api(client, rpc)


@pytest.fixture
def ee2(client: TestClient) -> Clients:
    """A generated-style client for a token (None: no token)."""

    def make(token: str | None = ALICE_TOKEN) -> EE2Client:
        return EE2Client(client, token)

    return make


@pytest.fixture
def alice(ee2: Clients) -> EE2Client:
    return ee2(ALICE_TOKEN)


@pytest.fixture
def admin(ee2: Clients) -> EE2Client:
    return ee2(ADMIN_TOKEN)


def raises(code: int, call: Callable[[], object]) -> ServerError:
    with pytest.raises(ServerError) as caught:
        call()
    assert caught.value.code == code, caught.value.message
    return caught.value
