"""Every KBase client facing an unreachable service or one answering garbage: a dependency error that
never shows the token; nor does a rejected token's error."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from ee_retry.adapters.kbase import KBaseAuth, KBaseCatalog, KBaseWorkspace
from ee_retry.errors import AuthenticationError, DependencyUnavailable
from tests.adapters.kbase.conftest import ALICE, SECRET, assert_token_hidden, connected


def refusing_transport() -> httpx2.MockTransport:
    """A transport whose every request fails to connect."""

    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("connection refused", request=request)

    return httpx2.MockTransport(refuse)


async def _auth_call(transport: httpx2.AsyncBaseTransport) -> None:
    async with connected(KBaseAuth, "http://auth.test", transport) as client:
        await client.user_for_token(SECRET)


async def _workspace_call(transport: httpx2.AsyncBaseTransport) -> None:
    async with connected(KBaseWorkspace, "http://ws.test", transport) as client:
        await client.permissions(ALICE, [1])


async def _catalog_call(transport: httpx2.AsyncBaseTransport) -> None:
    async with connected(KBaseCatalog, "http://catalog.test", transport) as client:
        await client.resolve("Demo", None, function="assemble")


@pytest.mark.parametrize("call", [_auth_call, _workspace_call, _catalog_call])
async def test_an_unreachable_service_is_a_dependency_error_that_hides_the_token(call: Any) -> None:
    with pytest.raises(DependencyUnavailable) as caught:
        await call(refusing_transport())
    assert_token_hidden(caught.value)


async def test_a_service_answering_garbage_is_a_dependency_error() -> None:
    transport = httpx2.MockTransport(lambda request: httpx2.Response(200, text="<html>proxy</html>"))
    for call in (_auth_call, _workspace_call, _catalog_call):
        with pytest.raises(DependencyUnavailable) as caught:
            await call(transport)
        assert_token_hidden(caught.value)


async def test_a_rejected_token_is_never_echoed(auth: KBaseAuth) -> None:
    with pytest.raises(AuthenticationError) as caught:
        await auth.user_for_token(SECRET + "X")
    assert SECRET not in str(caught.value)
    assert SECRET not in caught.value.message
