"""HTCondorScheduler over the fake schedd, with every schedd call in a real worker process: ids,
finding procs by operation and job, polling, explicit-id actions, and what happens when the schedd
hangs, crashes, errors after accepting, or loses its answer."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ee_retry.adapters.htcondor import HTCondorScheduler
from ee_retry.adapters.htcondor.worker import _scrub
from ee_retry.domain import status
from ee_retry.domain.ids import new_id
from ee_retry.domain.model import Job, JobStatus
from ee_retry.domain.values import ProcState, SchedulerKind
from ee_retry.errors import InvalidParams, SchedulerUnavailable
from ee_retry.testing.clock import FakeClock
from ee_retry.testing.schedd import FakeSchedd
from tests.adapters.htcondor.conftest import FAKE_FACTORY, RUNNER, SERVICE_URL
from tests.builders import make_spec

pytestmark = pytest.mark.slow  # spawns worker processes


async def test_submit_maps_job_i_to_proc_i_of_one_cluster(
    scheduler: HTCondorScheduler, fake_schedd: FakeSchedd
) -> None:
    specs = [make_spec() for _ in range(3)]
    ids = await scheduler.submit(new_id(), specs, hold=True)
    assert ids == {specs[0].job_id: "1.0", specs[1].job_id: "1.1", specs[2].job_id: "1.2"}
    assert len(fake_schedd.calls("submit")) == 1


async def test_an_empty_submission_makes_no_call(
    scheduler: HTCondorScheduler, fake_schedd: FakeSchedd
) -> None:
    assert await scheduler.submit(new_id(), [], hold=True) == {}
    assert fake_schedd.calls() == []


async def test_remove_names_procs_by_explicit_id_list(
    scheduler: HTCondorScheduler, fake_schedd: FakeSchedd
) -> None:
    ids = await scheduler.submit(new_id(), [make_spec(), make_spec()], hold=True)
    target = sorted(ids.values())[0]
    await scheduler.remove([target], "cancelled by alice")
    [call] = fake_schedd.calls("act")
    assert call == {"method": "act", "action": "Remove", "job_spec": [target], "reason": "cancelled by alice"}
    procs = {p.scheduler_id: p for p in await scheduler.procs_for_jobs(list(ids))}
    assert procs[target].state is ProcState.REMOVED
    assert not procs[target].in_queue


@pytest.mark.parametrize("bad", ["1.0", ["ClusterId == 1"], ["1.0 || true"], ["1 "], ["-1"], [1]])
async def test_actions_refuse_anything_but_cluster_proc_ids(
    scheduler: HTCondorScheduler, fake_schedd: FakeSchedd, bad: object
) -> None:
    with pytest.raises(InvalidParams):
        await scheduler.remove(bad, "x")  # type: ignore[arg-type]
    assert fake_schedd.calls("act") == []


async def test_a_bare_cluster_id_that_ee2_recorded_names_its_only_proc(
    scheduler: HTCondorScheduler, fake_schedd: FakeSchedd
) -> None:
    ids = await scheduler.submit(new_id(), [make_spec()], hold=False)
    [sid] = ids.values()
    cluster = sid.split(".")[0]
    await scheduler.remove([cluster], "cancelled by the reaper")
    [call] = fake_schedd.calls("act")
    assert call["job_spec"] == [f"{cluster}.0"]


async def test_an_action_on_no_ids_makes_no_call(
    scheduler: HTCondorScheduler, fake_schedd: FakeSchedd
) -> None:
    await scheduler.remove([], "nothing")
    await scheduler.release([])
    assert fake_schedd.calls("act") == []


async def test_procs_for_jobs_reads_queue_and_history(
    scheduler: HTCondorScheduler, fake_schedd: FakeSchedd
) -> None:
    specs = [make_spec() for _ in range(3)]
    ids = await scheduler.submit(new_id(), specs, hold=False)
    done, failed, gone = (ids[s.job_id] for s in specs)
    fake_schedd.start(done)
    fake_schedd.complete(done, exit_code=0)
    fake_schedd.start(failed)
    fake_schedd.complete(failed, exit_code=1)
    fake_schedd.forget(gone)
    procs = {p.scheduler_id: p for p in await scheduler.procs_for_jobs([s.job_id for s in specs])}
    assert set(procs) == {done, failed}
    assert (procs[done].state, procs[done].exit_code, procs[done].in_queue) == (ProcState.COMPLETED, 0, False)
    assert procs[failed].state is ProcState.HELD
    assert not procs[failed].held_by_us
    assert procs[failed].hold_reason == "The job exited with code 1"


@pytest.mark.parametrize(
    ("exit_code", "signal", "expected"),
    [(7, None, "The job exited with code 7"), (0, 9, "The job was killed by signal 9")],
)
async def test_a_failed_exit_reaches_the_jobs_errormsg_with_its_code_or_signal(
    scheduler: HTCondorScheduler, fake_schedd: FakeSchedd, exit_code: int, signal: int | None, expected: str
) -> None:
    """Adapter and status mapping together, as the poller applies them: the proc's hold names how
    it ended, and so does the errormsg of the job marked error."""
    spec = make_spec()
    [sid] = (await scheduler.submit(new_id(), [spec], hold=False)).values()
    fake_schedd.start(sid)
    fake_schedd.complete(sid, exit_code=exit_code, signal=signal)
    [proc] = await scheduler.poll()
    job = Job(spec.job_id, "alice", JobStatus.RUNNING, None, 1.0, 1.0, scheduler_id=sid)
    change = status.from_proc(job, proc, 2.0)
    assert change is not None
    assert change.new is JobStatus.ERROR
    assert change.fields["errormsg"] == f"Job was held by the scheduler: {expected}"


async def test_poll_reads_history_back_to_its_previous_poll_only(
    schedd_dir: Path, fake_schedd: FakeSchedd
) -> None:
    clock = FakeClock()
    scheduler = HTCondorScheduler(
        FAKE_FACTORY,
        runner=RUNNER,
        service_url=SERVICE_URL,
        factory_kwargs={"state_dir": str(schedd_dir)},
        timeout_s=5.0,
        clock=clock,
    )
    try:
        ids = list((await scheduler.submit(new_id(), [make_spec(), make_spec()], hold=False)).values())
        fake_schedd.start(ids[0])
        fake_schedd.complete(ids[0], exit_code=0)
        first = {p.scheduler_id: p.state for p in await scheduler.poll()}
        assert first == {ids[0]: ProcState.COMPLETED, ids[1]: ProcState.IDLE}
        clock.advance(3_600)
        second = {p.scheduler_id: p.state for p in await scheduler.poll()}
        assert second == first  # exited after the previous poll began: still reported
        third = {p.scheduler_id: p.state for p in await scheduler.poll()}
        assert third == {ids[1]: ProcState.IDLE}  # older than the previous poll by more than the overlap
    finally:
        await scheduler.close()


async def test_a_hung_submit_times_out_while_the_loop_and_other_calls_keep_going(
    scheduler: HTCondorScheduler, fake_schedd: FakeSchedd
) -> None:
    fake_schedd.set_fault("submit", "hang")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticking = asyncio.create_task(ticker())
    submit = asyncio.create_task(scheduler.submit(new_id(), [make_spec()], hold=True))
    await asyncio.sleep(0.2)
    assert await scheduler.poll() == []  # the second worker answers while the first one hangs
    assert not submit.done()
    seen = ticks
    with pytest.raises(SchedulerUnavailable, match="no answer"):
        await submit
    assert ticks > seen > 0
    ticking.cancel()
    ids = await scheduler.submit(new_id(), [make_spec()], hold=True)  # a fresh worker
    assert list(ids.values()) == ["1.0"]


async def test_a_crashed_worker_is_unavailable_then_replaced(
    scheduler: HTCondorScheduler, fake_schedd: FakeSchedd
) -> None:
    fake_schedd.set_fault("query", "crash")
    with pytest.raises(SchedulerUnavailable, match="died"):
        await scheduler.poll()
    assert await scheduler.poll() == []


async def test_schedd_errors_are_unavailable_and_submit_nothing(
    scheduler: HTCondorScheduler, fake_schedd: FakeSchedd
) -> None:
    fake_schedd.set_fault("submit", "unavailable")
    op_id = new_id()
    with pytest.raises(SchedulerUnavailable, match="HTCondorException"):
        await scheduler.submit(op_id, [make_spec()], hold=True)
    assert await scheduler.procs_for_operation(op_id) == []


@pytest.mark.parametrize("fault", ["accept_then_error", "lost_answer", "crash_after"])
async def test_after_an_accepted_but_failed_submit_the_procs_are_found_and_not_resubmitted(
    scheduler: HTCondorScheduler, fake_schedd: FakeSchedd, fault: str
) -> None:
    fake_schedd.set_fault("submit", fault)
    op_id = new_id()
    specs = [make_spec(), make_spec()]
    with pytest.raises(SchedulerUnavailable):
        await scheduler.submit(op_id, specs, hold=True)
    found = await scheduler.procs_for_operation(op_id)  # what the service does before submitting again
    assert sorted(p.job_id for p in found) == sorted(s.job_id for s in specs)
    if not found:
        await scheduler.submit(op_id, specs, hold=True)
    assert len(fake_schedd.calls("submit")) == 1


async def test_a_cancelled_call_kills_its_worker_and_the_next_call_works(
    scheduler: HTCondorScheduler, fake_schedd: FakeSchedd
) -> None:
    fake_schedd.set_fault("submit", "hang")
    submit = asyncio.create_task(scheduler.submit(new_id(), [make_spec()], hold=True))
    await asyncio.sleep(0.2)
    submit.cancel()
    with pytest.raises(asyncio.CancelledError):
        await submit
    for _ in range(3):  # more calls than workers: the killed one was replaced
        assert await scheduler.poll() == []


async def test_invalid_specs_are_refused_before_any_schedd_call(
    scheduler: HTCondorScheduler, fake_schedd: FakeSchedd
) -> None:
    with pytest.raises(InvalidParams):
        await scheduler.submit(new_id(), [make_spec(user="x\nqueue 5")], hold=True)
    assert fake_schedd.calls() == []


def test_error_messages_from_a_worker_never_carry_the_token() -> None:
    message = _scrub("boom near KB_AUTH_TOKEN=SEKRIT123 here", {"rows": [{"kb_token": "SEKRIT123"}]})
    assert "SEKRIT123" not in message
    assert "boom" in message


def test_from_settings_uses_the_configured_runner_url_and_prefix(tmp_path: Path) -> None:
    from ee_retry.settings import Settings

    settings = Settings(
        data_dir=tmp_path,
        service_url="https://ee.example.org/",
        condor_runner="/opt/ee/runner",
        condor_accounting_prefix="kb",
        scheduler=SchedulerKind.CONDOR,
    )
    made = HTCondorScheduler.from_settings(settings)
    assert (made.submit_params.runner, made.submit_params.service_url) == (
        "/opt/ee/runner",
        "https://ee.example.org/",
    )
    assert made.submit_params.accounting_prefix == "kb"
    assert made.submit_params.log_dir == str(tmp_path.resolve() / "condor_logs")
