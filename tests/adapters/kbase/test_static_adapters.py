"""The file-backed twins of auth, workspace and catalog: formats, errors at startup, live reload."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ee_retry.adapters.kbase.static import FileAuth, FileCatalog, FileWorkspace
from ee_retry.domain.model import JobRequirements
from ee_retry.domain.values import Permission, User
from ee_retry.errors import AuthenticationError, UnknownModule
from ee_retry.testing.clock import FakeClock

RELEASE = "52ea58866b80a931944b028dd66b9b3a906be270"
BETA = "b2051874499e4ce56f1ade1c35cdd488b35b21b5"
OLD = "0123456789abcdef0123456789abcdef01234567"
SECRET = "alice-secret-token"
RECHECK_S = 1.0  # FILE_RECHECK_S: how long an edit may go unseen


def write(path: Path, data: Any) -> Path:
    """Write JSON (or raw text) to `path`, moving its mtime forward so a change is always visible."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    later = max(before + 1_000_000_000, path.stat().st_mtime_ns)
    os.utime(path, ns=(later, later))
    return path


def refused_at_startup(adapter: Callable[[Path], object], path: Path) -> str:
    """The message with which `adapter` refuses the file at `path` when it is built; it names the file."""
    with pytest.raises(ValueError) as caught:
        adapter(path)
    message = str(caught.value)
    assert str(path) in message
    return message


def user(name: str) -> User:
    return User(name=name, token=f"{name}-token")


def catalog_data(**module_overrides: Any) -> dict[str, Any]:
    module: dict[str, Any] = {
        "requirements": {
            "request_cpus": 4,
            "request_memory": 2048,
            "request_disk": 10,
            "client_group": "bigmem",
        },
        "versions": [
            {
                "git_commit_hash": RELEASE,
                "tags": ["release"],
                "command": ["{python}", "-m", "demo", "{python}x"],
            },
            {"git_commit_hash": BETA, "tags": ["beta", "dev"], "command": ["/bin/true"]},
            {"git_commit_hash": OLD, "tags": []},
        ],
    }
    module.update(module_overrides)
    return {"modules": {"Demo": module}}


# ---------------------------------------------------------------- tokens


@pytest.fixture
def tokens_file(tmp_path: Path) -> Path:
    return write(
        tmp_path / "tokens.json",
        {"tokens": {SECRET: {"user": "alice", "roles": []}, "adm": {"user": "root", "roles": ["EE2_ADMIN"]}}},
    )


async def test_a_listed_token_yields_its_user_and_roles(tokens_file: Path) -> None:
    auth = FileAuth(tokens_file)
    alice = await auth.user_for_token(SECRET)
    assert (alice.name, alice.roles, alice.token) == ("alice", frozenset(), SECRET)
    admin = await auth.user_for_token("adm")
    assert admin.roles == {"EE2_ADMIN"}


async def test_an_unlisted_token_is_rejected_without_being_echoed(tokens_file: Path) -> None:
    with pytest.raises(AuthenticationError, match="invalid or expired") as caught:
        await FileAuth(tokens_file).user_for_token("guess-" + SECRET)
    assert SECRET not in str(caught.value)


async def test_an_empty_token_is_rejected(tokens_file: Path) -> None:
    with pytest.raises(AuthenticationError):
        await FileAuth(tokens_file).user_for_token("")


async def test_roles_may_be_left_out(tmp_path: Path) -> None:
    auth = FileAuth(write(tmp_path / "t.json", {"tokens": {"t": {"user": "carol"}}}))
    assert (await auth.user_for_token("t")).roles == frozenset()


async def test_an_edited_tokens_file_takes_effect_without_a_restart(tokens_file: Path) -> None:
    clock = FakeClock()
    auth = FileAuth(tokens_file, clock.now)
    await auth.user_for_token(SECRET)
    write(tokens_file, {"tokens": {"new-token": {"user": "dave", "roles": []}}})
    clock.advance(RECHECK_S)
    assert (await auth.user_for_token("new-token")).name == "dave"
    with pytest.raises(AuthenticationError):
        await auth.user_for_token(SECRET)


