"""Short wire calls for the ee2 method tests: the `Api` wrapper (the `api` fixture, over the `client`
and `rpc` fixtures, and `policy_api`, the app with the example policy in force), result and error
readers, and demo values; and for the conformance tests, KBase's generated-style client (the `ee2`
fixture for any token, `alice` and `admin`), `raises` and a demo job."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

import ee_retry.demo
from ee_retry.app import create_app
from ee_retry.service.deps import Deps
from ee_retry.settings import Settings
from ee_retry.testing.harness import ADMIN_TOKEN, ALICE_TOKEN
from ee_retry.testing.scheduler import FakeScheduler
from tests.conftest import apply_synchronously
from tests.kbase_client import EE2Client, ServerError

Rpc = Callable[..., tuple[int, Any]]
Clients = Callable[[str | None], EE2Client]

RELEASE_COMMIT = "52ea58866b80a931944b028dd66b9b3a906be270"  # Demo's "release" in the demo catalog
BETA_COMMIT = "b2051874499e4ce56f1ade1c35cdd488b35b21b5"  # Demo's "beta" and "dev"
T0_S = 1_700_000_000.0  # the clock fixture's start
T0_MS = 1_700_000_000_000
JOB = {"method": "Demo.succeed", "params": [{"x": 1}], "wsid": 1}
EXAMPLE_POLICY = Path(ee_retry.demo.__file__).with_name("policy.toml")


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
def policy_api(deps: Deps, sched: FakeScheduler, rpc: Rpc) -> Iterator[Api]:
    """The app with the example policy in force (its loop not running: tests run passes)."""
    deps.settings = Settings(policy_file=EXAMPLE_POLICY)
    with TestClient(create_app(deps, recover=False, poll=False)) as client:
        apply_synchronously(deps, sched)
        yield Api(client, rpc)


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
