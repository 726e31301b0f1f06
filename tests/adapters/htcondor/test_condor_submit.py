"""The submit description and itemdata: what the real htcondor2.Submit holds, key by key, and that
no value a user controls can add or change a submit command or a ClassAd expression."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import classad2
import htcondor2
import pytest

from ee_retry.adapters.htcondor.submit import ROW_KEYS, SubmitParams, build_submit
from ee_retry.domain.ids import new_id
from ee_retry.domain.model import JobRequirements
from ee_retry.errors import InvalidParams
from tests.adapters.htcondor.conftest import RUNNER, SERVICE_URL, params, schedd_view
from tests.builders import TOKEN, make_spec

OP_ID = "66aa00000000000000000001"


def _expected_commands(job_id: str, proc: int, hold: bool) -> dict[str, str]:
    """Every command one proc of a default spec (see make_spec) should carry, fully expanded."""
    expected = {
        "universe": "vanilla",
        "executable": RUNNER,
        "arguments": f"{job_id} {SERVICE_URL}",
        "batch_name": job_id,
        "request_cpus": "2",
        "request_memory": "2000MB",
        "request_disk": "30GB",
        "requirements": '(CLIENTGROUP == "bigmem")',
        "concurrency_limits": "alice",
        "accounting_group": "ee2",
        "accounting_group_user": "alice",
        "on_exit_hold": "ExitCode =!= 0",
        "on_exit_hold_reason": (
            'ifThenElse(ExitBySignal, strcat("The job was killed by signal ", ExitSignal), '
            'strcat("The job exited with code ", ExitCode))'
        ),
        "on_exit_hold_subcode": "ifThenElse(ExitBySignal, ExitSignal, ExitCode)",
        "periodic_hold": "(RemoteWallClockTime > 604800)",
        "job_lease_duration": "43200",
        "max_job_retirement_time": "43200",
        "getenv": "false",
        "environment": (
            f'"JOB_ID={job_id} EE_RETRY_SERVICE_URL={SERVICE_URL} KB_AUTH_TOKEN={TOKEN} '
            f'CLIENTGROUP=bigmem CONDOR_ID=7.{proc}"'
        ),
        "should_transfer_files": "YES",
        "when_to_transfer_output": "ON_EXIT_OR_EVICT",
        "log": f"/var/log/ee-retry/7.{proc}.log",
        "output": f"/var/log/ee-retry/{job_id}.out",
        "error": f"/var/log/ee-retry/{job_id}.err",
        "MY.ee_job_id": f'"{job_id}"',
        "MY.ee_op_id": f'"{OP_ID}"',
        "MY.ee_batch_id": "undefined",
        "MY.KB_PARENT_JOB_ID": "undefined",
        "MY.KB_MODULE_NAME": '"Demo"',
        "MY.KB_FUNCTION_NAME": '"succeed"',
        "MY.KB_APP_ID": '"Demo/succeed"',
        "MY.KB_APP_MODULE_NAME": '"Demo"',
        "MY.KB_WSID": "42",
        "MY.KB_SOURCE_WS_OBJECTS": "undefined",
        "MY.KB_CLIENTGROUP": '"bigmem"',
    }
    if hold:
        expected["hold"] = "true"
    return expected


def test_single_job_submit_carries_every_ee2_command_and_nothing_else() -> None:
    spec = make_spec()
    description, rows = build_submit([spec], OP_ID, params(), hold=True)
    [proc] = schedd_view(description, rows)
    assert proc == _expected_commands(spec.job_id, 0, hold=True)


@pytest.mark.parametrize(
    ("exit_attrs", "reason", "subcode"),
    [
        ({"ExitBySignal": False, "ExitCode": 7}, "The job exited with code 7", 7),
        ({"ExitBySignal": True, "ExitSignal": 9}, "The job was killed by signal 9", 9),
    ],
)
def test_the_hold_on_a_failed_exit_names_the_exit_code_or_the_signal(
    exit_attrs: dict[str, object], reason: str, subcode: int
) -> None:
    """What the schedd evaluates in the exited job's ad when on_exit_hold fires."""
    description, rows = build_submit([make_spec()], OP_ID, params(), hold=False)
    [proc] = schedd_view(description, rows)
    ad = classad2.ClassAd(exit_attrs)
    for command, attribute in (
        ("on_exit_hold", "OnExitHold"),
        ("on_exit_hold_reason", "OnExitHoldReason"),
        ("on_exit_hold_subcode", "OnExitHoldSubCode"),
    ):
        ad[attribute] = classad2.ExprTree(proc[command])
    assert (ad.eval("OnExitHold"), ad.eval("OnExitHoldReason"), ad.eval("OnExitHoldSubCode")) == (
        True,
        reason,
        subcode,
    )


