"""spec/ is the contract, and it cannot rot: the KIDL funcdefs are exactly the served methods, their
authentication annotations match what the service demands, and spec/errors.md matches errors.py."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from starlette.testclient import TestClient

from ee_retry import errors
from ee_retry.rpc.methods import METHODS

Rpc = Callable[..., tuple[int, Any]]

SPEC_DIR = Path(__file__).resolve().parents[2] / "spec"
KIDL_FILE = SPEC_DIR / "execution_engine2.spec"
ERRORS_FILE = SPEC_DIR / "errors.md"
EE2_FUNCDEFS_FILE = SPEC_DIR / "ee2_funcdefs.txt"
KIDL_BUILTINS = {"int", "float", "string", "list", "mapping", "tuple", "UnspecifiedObject"}
SOME_JOB_ID = "0123456789abcdef01234567"


@dataclass(frozen=True)
class Funcdef:
    name: str
    arg_types: tuple[str, ...]
    return_types: tuple[str, ...]
    authentication: str  # "required", "optional" or "none" (KIDL's default)


def kidl_text() -> str:
    """The KIDL file with its comments removed."""
    return re.sub(r"/\*.*?\*/", " ", KIDL_FILE.read_text(), flags=re.DOTALL)


def _types_of(signature: str) -> tuple[str, ...]:
    """The type of each `type [name]` item of a KIDL argument or return list."""
    items, depth, current = [], 0, ""
    for char in signature:
        depth += char == "<"
        depth -= char == ">"
        if char == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += char
    items.append(current)
    types = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        named = re.fullmatch(r"(.+?)\s+(\w+)", item)
        types.append(named.group(1) if named and not named.group(1).endswith(",") else item)
    return tuple(types)


def funcdefs() -> dict[str, Funcdef]:
    pattern = re.compile(
        r"funcdef\s+(\w+)\s*\((.*?)\)\s*returns\s*\((.*?)\)\s*(?:authentication\s+(\w+)\s*)?;", re.DOTALL
    )
    found: dict[str, Funcdef] = {}
    for name, args, returns, auth in pattern.findall(kidl_text()):
        assert name not in found, f"funcdef {name} is declared twice"
        found[name] = Funcdef(name, _types_of(args), _types_of(returns), auth or "none")
    return found


def declared_types() -> set[str]:
    text = kidl_text()
    structures = re.findall(r"typedef\s+structure\s*\{.*?\}\s*(\w+)\s*;", text, flags=re.DOTALL)
    simple = re.findall(r"typedef\s+(?!structure)[\w<>, ]+?\s+(\w+)\s*;", text)
    return set(structures) | set(simple)


def test_the_spec_is_one_kidl_module_named_execution_engine2() -> None:
    text = kidl_text()

    assert len(re.findall(r"\bmodule\s+execution_engine2\s*\{", text)) == 1
    assert text.strip().endswith("};")


def test_the_spec_declares_exactly_the_methods_the_service_serves() -> None:
    declared, served = set(funcdefs()), set(METHODS)

    assert declared == served, (
        f"served but not in spec/execution_engine2.spec: {sorted(served - declared)}; "
        f"in the spec but not served: {sorted(declared - served)}"
    )


def ee2_funcdefs() -> list[str]:
    lines = EE2_FUNCDEFS_FILE.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_the_ee2_funcdef_list_holds_ee2s_28_methods() -> None:
    names = ee2_funcdefs()

    assert len(names) == len(set(names)) == 28
    assert {"check_workspace_jobs", "handle_held_job", "run_job_concierge", "list_config"} <= set(names)


@pytest.mark.parametrize("name", ee2_funcdefs())
def test_every_funcdef_of_ee2s_spec_is_declared_and_has_a_handler(name: str) -> None:
    assert name in funcdefs(), f"ee2's {name} is missing from spec/execution_engine2.spec"
    assert name in METHODS, f"ee2's {name} has no handler in ee_retry.rpc.methods.METHODS"


def test_every_type_a_funcdef_names_is_declared() -> None:
    known = declared_types() | KIDL_BUILTINS
    for fd in funcdefs().values():
        for type_text in fd.arg_types + fd.return_types:
            for name in re.findall(r"\w+", type_text):
                assert name in known, f"{fd.name} uses undeclared type {name}"


def _params_for(method: str) -> list[Any]:
    """Params that pass every check that comes before authentication."""
    if method == "run_job_batch":
        return [[{"method": "Demo.succeed"}], {}]
    if method == "add_job_logs":
        return [{"job_id": SOME_JOB_ID}, []]
    if method == "handle_held_job":
        return ["1234"]
    if method == "run_job_concierge":
        return [{"method": "Demo.succeed"}, {}]
    return [
        {
            "job_id": SOME_JOB_ID,
            "job_ids": [SOME_JOB_ID],
            "method": "Demo.succeed",
            "status": "running",
            "start_time": 0,
            "end_time": 1_000,
            "workspace_id": 1,
            "batch_id": SOME_JOB_ID,
            "child_job_ids": [SOME_JOB_ID],
        }
    ]


@pytest.mark.parametrize("name", sorted(set(funcdefs()) & set(METHODS)))
def test_a_methods_authentication_annotation_matches_what_it_demands(
    client: TestClient, rpc: Rpc, name: str
) -> None:
    fd = funcdefs()[name]

    status, body = rpc(client, name, _params_for(name), None)

    if fd.authentication == "required":
        assert status == 500, f"{name} is declared 'authentication required' but answered without a token"
        assert body["error"]["code"] == errors.AuthenticationError.code, body["error"]
    else:
        assert status == 200, f"{name} is declared without required authentication but refused: {body}"


# ---------------------------------------------------------------- errors.md


@dataclass(frozen=True)
class ErrorRow:
    cls: str
    name: str
    code: int
    parent: str
    when: str


def error_rows() -> dict[str, ErrorRow]:
    rows: dict[str, ErrorRow] = {}
    for line in ERRORS_FILE.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) != 5 or cells[0] in ("class", "") or set(cells[0]) <= {"-"}:
            continue
        assert cells[0] not in rows, f"{cells[0]} appears twice in spec/errors.md"
        rows[cells[0]] = ErrorRow(cells[0], cells[1], int(cells[2]), cells[3], cells[4])
    return rows


def error_classes() -> list[type[errors.EERetryError]]:
    """EERetryError and every subclass defined in ee_retry/errors.py."""
    found: list[type[errors.EERetryError]] = []
    stack: list[type[errors.EERetryError]] = [errors.EERetryError]
    while stack:
        cls = stack.pop()
        if cls.__module__ == errors.__name__ and cls not in found:
            found.append(cls)
        stack.extend(cls.__subclasses__())
    return found


def test_every_error_class_is_in_the_table_and_every_row_is_a_class() -> None:
    documented = set(error_rows())
    defined = {cls.__name__ for cls in error_classes()}

    assert defined <= documented, f"missing from spec/errors.md: {sorted(defined - documented)}"
    assert documented <= defined, f"not in ee_retry/errors.py: {sorted(documented - defined)}"
    assert {cls.__name__ for cls in errors.ALL_ERRORS} <= documented


def test_each_rows_name_and_code_match_the_class() -> None:
    rows = error_rows()
    for cls in error_classes():
        row = rows[cls.__name__]
        assert (row.name, row.code) == (cls.name, cls.code), f"{cls.__name__}: table says {row}"
        assert row.when, f"{cls.__name__} has no 'when' in spec/errors.md"


def test_codes_are_distinct_except_documented_subclasses_sharing_their_parents() -> None:
    rows = error_rows()
    by_code: dict[int, str] = {}
    for cls in error_classes():
        row = rows[cls.__name__]
        parent = cast("type[errors.EERetryError]", cls.__mro__[1])
        if row.parent:
            assert row.parent == parent.__name__, f"{cls.__name__}'s parent is {parent.__name__}"
            assert cls.code == parent.code, f"{cls.__name__} claims its parent's code but has its own"
            continue
        assert cls.code not in by_code, f"{cls.__name__} shares code {cls.code} with {by_code.get(cls.code)}"
        by_code[cls.code] = cls.__name__


def test_codes_are_json_rpc_reserved_or_in_the_server_error_range() -> None:
    protocol = {-32700, -32600, -32601, -32602}
    for cls in error_classes():
        assert cls.code in protocol or -32099 <= cls.code <= -32000, f"{cls.__name__}: {cls.code}"


def test_the_wire_error_object_carries_the_tables_name_and_code() -> None:
    rows = error_rows()
    for cls in error_classes():
        wire = errors.to_error_object(cls("what to fix"))
        assert (wire["name"], wire["code"]) == (rows[cls.__name__].name, rows[cls.__name__].code)
        assert wire["message"] == "what to fix"
