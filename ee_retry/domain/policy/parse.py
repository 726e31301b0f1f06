"""Read a policy file (TOML) into a `Policy`, or a list of problems that each name the rule and key.

Every problem is collected before the file is refused, so one run of `ee-retry-policy check` shows
them all. Integers never accept booleans (TOML `true` is not exit code 1).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any, TypeVar

from ee_retry.domain.policy.model import (
    Action,
    Backoff,
    BreakerConfig,
    Budgets,
    Jitter,
    MemoryRaise,
    Policy,
    Rule,
    When,
)

MAX_ATTEMPTS_LIMIT = 100  # a policy asking for more automatic attempts per job is surely a typo
E = TypeVar("E", bound=Enum)

TOP_KEYS = frozenset({"defaults", "rules", "budgets", "breaker"})
DEFAULTS_KEYS = frozenset({"max_attempts", "backoff"})
RULE_KEYS = frozenset({"name", "when", "action", "count", "max_attempts", "backoff", "memory"})
WHEN_INT_KEYS = ("exit_code", "exit_code_not", "signal", "hold_code", "hold_subcode", "error_code")
WHEN_KEYS = frozenset({"app", "message", *WHEN_INT_KEYS})
BACKOFF_KEYS = frozenset({"initial_s", "factor", "max_s", "jitter"})
MEMORY_KEYS = frozenset({"factor", "max_mb"})
BUDGET_KEYS = frozenset({"per_user_per_hour", "per_app_per_hour", "core_hours_per_user_per_day"})
BREAKER_KEYS = frozenset({"window_s", "min_finished", "max_failure_ratio", "cooldown_s"})
STOP_ONLY_IGNORED = ("count", "max_attempts", "backoff", "memory")


class PolicyError(ValueError):
    """A policy file that does not validate; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class _Problems:
    """Collects problems; `where` prefixes each with the rule or table it is about."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, key: str, what: str) -> None:
        self.items.append(f"{where}: {key}: {what}")

    def unknown(self, where: str, prefix: str, table: Mapping[str, Any], allowed: frozenset[str]) -> None:
        for key in sorted(set(table) - allowed):
            self.add(where, prefix + key, f"unknown key (allowed: {', '.join(sorted(allowed))})")


def parse_policy_text(text: str) -> Policy:
    """The policy a TOML text describes; raises PolicyError."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError([f"not valid TOML: {exc}"]) from None
    return parse_policy(doc)


def parse_policy(doc: Mapping[str, Any]) -> Policy:
    """The policy a parsed TOML document describes; raises PolicyError."""
    problems = _Problems()
    problems.unknown("policy", "", doc, TOP_KEYS)
    defaults = _table(problems, "policy", "defaults", doc.get("defaults"))
    problems.unknown("[defaults]", "", defaults, DEFAULTS_KEYS)
    max_attempts = _int(
        problems, "[defaults]", "max_attempts", defaults.get("max_attempts", 3), 0, MAX_ATTEMPTS_LIMIT
    )
    backoff = _backoff(problems, "[defaults]", defaults.get("backoff"), Backoff())
    rules = _rules(problems, doc.get("rules", []), backoff)
    budgets = _budgets(problems, _table(problems, "policy", "budgets", doc.get("budgets")))
    breaker = _breaker(problems, doc["breaker"]) if "breaker" in doc else None
    if problems.items:
        raise PolicyError(problems.items)
    return Policy(rules=rules, max_attempts=max_attempts, backoff=backoff, budgets=budgets, breaker=breaker)


def _rules(problems: _Problems, value: Any, default_backoff: Backoff) -> tuple[Rule, ...]:
    if not isinstance(value, list):
        problems.add("policy", "rules", "must be an array of tables ([[rules]])")
        return ()
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            problems.add(f"rules[{index}]", "rules", "must be a table")
            continue
        rule = _rule(problems, index, item, default_backoff)
        if rule is None:
            continue
        if rule.name in seen:
            problems.add(_where(index, rule.name), "name", "another rule has this name")
        seen.add(rule.name)
        rules.append(rule)
    return tuple(rules)


def _where(index: int, name: Any) -> str:
    return f"rule {name!r} (rules[{index}])" if isinstance(name, str) and name else f"rules[{index}]"


def _rule(problems: _Problems, index: int, item: Mapping[str, Any], default_backoff: Backoff) -> Rule | None:
    where = _where(index, item.get("name"))
    before = len(problems.items)
    problems.unknown(where, "", item, RULE_KEYS)
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.add(where, "name", "required, a non-empty string")
    action_text = item.get("action")
    action = _enum(problems, where, "action", action_text, Action) if action_text is not None else None
    if action_text is None:
        problems.add(where, "action", "required: 'retry' or 'stop'")
    when = _when(problems, where, _table(problems, where, "when", item.get("when")))
    count = item.get("count", True)
    if not isinstance(count, bool):
        problems.add(where, "count", "must be true or false")
    max_attempts = None
    if "max_attempts" in item:
        max_attempts = _int(problems, where, "max_attempts", item["max_attempts"], 0, MAX_ATTEMPTS_LIMIT)
    backoff = _backoff(problems, where, item["backoff"], default_backoff) if "backoff" in item else None
    memory = _memory(problems, where, item["memory"]) if "memory" in item else None
    if action is Action.STOP:
        for key in STOP_ONLY_IGNORED:
            if key in item:
                problems.add(where, key, "has no effect on a rule whose action is 'stop'")
    if len(problems.items) > before or action is None or not isinstance(name, str):
        return None
    return Rule(name, when, action, bool(count), max_attempts, backoff, memory)


