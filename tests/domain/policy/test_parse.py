"""Reading a policy file: the example validates, and every mistake is named by rule and key."""

from __future__ import annotations

from pathlib import Path

import pytest

import ee_retry.demo
from ee_retry.domain.policy.model import Action, Jitter
from ee_retry.domain.policy.parse import PolicyError, parse_policy_text

EXAMPLE = Path(ee_retry.demo.__file__).with_name("policy.toml")


def problems(text: str) -> list[str]:
    with pytest.raises(PolicyError) as info:
        parse_policy_text(text)
    return info.value.problems


def test_the_example_policy_validates_with_its_rules_in_file_order() -> None:
    policy = parse_policy_text(EXAMPLE.read_text())

    assert [r.name for r in policy.rules][:2] == ["out of memory", "killed by the kernel"]
    assert policy.max_attempts == 3
    assert policy.backoff.initial_s == 30 and policy.backoff.jitter is Jitter.FULL
    flaky = next(r for r in policy.rules if r.name == "flaky downloads")
    assert flaky.max_attempts == 5 and flaky.backoff is not None and flaky.backoff.jitter is Jitter.NONE
    stop = next(r for r in policy.rules if r.name == "bad input never heals")
    assert stop.action is Action.STOP and stop.when.exit_code == (2,)
    assert policy.budgets.per_user_per_hour == 50
    assert policy.breaker is not None and policy.breaker.min_finished == 20


def test_an_empty_file_is_a_policy_that_retries_nothing() -> None:
    policy = parse_policy_text("")
    assert policy.rules == () and policy.breaker is None


def test_a_rule_backoff_overrides_only_the_keys_it_gives() -> None:
    policy = parse_policy_text(
        """
        [defaults]
        backoff = { initial_s = 10, factor = 3.0, max_s = 100 }
        [[rules]]
        name = "r"
        action = "retry"
        backoff = { max_s = 5 }
        """
    )
    assert policy.backoff_of(policy.rules[0]).initial_s == 10
    assert policy.backoff_of(policy.rules[0]).factor == 3.0
    assert policy.backoff_of(policy.rules[0]).max_s == 5


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("when = { exit_kode = [3] }", "rule 'r' (rules[0]): when.exit_kode: unknown key"),
        ('when = { exit_code = ["3"] }', "rule 'r' (rules[0]): when.exit_code: must be an integer"),
        ("when = { exit_code = [true] }", "rule 'r' (rules[0]): when.exit_code: must be an integer"),
        ("when = { exit_code = [] }", "rule 'r' (rules[0]): when.exit_code: must be an integer"),
        (
            'when = { message = "(unclosed" }',
            "rule 'r' (rules[0]): when.message: not a valid regular expression",
        ),
        ("when = { message = 3 }", "rule 'r' (rules[0]): when.message: must be a string"),
        ("when = { app = 7 }", "rule 'r' (rules[0]): when.app: must be a non-empty string"),
        ("when = 3", "rule 'r' (rules[0]): when: must be a table"),
        ('colour = "red"', "rule 'r' (rules[0]): colour: unknown key"),
        ('count = "no"', "rule 'r' (rules[0]): count: must be true or false"),
        ("max_attempts = 2.5", "rule 'r' (rules[0]): max_attempts: must be an integer"),
        ("max_attempts = -1", "rule 'r' (rules[0]): max_attempts: must be between 0 and 100"),
        ('backoff = { initial_s = "soon" }', "rule 'r' (rules[0]): backoff.initial_s: must be a number"),
        (
            'backoff = { jitter = "some" }',
            "rule 'r' (rules[0]): backoff.jitter: must be one of 'full', 'none'",
        ),
        (
            "backoff = { factor = 0.5 }",
            "rule 'r' (rules[0]): backoff.factor: must be a finite number of at least 1",
        ),
        ("backoff = { delay = 1 }", "rule 'r' (rules[0]): backoff.delay: unknown key"),
        ("memory = { factor = 1.5 }", "rule 'r' (rules[0]): memory.max_mb: required"),
        ("memory = { factor = 1.5, max_mb = 0 }", "rule 'r' (rules[0]): memory.max_mb: must be between"),
    ],
)
def test_a_bad_rule_key_is_named_with_its_rule(body: str, expected: str) -> None:
    found = problems(f'[[rules]]\nname = "r"\naction = "retry"\n{body}\n')
    assert any(p.startswith(expected) for p in found), found


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[[rules]]\nname = 'r'\n", "rule 'r' (rules[0]): action: required"),
        (
            "[[rules]]\nname = 'r'\naction = 'again'\n",
            "rule 'r' (rules[0]): action: must be one of 'retry', 'stop'",
        ),
        ("[[rules]]\naction = 'stop'\n", "rules[0]: name: required"),
        (
            "[[rules]]\nname = 'r'\naction = 'stop'\nmax_attempts = 2\n",
            "rule 'r' (rules[0]): max_attempts: has no effect",
        ),
        (
            "[[rules]]\nname='a'\naction='stop'\n[[rules]]\nname='a'\naction='stop'\n",
            "rule 'a' (rules[1]): name: another",
        ),
        ("[defaults]\nmax_tries = 3\n", "[defaults]: max_tries: unknown key"),
        ("[budgets]\nper_user_per_day = 3\n", "[budgets]: per_user_per_day: unknown key"),
        ("[budgets]\nper_user_per_hour = 0\n", "[budgets]: per_user_per_hour: must be between 1"),
        ("[breaker]\nmax_failure_ratio = 1.5\n", "[breaker]: max_failure_ratio: must be between 0 and 1"),
        ("[breaker]\nwindow = 60\n", "[breaker]: window: unknown key"),
        ("[policy]\n", "policy: policy: unknown key"),
        ("rules = 3\n", "policy: rules: must be an array of tables"),
        ("[defaults\n", "not valid TOML"),
    ],
)
def test_a_bad_file_is_refused_naming_where(text: str, expected: str) -> None:
    found = problems(text)
    assert any(p.startswith(expected) for p in found), found


def test_every_problem_of_a_file_is_reported_at_once() -> None:
    found = problems(
        "[[rules]]\nname = 'one'\naction = 'retry'\nwhen = { signal = ['x'] }\n"
        "[[rules]]\nname = 'two'\naction = 'retry'\nwhen = { message = '[' }\n"
    )
    assert len(found) == 2
    assert found[0].startswith("rule 'one'") and found[1].startswith("rule 'two'")
