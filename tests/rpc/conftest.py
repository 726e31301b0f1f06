"""The `api` fixture: short ee2 method calls over the `client` and `rpc` fixtures."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.rpc.method_helpers import Api, Rpc


@pytest.fixture
def api(client: TestClient, rpc: Rpc) -> Api:
    return Api(client, rpc)