def _when(problems: _Problems, where: str, table: Mapping[str, Any]) -> When:
    problems.unknown(where, "when.", table, WHEN_KEYS)
    ints = {k: _int_list(problems, where, f"when.{k}", table[k]) for k in WHEN_INT_KEYS if k in table}
    apps: tuple[str, ...] = ()
    if "app" in table:
        apps = _str_list(problems, where, "when.app", table["app"])
    message = table.get("message")
    if message is not None:
        if not isinstance(message, str):
            problems.add(where, "when.message", "must be a string (a regular expression)")
            message = None
        else:
            try:
                re.compile(message)
            except re.error as exc:
                problems.add(where, "when.message", f"not a valid regular expression: {exc}")
                message = None
    return When(app=apps, message=message, **ints)


def _backoff(problems: _Problems, where: str, value: Any, base: Backoff) -> Backoff:
    table = _table(problems, where, "backoff", value)
    problems.unknown(where, "backoff.", table, BACKOFF_KEYS)
    initial = _num(problems, where, "backoff.initial_s", table.get("initial_s", base.initial_s), 0.0)
    factor = _num(problems, where, "backoff.factor", table.get("factor", base.factor), 1.0)
    max_s = _num(problems, where, "backoff.max_s", table.get("max_s", base.max_s), 0.0)
    jitter = base.jitter
    if "jitter" in table:
        jitter = _enum(problems, where, "backoff.jitter", table["jitter"], Jitter) or base.jitter
    return Backoff(initial, factor, max_s, jitter)


def _memory(problems: _Problems, where: str, value: Any) -> MemoryRaise | None:
    table = _table(problems, where, "memory", value)
    problems.unknown(where, "memory.", table, MEMORY_KEYS)
    for key in sorted(MEMORY_KEYS - set(table)):
        problems.add(where, f"memory.{key}", "required")
    if MEMORY_KEYS - set(table):
        return None
    factor = _num(problems, where, "memory.factor", table["factor"], 1.0)
    max_mb = _int(problems, where, "memory.max_mb", table["max_mb"], 1, 2**40)
    return MemoryRaise(factor, max_mb)


def _budgets(problems: _Problems, table: Mapping[str, Any]) -> Budgets:
    problems.unknown("[budgets]", "", table, BUDGET_KEYS)

    def count(key: str) -> int | None:
        return _int(problems, "[budgets]", key, table[key], 1, 2**31) if key in table else None

    core = table.get("core_hours_per_user_per_day")
    core_hours = (
        None if core is None else _num(problems, "[budgets]", "core_hours_per_user_per_day", core, 0.0)
    )
    return Budgets(count("per_user_per_hour"), count("per_app_per_hour"), core_hours)


def _breaker(problems: _Problems, value: Any) -> BreakerConfig:
    table = _table(problems, "policy", "breaker", value)
    problems.unknown("[breaker]", "", table, BREAKER_KEYS)
    base = BreakerConfig()
    ratio = _num(
        problems,
        "[breaker]",
        "max_failure_ratio",
        table.get("max_failure_ratio", base.max_failure_ratio),
        0.0,
    )
    if ratio > 1.0:
        problems.add("[breaker]", "max_failure_ratio", "must be between 0 and 1")
    return BreakerConfig(
        window_s=_num(problems, "[breaker]", "window_s", table.get("window_s", base.window_s), 1.0),
        min_finished=_int(
            problems, "[breaker]", "min_finished", table.get("min_finished", base.min_finished), 1, 2**31
        ),
        max_failure_ratio=ratio,
        cooldown_s=_num(problems, "[breaker]", "cooldown_s", table.get("cooldown_s", base.cooldown_s), 1.0),
    )


def _table(problems: _Problems, where: str, key: str, value: Any) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.add(where, key, "must be a table")
        return {}
    return value


def _int(problems: _Problems, where: str, key: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        problems.add(where, key, "must be an integer")
        return low
    if not low <= value <= high:
        problems.add(where, key, f"must be between {low} and {high}")
        return low
    return value


def _num(problems: _Problems, where: str, key: str, value: Any, low: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        problems.add(where, key, "must be a number")
        return low
    if not low <= value < float("inf"):
        problems.add(where, key, f"must be a finite number of at least {low:g}")
        return low
    return float(value)


def _listed(
    problems: _Problems, where: str, key: str, value: Any, ok: Callable[[Any], bool], what: str
) -> tuple[Any, ...]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(ok(v) for v in items):
        problems.add(where, key, f"must be {what} or a non-empty list of them")
        return ()
    return tuple(items)


def _int_list(problems: _Problems, where: str, key: str, value: Any) -> tuple[int, ...]:
    return _listed(
        problems, where, key, value, lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"
    )


def _str_list(problems: _Problems, where: str, key: str, value: Any) -> tuple[str, ...]:
    return _listed(
        problems, where, key, value, lambda v: isinstance(v, str) and bool(v), "a non-empty string (a glob)"
    )


def _enum(problems: _Problems, where: str, key: str, value: Any, kind: type[E]) -> E | None:
    choices = [m.value for m in kind]
    if value not in choices:
        problems.add(where, key, f"must be one of {', '.join(repr(c) for c in choices)}")
        return None
    return kind(value)