def test_source_ws_objects_travel_as_one_classad_string() -> None:
    spec = replace(make_spec(), source_ws_objects=("1/2/3", "4/5/6"))
    description, rows = build_submit([spec], OP_ID, params(), hold=False)
    [proc] = schedd_view(description, rows)
    assert proc["MY.KB_SOURCE_WS_OBJECTS"] == '"1/2/3,4/5/6"'


def test_a_job_with_a_thousand_input_objects_is_submitted_and_an_absurd_list_refused() -> None:
    """ee2 accepted long input lists; only a list far beyond any narrative's is refused."""
    refs = tuple(f"{ws}/{obj}/1" for ws in range(100) for obj in range(10))
    description, rows = build_submit([replace(make_spec(), source_ws_objects=refs)], OP_ID, params(), False)
    [proc] = schedd_view(description, rows)
    assert proc["MY.KB_SOURCE_WS_OBJECTS"] == '"' + ",".join(refs) + '"'
    too_many = tuple(f"{n}/1/1" for n in range(20_000))
    with pytest.raises(InvalidParams, match="source_ws_objects must be a string of at most"):
        build_submit([replace(make_spec(), source_ws_objects=too_many)], OP_ID, params(), False)


def test_a_released_submission_has_no_hold_command() -> None:
    description, rows = build_submit([make_spec()], OP_ID, params(), hold=False)
    assert "hold" not in description
    assert "hold" not in schedd_view(description, rows)[0]


def test_batch_submit_is_one_description_with_one_row_per_job_in_order() -> None:
    batch_id = new_id()
    specs = [
        make_spec(
            batch_id=batch_id, user="bob", requirements=JobRequirements(cpus=i + 1, memory_mb=100 * (i + 1))
        )
        for i in range(3)
    ]
    description, rows = build_submit(specs, OP_ID, params(), hold=True)
    procs = schedd_view(description, rows)
    assert [p["MY.ee_job_id"] for p in procs] == [f'"{s.job_id}"' for s in specs]
    assert [p["request_cpus"] for p in procs] == ["1", "2", "3"]
    assert [p["request_memory"] for p in procs] == ["100MB", "200MB", "300MB"]
    assert {p["MY.ee_batch_id"] for p in procs} == {f'"{batch_id}"'}
    assert {p["MY.KB_PARENT_JOB_ID"] for p in procs} == {
        f'"{batch_id}"'
    }  # ee2: a child's parent is its batch
    assert {p["concurrency_limits"] for p in procs} == {"bob"}
    assert {p["requirements"] for p in procs} == {'(CLIENTGROUP == "njs")'}


def test_retry_like_specs_keep_their_own_requirements_and_parent() -> None:
    parent = new_id()
    specs = [
        make_spec(parent_job_id=parent, requirements=JobRequirements(client_group="kb_upload", disk_gb=500)),
        make_spec(app_id=None, wsid=None),
    ]
    description, rows = build_submit(specs, OP_ID, params(), hold=True)
    first, second = schedd_view(description, rows)
    assert first["MY.KB_PARENT_JOB_ID"] == f'"{parent}"'
    assert first["requirements"] == '(CLIENTGROUP == "kb_upload")'
    assert first["request_disk"] == "500GB"
    assert second["MY.KB_APP_ID"] == "undefined"
    assert second["MY.KB_WSID"] == "undefined"
    assert second["MY.KB_PARENT_JOB_ID"] == "undefined"


def test_every_row_has_the_same_keys_with_the_job_id_first() -> None:
    _, rows = build_submit([make_spec(), make_spec(app_id=None, token=None)], OP_ID, params(), hold=True)
    assert [tuple(r) for r in rows] == [ROW_KEYS, ROW_KEYS]
    assert ROW_KEYS[0] == "job_id"


def test_the_description_holds_no_token_and_no_params() -> None:
    spec = make_spec(params=[{"secret_param": "PARAMVALUE"}])
    description, rows = build_submit([spec], OP_ID, params(), hold=True)
    text = str(htcondor2.Submit(description))
    assert TOKEN not in text
    assert "PARAMVALUE" not in text + repr(rows)


