"""The file-backed twin of the workspace: permission letters per user from a JSON file, public
workspaces, writable and readable lists, edits seen without a restart, malformed files refused at startup."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ee_retry.adapters.kbase.static import FileWorkspace
from ee_retry.domain.values import Permission, User
from ee_retry.testing.clock import FakeClock
from tests.adapters.kbase.conftest import RECHECK_S, refused_at_startup, write


def user(name: str) -> User:
    return User(name=name, token=f"{name}-token")


@pytest.fixture
def ws_file(tmp_path: Path) -> Path:
    return write(
        tmp_path / "workspaces.json",
        {"workspaces": {"1": {"alice": "a", "bob": "r"}, "2": {"bob": "w", "*": "r"}, "3": {"carol": "n"}}},
    )


async def test_a_listed_user_gets_their_letter(ws_file: Path) -> None:
    perms = await FileWorkspace(ws_file).permissions(user("alice"), [1])
    assert perms == {1: Permission.ADMIN}
    assert (await FileWorkspace(ws_file).permissions(user("bob"), [1])) == {1: Permission.READ}


async def test_a_user_not_listed_gets_no_access(ws_file: Path) -> None:
    perms = await FileWorkspace(ws_file).permissions(user("carol"), [1, 3])
    assert perms == {1: Permission.NONE, 3: Permission.NONE}


async def test_a_public_workspace_gives_read_to_those_not_listed_and_more_to_those_listed(
    ws_file: Path,
) -> None:
    ws = FileWorkspace(ws_file)
    assert await ws.permissions(user("alice"), [2]) == {2: Permission.READ}
    assert await ws.permissions(user("bob"), [2]) == {2: Permission.WRITE}


async def test_an_unknown_workspace_gives_no_access(ws_file: Path) -> None:
    assert await FileWorkspace(ws_file).permissions(user("alice"), [42]) == {42: Permission.NONE}


async def test_an_edited_workspace_file_takes_effect_without_a_restart(ws_file: Path) -> None:
    clock = FakeClock()
    ws = FileWorkspace(ws_file, clock.now)
    assert await ws.permissions(user("carol"), [1]) == {1: Permission.NONE}
    write(ws_file, {"workspaces": {"1": {"carol": "w"}}})
    clock.advance(RECHECK_S)
    assert await ws.permissions(user("carol"), [1]) == {1: Permission.WRITE}


async def test_writable_workspaces_are_those_where_the_user_has_a_or_w(ws_file: Path) -> None:
    ws = FileWorkspace(ws_file)
    assert await ws.writable_workspaces(user("alice")) == [1]
    assert await ws.writable_workspaces(user("bob")) == [2]
    assert await ws.writable_workspaces(user("carol")) == []


async def test_readable_workspaces_are_those_shared_with_the_user_not_public_ones(ws_file: Path) -> None:
    write(
        ws_file,
        {"workspaces": {"5": {"carol": "r"}, "4": {"carol": "a"}, "6": {"*": "r"}, "7": {"carol": "n"}}},
    )
    ws = FileWorkspace(ws_file)
    assert await ws.readable_workspaces(user("carol")) == [4, 5]


async def test_writable_workspaces_follow_an_edited_file(ws_file: Path) -> None:
    clock = FakeClock()
    ws = FileWorkspace(ws_file, clock.now)
    write(ws_file, {"workspaces": {"5": {"carol": "w"}, "4": {"carol": "a"}, "6": {"carol": "r"}}})
    clock.advance(RECHECK_S)
    assert await ws.writable_workspaces(user("carol")) == [4, 5]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ({"workspace": {}}, '"workspaces"'),
        ({"workspaces": {"one": {"alice": "a"}}}, "positive integers"),
        ({"workspaces": {"0": {"alice": "a"}}}, "positive integers"),
        ({"workspaces": {"1": ["alice"]}}, "expected an object"),
        ({"workspaces": {"1": {"alice": "admin"}}}, "one of a, w, r, n"),
        ({"workspaces": {"1": {"alice": ["a"]}}}, "one of a, w, r, n"),
    ],
)
def test_a_malformed_workspace_file_fails_at_startup_naming_file_and_problem(
    tmp_path: Path, content: Any, problem: str
) -> None:
    assert problem in refused_at_startup(FileWorkspace, write(tmp_path / "workspaces.json", content))
