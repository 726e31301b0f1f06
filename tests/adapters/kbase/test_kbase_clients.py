"""The KBase auth, workspace and catalog clients, against the fake services over ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx2
import pytest
from starlette.applications import Starlette

from ee_retry import constants
from ee_retry.adapters.kbase import KBaseAuth, KBaseCatalog, KBaseWorkspace
from ee_retry.adapters.kbase.http import KBaseClient
from ee_retry.domain.model import JobRequirements
from ee_retry.domain.values import Permission, User
from ee_retry.errors import AuthenticationError, DependencyUnavailable, EERetryError, UnknownModule
from ee_retry.testing.clock import FakeClock
from ee_retry.testing.kbase import fake_auth2_app, fake_catalog_app, fake_state, fake_workspace_app

SECRET = "SECRETTOKEN0123456789ABCDEFGHIJK"
TOKENS = {
    SECRET: ("alice", ()),
    "admin-token": ("ee2admin", ("EE2_ADMIN", "DEV_TOKEN_CREATOR")),
}
PERMS = {
    1: {"alice": "a", "bob": "r"},
    2: {"bob": "a"},
    3: {"carol": "w", "*": "r"},
}
RELEASE = "52ea58866b80a931944b028dd66b9b3a906be270"
BETA = "b2051874499e4ce56f1ade1c35cdd488b35b21b5"
MODULES = {
    "Demo": {
        "versions": [
            {"git_commit_hash": RELEASE, "tags": ["release"], "version": "1.0.0"},
            {"git_commit_hash": BETA, "tags": ["beta", "dev"], "version": "1.1.0"},
        ],
        "client_groups": {
            "assemble": ["bigmem,request_cpus=8,request_memory=64000M,request_disk=100GB"],
            "upload": ['{"client_group": "kb_upload"', '"request_cpus": "2"}'],
            "broken": ["njs,request_cpus"],
        },
    }
}
Client = TypeVar("Client", bound=KBaseClient)
ALICE = User(name="alice", token=SECRET)
BOB = User(name="bob", token="bob-token")
CAROL = User(name="carol", token="carol-token")
WS_USERS = {SECRET: "alice", "bob-token": "bob", "carol-token": "carol"}  # the fake Workspace's logins


@asynccontextmanager
async def connected(
    kind: type[Client], url: str, to: Starlette | httpx2.AsyncBaseTransport, clock: FakeClock | None = None
) -> AsyncIterator[Client]:
    """A client of `kind` whose requests go to a fake service's app (or through a transport); closed
    when the block ends."""
    transport = httpx2.ASGITransport(to) if isinstance(to, Starlette) else to
    client = kind(url, transport=transport, clock=clock)
    try:
        yield client
    finally:
        await client.close()


def refusing_transport() -> httpx2.MockTransport:
    """A transport whose every request fails to connect."""

    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("connection refused", request=request)

    return httpx2.MockTransport(refuse)


def assert_token_hidden(exc: BaseException) -> None:
    """Neither the error nor its cause mentions the secret token."""
    for err in (exc, exc.__cause__):
        if err is not None:
            assert SECRET not in str(err)
            assert SECRET not in repr(err)
    if isinstance(exc, EERetryError):
        assert SECRET not in exc.message


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_700_000_000.0)


@pytest.fixture
def auth_app() -> Starlette:
    return fake_auth2_app(TOKENS)


@pytest.fixture
async def auth(auth_app: Starlette, clock: FakeClock) -> AsyncIterator[KBaseAuth]:
    async with connected(KBaseAuth, "http://auth.test/services/auth/", auth_app, clock) as client:
        yield client


@pytest.fixture
def ws_app() -> Starlette:
    return fake_workspace_app(PERMS, deleted=[4], users=WS_USERS)


@pytest.fixture
async def workspace(ws_app: Starlette, clock: FakeClock) -> AsyncIterator[KBaseWorkspace]:
    async with connected(KBaseWorkspace, "http://ws.test/services/ws", ws_app, clock) as client:
        yield client


@pytest.fixture
def catalog_app() -> Starlette:
    return fake_catalog_app(MODULES)


@pytest.fixture
async def catalog(catalog_app: Starlette, clock: FakeClock) -> AsyncIterator[KBaseCatalog]:
    async with connected(KBaseCatalog, "http://catalog.test/services/catalog", catalog_app, clock) as client:
        yield client


def calls(app: Starlette, method: str) -> int:
    return fake_state(app).calls[method]


# ---------------------------------------------------------------- auth


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


# ---------------------------------------------------------------- workspace


async def test_each_workspace_gets_the_callers_own_permission(workspace: KBaseWorkspace) -> None:
    assert await workspace.permissions(ALICE, [1, 2]) == {1: Permission.ADMIN, 2: Permission.NONE}
    bob = User(name="bob", token="bob-token")
    assert await workspace.permissions(bob, [1, 2]) == {1: Permission.READ, 2: Permission.ADMIN}


async def test_a_public_workspace_grants_read_to_anyone_not_listed(workspace: KBaseWorkspace) -> None:
    assert await workspace.permissions(ALICE, [3]) == {3: Permission.READ}
    carol = User(name="carol", token="carol-token")
    assert await workspace.permissions(carol, [3]) == {3: Permission.WRITE}


async def test_many_workspaces_are_asked_about_in_one_call(
    workspace: KBaseWorkspace, ws_app: Starlette
) -> None:
    await workspace.permissions(ALICE, [1, 2, 3, 2])
    assert calls(ws_app, "Workspace.get_permissions_mass") == 1
    assert fake_state(ws_app).params == [[{"workspaces": [{"id": 1}, {"id": 2}, {"id": 3}]}]]


async def test_the_callers_token_goes_to_the_workspace(workspace: KBaseWorkspace, ws_app: Starlette) -> None:
    await workspace.permissions(ALICE, [1])
    assert fake_state(ws_app).authorizations == [SECRET]


async def test_only_uncached_workspaces_are_asked_about(workspace: KBaseWorkspace, ws_app: Starlette) -> None:
    await workspace.permissions(ALICE, [1])
    result = await workspace.permissions(ALICE, [1, 2])
    assert result == {1: Permission.ADMIN, 2: Permission.NONE}
    assert fake_state(ws_app).params[-1] == [{"workspaces": [{"id": 2}]}]


async def test_cached_permissions_are_per_user(workspace: KBaseWorkspace, ws_app: Starlette) -> None:
    await workspace.permissions(ALICE, [1])
    bob = User(name="bob", token="bob-token")
    assert await workspace.permissions(bob, [1]) == {1: Permission.READ}
    assert calls(ws_app, "Workspace.get_permissions_mass") == 2


async def test_permissions_are_asked_again_once_the_cache_expires(
    workspace: KBaseWorkspace, ws_app: Starlette, clock: FakeClock
) -> None:
    await workspace.permissions(ALICE, [1])
    clock.advance(constants.WORKSPACE_CACHE_TTL_S - 1)
    await workspace.permissions(ALICE, [1])
    assert calls(ws_app, "Workspace.get_permissions_mass") == 1
    clock.advance(2)
    await workspace.permissions(ALICE, [1])
    assert calls(ws_app, "Workspace.get_permissions_mass") == 2


async def test_no_workspaces_means_no_call(workspace: KBaseWorkspace, ws_app: Starlette) -> None:
    assert await workspace.permissions(ALICE, []) == {}
    assert calls(ws_app, "Workspace.get_permissions_mass") == 0


async def test_an_unknown_workspace_gives_no_access(workspace: KBaseWorkspace) -> None:
    assert await workspace.permissions(ALICE, [99]) == {99: Permission.NONE}


async def test_a_deleted_workspace_gives_no_access_without_hiding_the_others(
    workspace: KBaseWorkspace,
) -> None:
    result = await workspace.permissions(ALICE, [4, 1, 3])
    assert result == {4: Permission.NONE, 1: Permission.ADMIN, 3: Permission.READ}


async def test_a_workspace_outage_is_a_dependency_error(workspace: KBaseWorkspace, ws_app: Starlette) -> None:
    fake_state(ws_app).fail_status = 502
    with pytest.raises(DependencyUnavailable):
        await workspace.permissions(ALICE, [1])
    with pytest.raises(DependencyUnavailable):
        await workspace.writable_workspaces(ALICE)


async def test_a_workspace_error_about_something_else_is_a_dependency_error(clock: FakeClock) -> None:
    wrong_service = fake_catalog_app(MODULES)
    async with connected(KBaseWorkspace, "http://ws.test/", wrong_service, clock) as client:
        with pytest.raises(DependencyUnavailable) as caught:
            await client.permissions(ALICE, [1])
    assert_token_hidden(caught.value)


async def test_writable_workspaces_are_listed_for_the_caller_with_their_token(
    workspace: KBaseWorkspace, ws_app: Starlette
) -> None:
    """Asked as list_workspace_ids with minimum permission 'w', world-readable ones excluded."""
    assert await workspace.writable_workspaces(ALICE) == [1]
    assert calls(ws_app, "Workspace.list_workspace_ids") == 1
    assert fake_state(ws_app).params == [[{"perm": "w", "excludeGlobal": 1}]]
    assert fake_state(ws_app).authorizations == [SECRET]


async def test_readable_workspaces_are_listed_with_minimum_permission_r(
    workspace: KBaseWorkspace, ws_app: Starlette
) -> None:
    assert await workspace.readable_workspaces(BOB) == [1, 2]  # 'r' on 1, 'a' on 2
    assert fake_state(ws_app).params == [[{"perm": "r", "excludeGlobal": 1}]]
    assert await workspace.readable_workspaces(BOB) == [1, 2]
    assert calls(ws_app, "Workspace.list_workspace_ids") == 1


async def test_writable_workspaces_include_admin_and_write_but_not_read_or_public(
    workspace: KBaseWorkspace,
) -> None:
    assert await workspace.writable_workspaces(BOB) == [2]  # 'r' on 1, 'a' on 2
    assert await workspace.writable_workspaces(CAROL) == [3]  # 'w' on 3


async def test_writable_workspaces_are_cached_per_user_until_the_cache_expires(
    workspace: KBaseWorkspace, ws_app: Starlette, clock: FakeClock
) -> None:
    await workspace.writable_workspaces(ALICE)
    clock.advance(constants.WORKSPACE_CACHE_TTL_S - 1)
    assert await workspace.writable_workspaces(ALICE) == [1]
    assert calls(ws_app, "Workspace.list_workspace_ids") == 1
    assert await workspace.writable_workspaces(BOB) == [2]
    assert calls(ws_app, "Workspace.list_workspace_ids") == 2
    clock.advance(2)
    await workspace.writable_workspaces(ALICE)
    assert calls(ws_app, "Workspace.list_workspace_ids") == 3


@pytest.mark.parametrize(
    "result",
    [[], [None], [{"pub": []}], [{"workspaces": "1"}], [{"workspaces": ["1"]}], [{"workspaces": [True]}]],
    ids=["empty", "null", "no-workspaces", "not-a-list", "string-id", "bool-id"],
)
async def test_an_unusable_workspace_list_is_a_dependency_error(result: list[Any], clock: FakeClock) -> None:
    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json={"version": "1.1", "id": "1", "result": result})

    async with connected(KBaseWorkspace, "http://ws.test/", httpx2.MockTransport(answer), clock) as client:
        with pytest.raises(DependencyUnavailable):
            await client.writable_workspaces(ALICE)


# ---------------------------------------------------------------- catalog


async def test_no_version_means_the_release_commit(catalog: KBaseCatalog) -> None:
    resolved = await catalog.resolve("Demo", None)
    assert resolved.git_commit_hash == RELEASE
    assert resolved.module == "Demo"


@pytest.mark.parametrize(
    ("version", "commit"),
    [("release", RELEASE), ("beta", BETA), ("dev", BETA), (BETA, BETA), ("1.0.0", RELEASE)],
)
async def test_a_tag_commit_or_semantic_version_resolves_to_its_commit(
    catalog: KBaseCatalog, version: str, commit: str
) -> None:
    assert (await catalog.resolve("Demo", version)).git_commit_hash == commit


async def test_module_names_ignore_case_and_come_back_as_registered(catalog: KBaseCatalog) -> None:
    resolved = await catalog.resolve("demo", "beta")
    assert (resolved.module, resolved.git_commit_hash) == ("Demo", BETA)


async def test_an_unknown_module_names_the_module_and_version(catalog: KBaseCatalog) -> None:
    with pytest.raises(UnknownModule, match=r"'NoSuchModule'.*'release'"):
        await catalog.resolve("NoSuchModule", None)


async def test_an_unknown_version_names_the_module_and_version(catalog: KBaseCatalog) -> None:
    with pytest.raises(UnknownModule, match=r"'Demo'.*'9\.9\.9'"):
        await catalog.resolve("Demo", "9.9.9")


async def test_a_module_name_the_catalog_could_not_hold_is_refused_without_a_call(
    catalog: KBaseCatalog, catalog_app: Starlette
) -> None:
    with pytest.raises(UnknownModule):
        await catalog.resolve("../etc", None)
    assert sum(fake_state(catalog_app).calls.values()) == 0


async def test_resolved_versions_are_cached_until_the_ttl(
    catalog: KBaseCatalog, catalog_app: Starlette, clock: FakeClock
) -> None:
    await catalog.resolve("Demo", None)
    await catalog.resolve("Demo", "release")
    assert calls(catalog_app, "Catalog.get_module_version") == 1
    clock.advance(constants.CATALOG_CACHE_TTL_S + 1)
    await catalog.resolve("Demo", None)
    assert calls(catalog_app, "Catalog.get_module_version") == 2


async def test_an_unknown_version_is_not_cached(catalog: KBaseCatalog, catalog_app: Starlette) -> None:
    for _ in range(2):
        with pytest.raises(UnknownModule):
            await catalog.resolve("Demo", "9.9.9")
    assert calls(catalog_app, "Catalog.get_module_version") == 2


async def test_requirements_come_from_the_functions_client_group_config(catalog: KBaseCatalog) -> None:
    resolved = await catalog.resolve("Demo", None, function="assemble")
    assert resolved.requirements == JobRequirements(
        cpus=8, memory_mb=64_000, disk_gb=100, client_group="bigmem"
    )


async def test_requirements_in_json_form_are_read_too(catalog: KBaseCatalog) -> None:
    resolved = await catalog.resolve("Demo", None, function="upload")
    assert resolved.requirements == JobRequirements(cpus=2, client_group="kb_upload")


async def test_a_function_without_a_config_gets_the_default_requirements(catalog: KBaseCatalog) -> None:
    assert (await catalog.resolve("Demo", None, function="plain")).requirements == JobRequirements()


async def test_without_a_function_name_the_defaults_apply_and_no_config_is_fetched(
    catalog: KBaseCatalog, catalog_app: Starlette
) -> None:
    assert (await catalog.resolve("Demo", None)).requirements == JobRequirements()
    assert calls(catalog_app, "Catalog.list_client_group_configs") == 0


async def test_client_group_configs_are_cached(catalog: KBaseCatalog, catalog_app: Starlette) -> None:
    await catalog.resolve("Demo", None, function="assemble")
    await catalog.resolve("Demo", "beta", function="assemble")
    assert calls(catalog_app, "Catalog.list_client_group_configs") == 1


async def test_a_malformed_client_group_config_is_a_dependency_error_naming_it(catalog: KBaseCatalog) -> None:
    with pytest.raises(DependencyUnavailable, match=r"Demo\.broken"):
        await catalog.resolve("Demo", None, function="broken")


async def test_a_catalog_outage_is_a_dependency_error(catalog: KBaseCatalog, catalog_app: Starlette) -> None:
    fake_state(catalog_app).fail_status = 500
    with pytest.raises(DependencyUnavailable):
        await catalog.resolve("Demo", None)


# ---------------------------------------------------------------- unreachable services, token hygiene


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
