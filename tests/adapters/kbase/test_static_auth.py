"""The file-backed twin of auth: tokens from a JSON file, refused tokens never echoed, edits and
removals seen without a restart, and a malformed or missing file refused at startup."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from ee_retry.adapters.kbase.static import FileAuth
from ee_retry.errors import AuthenticationError
from ee_retry.testing.clock import FakeClock
from tests.adapters.kbase.conftest import RECHECK_S, refused_at_startup, write

SECRET = "alice-secret-token"


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