def test_the_token_travels_only_in_the_job_environment() -> None:
    description, rows = build_submit([make_spec()], OP_ID, params(), hold=True)
    [proc] = schedd_view(description, rows)
    assert [key for key, value in proc.items() if TOKEN in value] == ["environment"]


def test_settings_go_into_the_description() -> None:
    p = params(
        accounting_prefix="kbase_jobs", initial_dir="/condor_shared", transfer_input_files=("/opt/runner.py",)
    )
    description, rows = build_submit([make_spec()], OP_ID, p, hold=False)
    [proc] = schedd_view(description, rows)
    assert proc["accounting_group"] == "kbase_jobs"
    assert proc["initialdir"] == "/condor_shared"
    assert proc["transfer_input_files"] == "/opt/runner.py"


# ---------------------------------------------------------------- injection

ATTACKS = [
    "x\nqueue 5",
    "x\r\nhold = false",
    "x$(kb_token)",
    "$ENV(HOME)",
    'x" || true || "',
    "x\x1fy",
    "a b",
]


@pytest.mark.parametrize("value", ATTACKS)
@pytest.mark.parametrize("field", ["user", "method", "client_group"])
def test_identifiers_with_submit_language_are_refused_before_any_call(field: str, value: str) -> None:
    if field == "client_group":
        spec = make_spec(requirements=JobRequirements(client_group=value))
    elif field == "method":
        spec = make_spec(method=f"Demo.{value}")
    else:
        spec = make_spec(user=value)
    with pytest.raises(InvalidParams):
        build_submit([spec], OP_ID, params(), hold=True)


@pytest.mark.parametrize(
    "value", ["x\nqueue 5", "x\r\nhold = false", "x$(kb_token)", "$ENV(HOME)", "a\x1fb", "a\tb"]
)
def test_app_ids_that_the_submit_language_would_interpret_are_refused(value: str) -> None:
    with pytest.raises(InvalidParams, match="app id"):
        build_submit([make_spec(app_id=value)], OP_ID, params(), hold=True)


@pytest.mark.parametrize(
    "app_id", ['Demo/say "hi"', 'x" || true || "', "queue", "a\\b", "Demo/run; hold = false"]
)
def test_quotes_and_keywords_in_an_app_id_stay_inside_its_classad_string(app_id: str) -> None:
    spec = make_spec(app_id=app_id)
    description, rows = build_submit([spec], OP_ID, params(), hold=True)
    [proc] = schedd_view(description, rows)
    ad = classad2.ClassAd()
    ad["KB_APP_ID"] = classad2.ExprTree(proc["MY.KB_APP_ID"])
    assert ad.eval("KB_APP_ID") == app_id
    expected = _expected_commands(spec.job_id, 0, hold=True)
    assert {k: v for k, v in proc.items() if not k.startswith("MY.KB_APP")} == {
        k: v for k, v in expected.items() if not k.startswith("MY.KB_APP")
    }


@pytest.mark.parametrize("token", ["SEKRIT en", 'SEKRIT"en', "SEKRIT$(x)", "SEKRIT\nqueue", "SEKRIT'en"])
def test_an_unsafe_token_is_refused_without_being_echoed(token: str) -> None:
    with pytest.raises(InvalidParams) as caught:
        build_submit([make_spec(token=token)], OP_ID, params(), hold=True)
    assert "SEKRIT" not in str(caught.value)
    assert "SEKRIT" not in repr(caught.value)


def test_a_user_named_queue_is_only_a_name() -> None:
    spec = make_spec(user="queue", method="queue.queue")
    description, rows = build_submit([spec], OP_ID, params(), hold=True)
    [proc] = schedd_view(description, rows)
    expected = _expected_commands(spec.job_id, 0, hold=True) | {
        "concurrency_limits": "queue",
        "accounting_group_user": "queue",
        "MY.KB_MODULE_NAME": '"queue"',
        "MY.KB_FUNCTION_NAME": '"queue"',
    }
    assert proc == expected


def test_a_concierge_account_group_bills_the_job_to_that_user_and_nothing_else_changes() -> None:
    spec = make_spec(
        requirements=JobRequirements(
            cpus=2, memory_mb=2000, disk_gb=30, client_group="bigmem", account_group="bob"
        )
    )
    description, rows = build_submit([spec], OP_ID, params(), hold=True)
    [proc] = schedd_view(description, rows)

    assert proc == _expected_commands(spec.job_id, 0, hold=True) | {"accounting_group_user": "bob"}


