"""Property test of the submit description builder: no user-controlled value, whatever its characters,
adds a submit command, changes another command, or leaves its own slot; it is refused or lands intact.

Each example puts generated text into one user-controlled field of an otherwise default job, builds the
submission, and reads it back as the schedd would (the real `htcondor2.Submit` parser and expander, see
condor_helpers.schedd_view). The result is compared, command by command, with the default job's.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import classad2
from hypothesis import event, given
from hypothesis import strategies as st

from ee_retry.adapters.htcondor.submit import build_submit
from ee_retry.domain.model import JobRequirements
from ee_retry.domain.values import SubmitSpec
from ee_retry.errors import InvalidParams
from tests.adapters.htcondor.conftest import params, schedd_view
from tests.builders import TOKEN, make_spec

OP_ID = "66aa00000000000000000001"
DEFAULT_GROUP = "bigmem"  # make_spec's client group

# Characters the submit language, ClassAds or itemdata give a meaning to, mixed with any other text.
SPECIAL = [*"$()\n\r\x1f\x00\"\\ \t'#=;,{}[]+-/.", "$(kb_token)", "$ENV(HOME)", "queue", "\ud800"]
texts = st.lists(st.sampled_from(SPECIAL) | st.characters(), max_size=12).map("".join) | st.from_regex(
    r"[0-9a-f]{24}", fullmatch=True
)


def _spec_with(field: str, value: Any, base: SubmitSpec) -> SubmitSpec:
    reqs = base.requirements
    if field == "module":
        return replace(base, method=f"{value}.succeed")
    if field == "function":
        return replace(base, method=f"Demo.{value}")
    if field == "client_group":
        return replace(base, requirements=JobRequirements(reqs.cpus, reqs.memory_mb, reqs.disk_gb, value))
    if field == "source_ws_objects":
        return replace(base, source_ws_objects=tuple(value))
    return replace(base, **{field: value})


def _classad_value(expr: str) -> Any:
    ad = classad2.ClassAd()
    ad["x"] = classad2.ExprTree(expr)
    return ad.eval("x")


def _expected_changes(field: str, value: Any, base: dict[str, str]) -> dict[str, Any]:
    """The commands the field may change, each with the value it must carry (ClassAd ones evaluated)."""
    if field == "user":
        return {"concurrency_limits": value, "accounting_group_user": value}
    if field == "module":
        return {"MY.KB_MODULE_NAME": value}
    if field == "function":
        return {"MY.KB_FUNCTION_NAME": value}
    if field == "client_group":
        return {
            "requirements": base["requirements"].replace(DEFAULT_GROUP, value),
            "environment": base["environment"].replace(
                f"CLIENTGROUP={DEFAULT_GROUP}", f"CLIENTGROUP={value}"
            ),
            "MY.KB_CLIENTGROUP": value,
        }
    if field == "app_id":
        module = value.replace("/", ".").split(".", 1)[0] if ("/" in value or "." in value) else None
        return {"MY.KB_APP_ID": value or None, "MY.KB_APP_MODULE_NAME": module or None}
    if field == "token":
        return {"environment": base["environment"].replace(TOKEN, value)}
    if field == "source_ws_objects":
        return {"MY.KB_SOURCE_WS_OBJECTS": ",".join(value) or None}
    if field == "parent_job_id":
        return {"MY.KB_PARENT_JOB_ID": value}
    return {"MY.ee_batch_id": value, "MY.KB_PARENT_JOB_ID": value}  # a batch child's parent is its batch


def _carried(key: str, text: str) -> Any:
    """A command as the schedd holds it: ClassAd attributes evaluated, `undefined` as None."""
    if not key.startswith("MY."):
        return text
    value = _classad_value(text)
    return None if value is classad2.Value.Undefined else value


fields = st.sampled_from(
    ["user", "module", "function", "client_group", "app_id", "token", "parent_job_id", "batch_id"]
)


@given(fields, texts)
def test_a_user_value_is_refused_or_stays_inside_its_own_commands(field: str, value: str) -> None:
    base_spec = make_spec()
    [base] = schedd_view(*build_submit([base_spec], OP_ID, params(), hold=True))
    spec = _spec_with(field, value, base_spec)
    try:
        description, rows = build_submit([spec], OP_ID, params(), hold=True)
    except InvalidParams:
        event(f"{field}: refused")
        return
    event(f"{field}: accepted")
    [proc] = schedd_view(description, rows)

    changes = _expected_changes(field, value, base)
    assert set(proc) == set(base)
    assert {k: v for k, v in proc.items() if k not in changes} == {
        k: v for k, v in base.items() if k not in changes
    }
    assert {k: _carried(k, proc[k]) for k in changes} == changes


@given(st.lists(texts, max_size=4))
def test_input_object_refs_are_refused_or_travel_as_one_classad_string(refs: list[str]) -> None:
    base_spec = make_spec()
    [base] = schedd_view(*build_submit([base_spec], OP_ID, params(), hold=True))
    try:
        description, rows = build_submit(
            [_spec_with("source_ws_objects", refs, base_spec)], OP_ID, params(), hold=True
        )
    except InvalidParams:
        return
    [proc] = schedd_view(description, rows)

    changes = _expected_changes("source_ws_objects", refs, base)
    assert {k: v for k, v in proc.items() if k not in changes} == {
        k: v for k, v in base.items() if k not in changes
    }
    assert {k: _carried(k, proc[k]) for k in changes} == changes


@given(st.lists(st.sampled_from(["user", "app_id", "client_group"]), min_size=2, max_size=3), texts)
def test_one_jobs_value_never_reaches_another_jobs_proc(order: list[str], value: str) -> None:
    """Itemdata rows are split on line ends and unit separators: a value must not shift a later row."""
    specs = [_spec_with(field, value, make_spec()) for field in order] + [make_spec()]
    try:
        description, rows = build_submit(specs, OP_ID, params(), hold=True)
    except InvalidParams:
        return
    procs = schedd_view(description, rows)

    assert len(procs) == len(specs)
    assert [p["batch_name"] for p in procs] == [s.job_id for s in specs]
    assert _carried("MY.KB_APP_ID", procs[-1]["MY.KB_APP_ID"]) == "Demo/succeed"
    assert procs[-1]["concurrency_limits"] == "alice"
