"""The KBase Workspace client against the fake Workspace over ASGI: the caller's permission per
workspace, the writable and readable workspace lists, their caches, and outages and bad answers."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette

from ee_retry import constants
from ee_retry.adapters.kbase import KBaseWorkspace
from ee_retry.domain.values import Permission, User
from ee_retry.errors import DependencyUnavailable
from ee_retry.testing.clock import FakeClock
from ee_retry.testing.kbase import fake_catalog_app, fake_state, fake_workspace_app
from tests.adapters.kbase.conftest import (
    ALICE,
    MODULES,
    SECRET,
    Connect,
    assert_token_hidden,
    calls,
    connected,
)

PERMS = {
    1: {"alice": "a", "bob": "r"},
    2: {"bob": "a"},
    3: {"carol": "w", "*": "r"},
}

BOB = User(name="bob", token="bob-token")
CAROL = User(name="carol", token="carol-token")
WS_USERS = {SECRET: "alice", "bob-token": "bob", "carol-token": "carol"}  # the fake Workspace's logins


@pytest.fixture
def ws_app() -> Starlette:
    return fake_workspace_app(PERMS, deleted=[4], users=WS_USERS)


@pytest.fixture
async def workspace(ws_app: Starlette, connect: Connect) -> KBaseWorkspace:
    return await connect(KBaseWorkspace, "http://ws.test/services/ws", ws_app)


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
