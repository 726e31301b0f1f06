"""`ee-retry-policy check FILE`: a valid file prints its rules; a bad one exits 1 naming each problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import ee_retry.demo
from ee_retry.cli.policy import main

EXAMPLE = Path(ee_retry.demo.__file__).with_name("policy.toml")


def test_check_prints_the_example_rules_in_matching_order(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "valid policy" in out
    assert out.index("out of memory") < out.index("flaky downloads")
    assert "bad input never heals: when exit_code = 2" in out


def test_check_json_is_the_policy_as_data(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(EXAMPLE), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    flaky = next(r for r in doc["rules"] if r["name"] == "flaky downloads")
    assert flaky["max_attempts"] == 5 and flaky["when"]["exit_code"] == [3]


def test_check_on_a_bad_file_exits_1_naming_rule_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rules]]\nname = "oops"\naction = "retry"\nwhen = { exit_kode = [3], message = "(" }\n')
    assert main(["check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "rule 'oops' (rules[0]): when.exit_kode: unknown key" in err
    assert "rule 'oops' (rules[0]): when.message: not a valid regular expression" in err


def test_check_on_a_missing_file_exits_1_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(tmp_path / "nope.toml")]) == 1
    err = capsys.readouterr().err
    assert "cannot read nope.toml" in err and "Traceback" not in err
