"""The `rest` fixture: REST calls over the `client` fixture, and the `api` JSON-RPC helper; and
`policy_rest`, REST calls to the app with the example policy in force (`policy_api`'s app)."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from ee_retry.testing.harness import ALICE_TOKEN
from tests.rpc.conftest import Api, Rpc, policy_api

__all__ = ["policy_api"]  # the fixture, shared with tests/rpc


class Rest:
    """`rest.get(path, token)` and `rest.post(path, body, token, headers)`; paths below /api/v1."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def _headers(self, token: str | None, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return {**headers, **(extra or {})}

    def get(self, path: str, token: str | None = ALICE_TOKEN, **params: Any) -> Any:
        return self.client.get(f"/api/v1{path}", params=params, headers=self._headers(token, None))

    def post(
        self,
        path: str,
        body: Any = None,
        token: str | None = ALICE_TOKEN,
        headers: dict[str, str] | None = None,
    ) -> Any:
        return self.client.post(f"/api/v1{path}", json=body, headers=self._headers(token, headers))


@pytest.fixture
def rest(client: TestClient) -> Rest:
    return Rest(client)


@pytest.fixture
def api(client: TestClient, rpc: Rpc) -> Api:
    return Api(client, rpc)


@pytest.fixture
def policy_rest(policy_api: Api) -> Rest:
    return Rest(policy_api.client)


def problem(response: Any, status: int) -> dict[str, Any]:
    """The problem body of an answer that must be `status`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail", "name", "code"} <= set(body)
    return body
