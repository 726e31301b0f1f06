"""Who is calling: KBase auth2's `GET /api/V2/me`, with a short cache keyed by a hash of the token."""

from __future__ import annotations

from typing import Any, Unpack

import httpx2

from ee_retry import constants
from ee_retry.adapters.kbase.http import ClientOptions, KBaseClient, header_safe, unavailable
from ee_retry.adapters.kbase.ttl_cache import TTLCache
from ee_retry.adapters.kbase.values import NO_LOGIN_MESSAGE, REJECTED_LOGIN_MESSAGE, token_key
from ee_retry.domain.values import User
from ee_retry.errors import AuthenticationError
from ee_retry.ports import Auth

_SERVICE = "auth"


def _parse_me(answer: Any) -> tuple[str, frozenset[str]]:
    """User name and custom roles from a `/api/V2/me` answer; None-safe against odd payloads."""
    if not isinstance(answer, dict):
        raise unavailable(_SERVICE)
    name = answer.get("user")
    roles = answer.get("customroles") or []
    if not isinstance(name, str) or not name or not isinstance(roles, list):
        raise unavailable(_SERVICE)
    return name, frozenset(r for r in roles if isinstance(r, str))


class KBaseAuth(KBaseClient, Auth):
    """Resolves tokens to users through KBase auth2; successful answers are cached briefly."""

    service = _SERVICE
    default_cache_ttl_s = constants.AUTH_CACHE_TTL_S

    def __init__(self, base_url: str, **options: Unpack[ClientOptions]) -> None:
        super().__init__(base_url.rstrip("/") + "/api/V2/me", **options)
        self._cache: TTLCache[str, tuple[str, frozenset[str]]] = self._new_cache()

    async def user_for_token(self, token: str) -> User:
        """The user the token belongs to. Raises AuthenticationError for a missing, unknown or
        expired token, DependencyUnavailable when auth2 cannot answer."""
        if not token:
            raise AuthenticationError(NO_LOGIN_MESSAGE)
        if not header_safe(token):
            raise AuthenticationError(REJECTED_LOGIN_MESSAGE)
        key = token_key(token)
        cached = self._cache.get(key)
        if cached is None:
            cached = await self._fetch(token)
            self._cache.put(key, cached)
        name, roles = cached
        return User(name=name, roles=roles, token=token)

    async def _fetch(self, token: str) -> tuple[str, frozenset[str]]:
        try:
            response = await self._client.get(
                self._url, headers={"Authorization": token, "Accept": "application/json"}
            )
        except httpx2.HTTPError as exc:
            raise unavailable(_SERVICE) from exc
        if response.status_code in (400, 401):
            raise AuthenticationError(REJECTED_LOGIN_MESSAGE)
        if response.status_code != 200:
            raise unavailable(_SERVICE)
        try:
            answer = response.json()
        except ValueError as exc:
            raise unavailable(_SERVICE) from exc
        return _parse_me(answer)