@pytest.mark.parametrize("account", ["bob smith", "$(kb_user)", "bob\nqueue 2"])
def test_an_account_group_that_is_not_a_user_name_is_refused(account: str) -> None:
    spec = make_spec(requirements=JobRequirements(account_group=account))

    with pytest.raises(InvalidParams):
        build_submit([spec], OP_ID, params(), hold=True)


@pytest.mark.parametrize(
    "overrides",
    [
        {"job_id": "not-an-id"},
        {"job_id": "66AA00000000000000000001"},
        {"parent_job_id": 'x" || true'},
        {"batch_id": "$(job_id)"},
        {"wsid": 0},
        {"wsid": True},
        {"requirements": JobRequirements(cpus=0)},
        {"requirements": JobRequirements(memory_mb=-1)},
        {"method": "no_module"},
        {"method": "A.b.c"},
    ],
)
def test_malformed_ids_and_numbers_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(InvalidParams):
        build_submit([make_spec(**overrides)], OP_ID, params(), hold=True)


def test_the_same_job_twice_in_one_submission_is_refused() -> None:
    spec = make_spec()
    with pytest.raises(InvalidParams, match="twice"):
        build_submit([spec, spec], OP_ID, params(), hold=True)


@pytest.mark.parametrize("op_id", ['x" || true', "a\nqueue", "$(job_id)", ""])
def test_an_unsafe_operation_id_is_refused(op_id: str) -> None:
    with pytest.raises(InvalidParams):
        build_submit([make_spec()], op_id, params(), hold=True)


@pytest.mark.parametrize(
    "overrides",
    [
        {"runner": "/bin/run\nqueue 9"},
        {"runner": "/bin/run $(x)"},
        {"service_url": 'http://x/" y'},
        {"service_url": "http://x/ $ENV(HOME)"},
        {"service_url": "ftp://x/"},
        {"accounting_prefix": "ee2\nhold = true"},
        {"log_dir": "/tmp/$(x)"},
    ],
)
def test_unsafe_settings_are_refused_at_construction(overrides: dict[str, Any]) -> None:
    values: dict[str, Any] = {"runner": RUNNER, "service_url": SERVICE_URL} | overrides
    with pytest.raises(ValueError, match="not safe"):
        SubmitParams(**values)


def test_the_schedd_view_would_reveal_a_macro_that_slipped_through() -> None:
    """Guards the tests above: an unchecked `$(...)` in a row does get expanded by the real Submit."""
    description, rows = build_submit([make_spec()], OP_ID, params(), hold=True)
    rows[0]["kb_app_id"] = '"$(kb_token)"'
    [proc] = schedd_view(description, rows)
    assert proc["MY.KB_APP_ID"] == f'"{TOKEN}"'


def test_a_job_without_a_token_or_app_keeps_its_row_aligned() -> None:
    specs = [make_spec(token=None, app_id=None), make_spec()]
    description, rows = build_submit(specs, OP_ID, params(), hold=True)
    first, second = schedd_view(description, rows)
    assert "KB_AUTH_TOKEN= " in first["environment"]
    assert first["MY.KB_APP_ID"] == "undefined"
    assert second == _expected_commands(specs[1].job_id, 1, hold=True)


# Commands by which HTCondor would run a job again by itself; automatic retries never stack on them.
HTCONDOR_RETRY_COMMANDS = (
    "max_retries",
    "retry_until",
    "success_exit_code",
    "periodic_release",
    "on_exit_remove",
)


@pytest.mark.parametrize("hold", [True, False])
def test_the_description_never_lets_htcondor_retry_a_job_itself(hold: bool) -> None:
    """ee-retry's own attempts (manual or automatic) are the only retry layer: no max_retries,
    retry_until, periodic_release or on_exit_remove loop in what the schedd receives."""
    description, rows = build_submit([make_spec(), make_spec()], OP_ID, params(), hold=hold)
    for proc in schedd_view(description, rows):
        commands = {key.lower() for key in proc}
        assert commands.isdisjoint(HTCONDOR_RETRY_COMMANDS), commands & set(HTCONDOR_RETRY_COMMANDS)
        assert "periodic_hold" in commands  # a stuck job is held, never released to run again
