"""The fake schedd behaves like htcondor2.Schedd where ee-retry depends on it: ads built from the
real Submit, one all-or-nothing cluster per submit, real constraint evaluation, history, actions,
persistence across instances, and faults set from the test process."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import htcondor2
import pytest

from ee_retry.adapters.htcondor.submit import build_submit
from ee_retry.testing.schedd import FakeSchedd
from tests.adapters.htcondor.conftest import params
from tests.builders import TOKEN, make_spec

OP_ID = "66aa000000000000000000aa"


def _submit(schedd: FakeSchedd, n: int = 1, hold: bool = True, op_id: str = OP_ID) -> list[str]:
    specs = [make_spec() for _ in range(n)]
    description, rows = build_submit(specs, op_id, params(), hold)
    result = schedd.submit(htcondor2.Submit(description), itemdata=iter(rows))
    assert result.num_procs() == n
    return [f"{result.cluster()}.{result.first_proc() + i}" for i in range(n)]


def test_a_submit_builds_job_ads_from_the_submit_commands(fake_schedd: FakeSchedd) -> None:
    spec = make_spec()
    description, rows = build_submit([spec], OP_ID, params(accounting_prefix="kb"), hold=True)
    fake_schedd.submit(htcondor2.Submit(description), itemdata=iter(rows))
    [ad] = fake_schedd.ads()
    assert ad["ee_job_id"] == spec.job_id
    assert ad["ee_op_id"] == OP_ID
    assert (ad["RequestCpus"], ad["RequestMemory"], ad["RequestDisk"]) == (2, 2000, 30 * 1024 * 1024)
    assert ad["Requirements"] == '(CLIENTGROUP == "bigmem")'
    assert ad["OnExitHold"] == "ExitCode isnt 0"
    assert (ad["AcctGroup"], ad["AcctGroupUser"], ad["AccountingGroup"]) == ("kb", "alice", "kb.alice")
    assert ad["ConcurrencyLimits"] == "alice"
    assert ad["Arguments"] == f"{spec.job_id} {params().service_url}"
    assert f"KB_AUTH_TOKEN={TOKEN}" in ad["Environment"].split()
    assert (ad["KB_APP_ID"], ad["KB_WSID"], ad["KB_PARENT_JOB_ID"]) == ("Demo/succeed", 42, None)


def test_a_submit_on_hold_is_held_with_the_submitted_on_hold_code(fake_schedd: FakeSchedd) -> None:
    _submit(fake_schedd, hold=True)
    [ad] = fake_schedd.ads()
    assert (ad["JobStatus"], ad["HoldReasonCode"]) == (5, 15)


def test_each_submit_is_one_cluster_and_proc_i_is_row_i(fake_schedd: FakeSchedd) -> None:
    first = _submit(fake_schedd, n=3)
    second = _submit(fake_schedd, n=2)
    assert first == ["1.0", "1.1", "1.2"]
    assert second == ["2.0", "2.1"]


def test_a_submit_that_fails_for_one_proc_creates_no_procs(fake_schedd: FakeSchedd) -> None:
    description, rows = build_submit([make_spec(), make_spec()], OP_ID, params(), hold=True)
    rows[1]["kb_wsid"] = "1 +"
    with pytest.raises(Exception, match="parse"):
        fake_schedd.submit(htcondor2.Submit(description), itemdata=iter(rows))
    assert fake_schedd.ads() == []
    assert fake_schedd.calls("submit") == []


def test_a_row_with_a_newline_is_refused_as_the_bindings_do(fake_schedd: FakeSchedd) -> None:
    description, rows = build_submit([make_spec()], OP_ID, params(), hold=True)
    rows[0]["kb_user"] = "alice\nqueue 3"
    with pytest.raises(ValueError, match="newline"):
        fake_schedd.submit(htcondor2.Submit(description), itemdata=iter(rows))
    assert fake_schedd.ads() == []


def test_queries_evaluate_the_constraint_with_classads(fake_schedd: FakeSchedd) -> None:
    mine = _submit(fake_schedd, n=2, op_id="66aa000000000000000000a1")
    _submit(fake_schedd, n=1, op_id="66aa000000000000000000a2")
    found = fake_schedd.query('ee_op_id =?= "66aa000000000000000000a1"', ["ClusterId", "ProcId", "ee_job_id"])
    assert [f"{a['ClusterId']}.{a['ProcId']}" for a in found] == mine
    assert set(found[0].keys()) == {"ClusterId", "ProcId", "ee_job_id"}


def test_a_malformed_constraint_raises(fake_schedd: FakeSchedd) -> None:
    with pytest.raises(Exception, match="parse"):
        fake_schedd.query("ee_op_id == ", [])


def test_state_is_shared_by_every_instance_on_the_same_directory(
    fake_schedd: FakeSchedd, tmp_path: Path
) -> None:
    ids = _submit(fake_schedd)
    again = FakeSchedd(state_dir=fake_schedd.state_dir)
    assert [f"{a['ClusterId']}.{a['ProcId']}" for a in again.ads()] == ids


def test_concurrent_submits_never_share_a_cluster(fake_schedd: FakeSchedd) -> None:
    def one(_: int) -> str:
        return _submit(FakeSchedd(state_dir=fake_schedd.state_dir))[0]

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(one, range(16)))
    assert len(set(ids)) == 16


def test_release_frees_held_procs_and_leaves_others_alone(fake_schedd: FakeSchedd) -> None:
    held, other = _submit(fake_schedd, n=2)
    fake_schedd.act(htcondor2.JobAction.Release, [held], ("go", None))
    result = fake_schedd.act(htcondor2.JobAction.Release, [held], ("go", None))
    assert result["TotalBadStatus"] == 1
    states = {f"{a['ClusterId']}.{a['ProcId']}": a["JobStatus"] for a in fake_schedd.ads()}
    assert states == {held: 1, other: 5}


def test_remove_moves_procs_to_the_history_with_the_reason(fake_schedd: FakeSchedd) -> None:
    [sid] = _submit(fake_schedd)
    fake_schedd.act(htcondor2.JobAction.Remove, [sid], ("cancelled by alice", None))
    assert fake_schedd.ads() == []
    [ad] = fake_schedd.ads(history=True)
    assert (ad["JobStatus"], ad["RemoveReason"]) == (3, "cancelled by alice")


def test_a_string_job_spec_is_read_as_a_constraint_like_the_bindings(fake_schedd: FakeSchedd) -> None:
    _submit(fake_schedd, n=2)
    fake_schedd.act(htcondor2.JobAction.Remove, "ProcId == 1", "by constraint")
    assert [a["ProcId"] for a in fake_schedd.ads()] == [0]
    assert fake_schedd.calls("act")[0]["job_spec"] == {"not_a_list": "ProcId == 1"}


def test_a_nonzero_exit_is_held_with_a_reason_naming_the_exit_code(fake_schedd: FakeSchedd) -> None:
    [sid] = _submit(fake_schedd, hold=False)
    fake_schedd.start(sid)
    fake_schedd.complete(sid, exit_code=7)
    [ad] = fake_schedd.ads()
    assert (ad["JobStatus"], ad["HoldReasonCode"], ad["HoldReasonSubCode"], ad["ExitCode"]) == (5, 3, 7, 7)
    assert ad["HoldReason"] == "The job exited with code 7"


def test_a_process_killed_by_a_signal_is_held_with_a_reason_naming_the_signal(
    fake_schedd: FakeSchedd,
) -> None:
    [sid] = _submit(fake_schedd, hold=False)
    fake_schedd.start(sid)
    fake_schedd.complete(sid, signal=9)
    [ad] = fake_schedd.ads()
    assert (ad["JobStatus"], ad["HoldReasonCode"], ad["HoldReasonSubCode"]) == (5, 3, 9)
    assert ad["HoldReason"] == "The job was killed by signal 9"


def test_without_an_on_exit_hold_reason_the_hold_reason_is_the_schedds_default(
    fake_schedd: FakeSchedd,
) -> None:
    description, rows = build_submit([make_spec()], OP_ID, params(), hold=False)
    del description["on_exit_hold_reason"], description["on_exit_hold_subcode"]
    result = fake_schedd.submit(htcondor2.Submit(description), itemdata=iter(rows))
    fake_schedd.complete(f"{result.cluster()}.0", exit_code=2)
    [ad] = fake_schedd.ads()
    assert (ad["HoldReasonCode"], ad["HoldReasonSubCode"]) == (3, 0)
    assert ad["HoldReason"] == "The job attribute OnExitHold expression 'ExitCode isnt 0' evaluated to TRUE"


def test_a_zero_exit_completes_into_the_history(fake_schedd: FakeSchedd) -> None:
    [sid] = _submit(fake_schedd, hold=False)
    fake_schedd.start(sid)
    fake_schedd.complete(sid, exit_code=0)
    assert fake_schedd.ads() == []
    [ad] = fake_schedd.ads(history=True)
    assert (ad["JobStatus"], ad["ExitCode"]) == (4, 0)
    assert ad["JobStartDate"] > 0


def test_history_is_newest_first_and_stops_at_since(fake_schedd: FakeSchedd) -> None:
    ids = _submit(fake_schedd, n=3, hold=False)
    for sid in ids:
        fake_schedd.remove(sid)
    newest_first = fake_schedd.history("true", ["ProcId"])
    assert [a["ProcId"] for a in newest_first] == [2, 1, 0]
    assert [a["ProcId"] for a in fake_schedd.history("true", ["ProcId"], -1, ids[0])] == [2, 1]
    assert [a["ProcId"] for a in fake_schedd.history("true", ["ProcId"], 1)] == [2]


def test_forget_drops_a_proc_from_queue_and_history(fake_schedd: FakeSchedd) -> None:
    gone, kept = _submit(fake_schedd, n=2)
    fake_schedd.forget(gone)
    assert [f"{a['ClusterId']}.{a['ProcId']}" for a in fake_schedd.ads()] == [kept]


def test_unavailable_fault_raises_an_htcondor_error_and_changes_nothing(fake_schedd: FakeSchedd) -> None:
    fake_schedd.set_fault("submit", "unavailable")
    with pytest.raises(htcondor2.HTCondorException):
        _submit(fake_schedd)
    assert fake_schedd.ads() == []
    assert len(_submit(fake_schedd)) == 1


def test_accept_then_error_creates_the_cluster_then_raises(fake_schedd: FakeSchedd) -> None:
    fake_schedd.set_fault("submit", "accept_then_error")
    with pytest.raises(htcondor2.HTCondorException):
        _submit(fake_schedd, n=2)
    assert len(fake_schedd.ads()) == 2


def test_a_fault_lasts_for_the_number_of_calls_asked(fake_schedd: FakeSchedd) -> None:
    fake_schedd.set_fault("query", "unavailable", times=2)
    for _ in range(2):
        with pytest.raises(htcondor2.HTCondorException):
            fake_schedd.query("true", [])
    assert fake_schedd.query("true", []) == []


def test_an_unknown_fault_mode_is_refused(fake_schedd: FakeSchedd) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        fake_schedd.set_fault("submit", "explode")
