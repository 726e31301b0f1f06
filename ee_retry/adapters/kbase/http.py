"""What the KBase clients share: their base class (one configured httpx2 client, caches, close) and
the JSON-RPC 1.1 call.

KBase's SDK services (Workspace, Catalog) speak JSON-RPC 1.1 over `POST`: the body names
`Service.method` and carries a one-element `params` list; the answer is `{"result": [...]}` with
HTTP 200, or `{"error": {"name", "code", "message", "error"}}` with HTTP 500.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any, ClassVar, TypedDict

import httpx2

from ee_retry import constants
from ee_retry.adapters.kbase.ttl_cache import TTLCache
from ee_retry.errors import DependencyUnavailable
from ee_retry.ports import Clock

_call_ids = itertools.count(1)


class RemoteError(DependencyUnavailable):
    """A KBase service answered with a JSON-RPC error object.

    The message shown to callers is generic; the service's own message is kept in `remote_message`
    for adapters to interpret and for logs.
    """

    def __init__(self, service: str, method: str, remote: Mapping[str, Any]) -> None:
        super().__init__(f"The KBase {service} service could not complete {method}; try again shortly.")
        self.service = service
        self.method = method
        self.remote_name = str(remote.get("name") or "")
        self.remote_code = remote.get("code")
        self.remote_message = str(remote.get("message") or "")


def new_client(transport: httpx2.AsyncBaseTransport | None = None) -> httpx2.AsyncClient:
    """An async HTTP client with the service's timeout; `transport` lets tests route to an ASGI app."""
    return httpx2.AsyncClient(
        transport=transport,
        timeout=httpx2.Timeout(constants.HTTP_TIMEOUT_S),
        follow_redirects=False,
    )


def header_safe(token: str) -> bool:
    """True when a token can travel in an HTTP header as is (visible ASCII, no spaces)."""
    return bool(token) and all(0x21 <= ord(ch) <= 0x7E for ch in token)


def unavailable(service: str) -> DependencyUnavailable:
    """The error for a KBase service that did not answer, or answered with something unusable."""
    return DependencyUnavailable(f"The KBase {service} service did not answer properly; try again shortly.")


async def call_jsonrpc(
    client: httpx2.AsyncClient,
    url: str,
    service: str,
    method: str,
    params: list[Any],
    token: str | None = None,
) -> list[Any]:
    """Call `method` (e.g. "Workspace.get_permissions_mass") and return its result list.

    Raises RemoteError when the service answers with a JSON-RPC error, and DependencyUnavailable
    when it cannot be reached or answers with something that is not JSON-RPC.
    """
    body = {"version": "1.1", "method": method, "params": params, "id": str(next(_call_ids))}
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = token
    try:
        response = await client.post(url, json=body, headers=headers)
    except httpx2.HTTPError as exc:
        raise unavailable(service) from exc
    try:
        answer = response.json()
    except ValueError as exc:
        raise unavailable(service) from exc
    if not isinstance(answer, dict):
        raise unavailable(service)
    error = answer.get("error")
    if isinstance(error, dict):
        raise RemoteError(service, method, error)
    result = answer.get("result")
    if response.status_code != 200 or not isinstance(result, list):
        raise unavailable(service)
    return result


class ClientOptions(TypedDict, total=False):
    """How a KBase client is built, beside its URL: `transport` routes it (tests pass an ASGI or mock
    transport), `clock` is what its caches read, `cache_ttl_s` how long they keep an answer."""

    transport: httpx2.AsyncBaseTransport | None
    clock: Clock | None
    cache_ttl_s: float


class KBaseClient:
    """One KBase service: its URL, one connection pool (closed by `close()`), caches that share one
    time to live and clock, and the JSON-RPC call. `service` names it in errors."""

    service: ClassVar[str]
    default_cache_ttl_s: ClassVar[float]

    def __init__(
        self,
        url: str,
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
        cache_ttl_s: float | None = None,
    ) -> None:
        self._url = url
        self._client = new_client(transport)
        self._now = clock.now if clock else None
        self._cache_ttl_s = self.default_cache_ttl_s if cache_ttl_s is None else cache_ttl_s

    def _new_cache(self) -> TTLCache[Any, Any]:
        """An empty cache of answers, with the client's time to live and clock."""
        return TTLCache(self._cache_ttl_s, self._now)

    async def _call(self, method: str, params: list[Any], token: str | None = None) -> list[Any]:
        """`call_jsonrpc` on this client's pool and URL."""
        return await call_jsonrpc(self._client, self._url, self.service, method, params, token)

    async def close(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.aclose()
