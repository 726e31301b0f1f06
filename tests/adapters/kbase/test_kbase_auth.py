"""The KBase Auth client against the fake Auth service over ASGI: users and roles from a token, tokens
refused without a call, the token cache and its TTL, and outages."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette

from ee_retry import constants
from ee_retry.adapters.kbase import KBaseAuth
from ee_retry.errors import AuthenticationError, DependencyUnavailable
from ee_retry.testing.clock import FakeClock
from ee_retry.testing.kbase import fake_state
from tests.adapters.kbase.conftest import SECRET, calls


async def test_a_valid_token_yields_its_user(auth: KBaseAuth) -> None:
    user = await auth.user_for_token(SECRET)
    assert user.name == "alice"
    assert user.roles == frozenset()
    assert user.token == SECRET


async def test_custom_roles_become_the_users_roles(auth: KBaseAuth) -> None:
    user = await auth.user_for_token("admin-token")
    assert user.roles == {"EE2_ADMIN", "DEV_TOKEN_CREATOR"}
    assert user.is_admin


async def test_the_token_is_sent_as_is_in_the_authorization_header(
    auth: KBaseAuth, auth_app: Starlette
) -> None:
    await auth.user_for_token(SECRET)
    assert fake_state(auth_app).authorizations == [SECRET]


async def test_an_unknown_token_is_rejected_as_invalid_or_expired(auth: KBaseAuth) -> None:
    with pytest.raises(AuthenticationError, match="invalid or expired") as caught:
        await auth.user_for_token(SECRET[::-1])
    assert SECRET[::-1] not in str(caught.value)


async def test_an_empty_token_is_rejected_without_asking_auth(auth: KBaseAuth, auth_app: Starlette) -> None:
    with pytest.raises(AuthenticationError):
        await auth.user_for_token("")
    assert calls(auth_app, "me") == 0


async def test_a_token_that_cannot_be_a_header_is_rejected_without_asking_auth(
    auth: KBaseAuth, auth_app: Starlette
) -> None:
    with pytest.raises(AuthenticationError):
        await auth.user_for_token("abc\r\nX-Injected: 1")
    assert calls(auth_app, "me") == 0


async def test_a_token_seen_within_the_ttl_is_not_checked_again(
    auth: KBaseAuth, auth_app: Starlette, clock: FakeClock
) -> None:
    await auth.user_for_token(SECRET)
    clock.advance(constants.AUTH_CACHE_TTL_S - 1)
    user = await auth.user_for_token(SECRET)
    assert user.name == "alice"
    assert calls(auth_app, "me") == 1


async def test_a_token_is_checked_again_once_its_cache_entry_expires(
    auth: KBaseAuth, auth_app: Starlette, clock: FakeClock
) -> None:
    await auth.user_for_token(SECRET)
    clock.advance(constants.AUTH_CACHE_TTL_S + 1)
    await auth.user_for_token(SECRET)
    assert calls(auth_app, "me") == 2


async def test_a_rejected_token_is_not_cached(auth: KBaseAuth, auth_app: Starlette) -> None:
    for _ in range(2):
        with pytest.raises(AuthenticationError):
            await auth.user_for_token("not-a-token")
    assert calls(auth_app, "me") == 2


async def test_an_auth_outage_is_a_dependency_error_and_is_not_cached(
    auth: KBaseAuth, auth_app: Starlette
) -> None:
    fake_state(auth_app).fail_status = 503
    with pytest.raises(DependencyUnavailable):
        await auth.user_for_token(SECRET)
    fake_state(auth_app).fail_status = None
    assert (await auth.user_for_token(SECRET)).name == "alice"


async def test_the_auth_cache_holds_no_raw_token(auth: KBaseAuth) -> None:
    """A dump of the client's memory (its cache) does not reveal tokens."""
    await auth.user_for_token(SECRET)
    assert SECRET not in repr(vars(auth)) + repr(vars(auth._cache))