async def test_a_token_removed_from_the_file_stops_working_once_the_recheck_interval_passes(
    tokens_file: Path,
) -> None:
    """The file is looked at once per interval, so a removal takes effect within that interval."""
    clock = FakeClock()
    auth = FileAuth(tokens_file, clock.now)
    write(tokens_file, {"tokens": {"adm": {"user": "root", "roles": ["EE2_ADMIN"]}}})
    clock.advance(RECHECK_S / 2)
    assert (await auth.user_for_token(SECRET)).name == "alice"  # not looked at again yet
    clock.advance(RECHECK_S / 2)
    with pytest.raises(AuthenticationError):
        await auth.user_for_token(SECRET)
    assert (await auth.user_for_token("adm")).name == "root"


async def test_a_token_added_to_the_file_works_once_the_recheck_interval_passes(tokens_file: Path) -> None:
    clock = FakeClock()
    auth = FileAuth(tokens_file, clock.now)
    with pytest.raises(AuthenticationError):
        await auth.user_for_token("new-token")
    write(tokens_file, {"tokens": {"new-token": {"user": "dave", "roles": []}}})
    clock.advance(RECHECK_S)
    assert (await auth.user_for_token("new-token")).name == "dave"


async def test_a_broken_edit_keeps_the_last_good_tokens_and_is_logged(
    tokens_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    auth = FileAuth(tokens_file, clock.now)
    with caplog.at_level(logging.WARNING, logger="ee_retry.adapters.kbase.static"):
        write(tokens_file, '{"tokens": {"' + SECRET + '": ')
        clock.advance(RECHECK_S)
        assert (await auth.user_for_token(SECRET)).name == "alice"
    assert str(tokens_file) in caplog.text
    assert SECRET not in caplog.text


async def test_a_file_deleted_while_running_keeps_the_last_good_tokens(tokens_file: Path) -> None:
    clock = FakeClock()
    auth = FileAuth(tokens_file, clock.now)
    tokens_file.unlink()
    clock.advance(RECHECK_S)
    assert (await auth.user_for_token(SECRET)).name == "alice"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not valid JSON"),
        ({"users": {}}, '"tokens"'),
        ({"tokens": []}, '"tokens"'),
        ({"tokens": {SECRET: "alice"}}, "entry #1"),
        ({"tokens": {SECRET: {"roles": []}}}, '"user"'),
        ({"tokens": {SECRET: {"user": "alice", "roles": "EE2_ADMIN"}}}, '"roles"'),
        ({"tokens": {" ": {"user": "alice"}}}, "empty"),
    ],
)
def test_a_malformed_tokens_file_fails_at_startup_naming_file_and_problem(
    tmp_path: Path, content: Any, problem: str
) -> None:
    message = refused_at_startup(FileAuth, write(tmp_path / "tokens.json", content))
    assert problem in message
    assert SECRET not in message


def test_a_missing_file_fails_at_startup_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"nowhere\.json.*not found"):
        FileAuth(tmp_path / "nowhere.json")


# ---------------------------------------------------------------- workspaces


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


# ---------------------------------------------------------------- catalog


@pytest.fixture
def catalog_file(tmp_path: Path) -> Path:
    return write(tmp_path / "catalog.json", catalog_data())


async def test_no_version_resolves_to_the_version_tagged_release(catalog_file: Path) -> None:
    resolved = await FileCatalog(catalog_file).resolve("Demo", None)
    assert (resolved.module, resolved.git_commit_hash) == ("Demo", RELEASE)


@pytest.mark.parametrize(
    ("version", "commit"),
    [("release", RELEASE), ("beta", BETA), ("dev", BETA), (OLD, OLD), (BETA.upper(), BETA)],
)
async def test_a_tag_or_commit_resolves_to_that_version(
    catalog_file: Path, version: str, commit: str
) -> None:
    assert (await FileCatalog(catalog_file).resolve("Demo", version)).git_commit_hash == commit


async def test_module_names_ignore_case(catalog_file: Path) -> None:
    assert (await FileCatalog(catalog_file).resolve("demo", None)).module == "Demo"


@pytest.mark.parametrize("version", ["nightly", "1.0.0", RELEASE[:12], "f" * 40])
async def test_an_unknown_version_is_refused_naming_module_and_version(
    catalog_file: Path, version: str
) -> None:
    with pytest.raises(UnknownModule) as caught:
        await FileCatalog(catalog_file).resolve("Demo", version)
    assert "Demo" in caught.value.message
    assert version in caught.value.message


async def test_an_unknown_module_is_refused_naming_it(catalog_file: Path) -> None:
    with pytest.raises(UnknownModule, match="Other"):
        await FileCatalog(catalog_file).resolve("Other", None)


