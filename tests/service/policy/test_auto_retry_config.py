"""The policy file in the service: read at start (a bad file or a missing token stops the start with a
clear message), read again when it changes, and a bad edit keeps the last good policy and says why."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from ee_retry.service.policy.loop import policy_source
from ee_retry.service.policy.source import PolicySource
from ee_retry.settings import Settings
from tests.service.policy.auto_support import EXAMPLE

ONE_RULE = '[[rules]]\nname = "only"\naction = "stop"\n'


def write(path: Path, text: str, mtime: float) -> None:
    path.write_text(text)
    os.utime(path, (mtime, mtime))


def test_no_policy_file_means_no_automatic_retries(tmp_path: Path) -> None:
    assert policy_source(Settings(), runs_with_owner_token=True, now=0.0) is None


def test_a_scheduler_that_needs_a_token_needs_the_policy_token(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(EXAMPLE)
    with pytest.raises(ValueError, match="EE_RETRY_POLICY_TOKEN"):
        policy_source(Settings(policy_file=path, scheduler="htcondor"), runs_with_owner_token=True, now=0.0)
    ok = policy_source(Settings(policy_file=path, policy_token="svc"), runs_with_owner_token=True, now=0.0)
    assert ok is not None and ok.current is not None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[rules]]\nname = "r"\naction = "maybe"\n', "rule 'r' (rules[0]): action"),
        (None, "cannot read it"),
    ],
)
def test_a_bad_or_missing_file_stops_the_start_naming_why(
    tmp_path: Path, text: str | None, message: str
) -> None:
    path = tmp_path / "p.toml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ValueError) as info:
        policy_source(Settings(policy_file=path), runs_with_owner_token=False, now=0.0)
    assert message in str(info.value)
    assert str(tmp_path) not in str(info.value)  # no server path in the message


def test_an_edit_is_picked_up_and_a_bad_edit_keeps_the_last_good_policy(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "p.toml"
    write(path, EXAMPLE, 1_000)
    source = PolicySource(path)
    first = source.load_first(5.0)
    assert source.refresh(6.0) is first

    write(path, ONE_RULE, 2_000)
    edited = source.refresh(7.0)
    assert edited is not None and [r.name for r in edited.rules] == ["only"]
    assert source.current is not None and source.current.loaded_at == 7.0

    caplog.set_level(logging.WARNING)
    write(path, '[[rules]]\nname = "x"\naction = "retry"\nwhen = { exit_kode = 1 }\n', 3_000)
    assert source.refresh(8.0) is edited
    assert source.last_error is not None and "when.exit_kode: unknown key" in source.last_error
    assert "last good policy stays in force" in caplog.text and "exit_kode" in caplog.text

    path.unlink()
    assert source.refresh(9.0) is edited