async def test_a_module_without_a_release_refuses_the_default_version(tmp_path: Path) -> None:
    path = write(tmp_path / "c.json", catalog_data(versions=[{"git_commit_hash": BETA, "tags": ["beta"]}]))
    with pytest.raises(UnknownModule, match="release"):
        await FileCatalog(path).resolve("Demo", None)


async def test_the_python_placeholder_becomes_the_services_interpreter(catalog_file: Path) -> None:
    resolved = await FileCatalog(catalog_file).resolve("Demo", None)
    assert resolved.command == (sys.executable, "-m", "demo", "{python}x")


async def test_a_version_without_a_command_has_none(catalog_file: Path) -> None:
    assert (await FileCatalog(catalog_file).resolve("Demo", OLD)).command == ()


async def test_catalog_requirements_become_job_requirements(catalog_file: Path) -> None:
    resolved = await FileCatalog(catalog_file).resolve("Demo", "beta", function="anything")
    assert resolved.requirements == JobRequirements(cpus=4, memory_mb=2048, disk_gb=10, client_group="bigmem")


async def test_missing_requirements_take_the_defaults(tmp_path: Path) -> None:
    data = catalog_data()
    del data["modules"]["Demo"]["requirements"]
    resolved = await FileCatalog(write(tmp_path / "c.json", data)).resolve("Demo", None)
    assert resolved.requirements == JobRequirements()


async def test_an_edited_catalog_takes_effect_without_a_restart(catalog_file: Path) -> None:
    clock = FakeClock()
    catalog = FileCatalog(catalog_file, clock.now)
    assert (await catalog.resolve("Demo", None)).git_commit_hash == RELEASE
    write(catalog_file, catalog_data(versions=[{"git_commit_hash": OLD, "tags": ["release"]}]))
    clock.advance(RECHECK_S)
    assert (await catalog.resolve("Demo", None)).git_commit_hash == OLD


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"versions": []}, "versions must be a non-empty list"),
        ({"versions": [{"git_commit_hash": "abc123", "tags": ["release"]}]}, "40 hexadecimal"),
        ({"versions": [{"git_commit_hash": RELEASE, "tags": "release"}]}, "tags"),
        ({"versions": [{"git_commit_hash": RELEASE, "command": "python -m x"}]}, "command"),
        (
            {
                "versions": [
                    {"git_commit_hash": RELEASE, "tags": ["release"]},
                    {"git_commit_hash": BETA, "tags": ["release"]},
                ]
            },
            "a tag may name only one version",
        ),
        ({"versions": [{"git_commit_hash": RELEASE}, {"git_commit_hash": RELEASE.upper()}]}, "listed twice"),
        ({"requirements": {"request_cpus": 0}}, "request_cpus"),
        ({"requirements": {"request_memory": "lots"}}, "request_memory"),
        ({"requirements": {"client_group": ""}}, "client_group"),
        ({"requirements": []}, "requirements must be an object"),
    ],
)
def test_a_malformed_catalog_fails_at_startup_naming_file_and_problem(
    tmp_path: Path, overrides: dict[str, Any], problem: str
) -> None:
    path = write(tmp_path / "catalog.json", catalog_data(**overrides))
    assert problem in refused_at_startup(FileCatalog, path)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ({"module": {}}, '"modules"'),
        ({"modules": {"Bad-Name": catalog_data()["modules"]["Demo"]}}, "module name"),
        (
            {
                "modules": {
                    "Demo": catalog_data()["modules"]["Demo"],
                    "DEMO": catalog_data()["modules"]["Demo"],
                }
            },
            "twice",
        ),
        ({"modules": {"Demo": "v1"}}, "expected an object"),
    ],
)
def test_a_malformed_catalog_layout_fails_at_startup(tmp_path: Path, content: Any, problem: str) -> None:
    assert problem in refused_at_startup(FileCatalog, write(tmp_path / "catalog.json", content))


async def test_requirements_with_units_resolve_to_numbers(tmp_path: Path) -> None:
    data = catalog_data(
        requirements={"request_memory": "2000MB", "request_disk": "20GB", "request_cpus": "2"}
    )
    resolved = await FileCatalog(write(tmp_path / "catalog.json", data)).resolve("Demo", None)
    assert resolved.requirements == JobRequirements(cpus=2, memory_mb=2000, disk_gb=20)
