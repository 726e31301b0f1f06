"""The fake scheduler behaves like a scheduler, counts calls, and fails on demand."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from ee_retry.domain.ids import new_id
from ee_retry.domain.values import ProcState, SchedulerProc, SubmitSpec
from ee_retry.errors import SchedulerUnavailable
from ee_retry.testing.clock import FakeClock
from ee_retry.testing.scheduler import FakeScheduler
from tests.builders import make_spec


def spec(job_id: str | None = None) -> SubmitSpec:
    return make_spec(job_id=job_id or new_id())


class Recorder:
    """A listener that keeps what it was told."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, ProcState]] = []

    async def __call__(self, proc: SchedulerProc) -> None:
        self.seen.append((proc.job_id, proc.state))


async def test_each_submit_is_one_cluster_with_one_proc_per_job() -> None:
    fake = FakeScheduler()
    a, b, c = spec(), spec(), spec()

    first = await fake.submit("op1", [a, b], hold=False)
    second = await fake.submit("op2", [c], hold=False)

    assert first == {a.job_id: "1.0", b.job_id: "1.1"}
    assert second == {c.job_id: "2.0"}
    assert fake.submit_calls == 2
    assert fake.submitted_batches == [[a.job_id, b.job_id], [c.job_id]]
    assert [p.state for p in fake.procs()] == [ProcState.IDLE] * 3
    assert fake.spec(a.job_id) == a


async def test_held_submit_waits_for_release_and_release_notifies_the_listener() -> None:
    listener = Recorder()
    fake = FakeScheduler(listener=listener)
    job = spec()
    ids = await fake.submit("op1", [job], hold=True)
    held = fake.proc(job.job_id)
    assert held is not None
    assert held.state is ProcState.HELD
    assert held.held_by_us

    await fake.release([ids[job.job_id], "99.0"])

    released = fake.proc(job.job_id)
    assert released is not None
    assert released.state is ProcState.IDLE
    assert not released.held_by_us
    assert listener.seen == [(job.job_id, ProcState.IDLE)]
    assert fake.release_calls == 1


SUBMIT_FAULTS: list[tuple[str, Callable[[FakeScheduler], None], bool]] = [
    ("fail", FakeScheduler.fail_next_submit, False),
    ("lose-answer", FakeScheduler.lose_next_answer, True),
    ("hang-lands", lambda fake: fake.hang_next_submit(lands=True), True),
    ("hang-lost", lambda fake: fake.hang_next_submit(lands=False), False),
]


@pytest.mark.parametrize(("arm", "lands"), [f[1:] for f in SUBMIT_FAULTS], ids=[f[0] for f in SUBMIT_FAULTS])
async def test_an_armed_submit_fails_once_and_its_procs_exist_only_if_it_landed(
    arm: Callable[[FakeScheduler], None], lands: bool
) -> None:
    fake = FakeScheduler(hang_s=0.01)
    job = spec()
    arm(fake)

    with pytest.raises(SchedulerUnavailable):
        await fake.submit("op1", [job], hold=True)

    procs = await fake.procs_for_operation("op1")
    assert [(p.job_id, p.state) for p in procs] == ([(job.job_id, ProcState.HELD)] if lands else [])
    again = spec()
    assert list(await fake.submit("op2", [again], hold=True)) == [again.job_id]  # armed for one call only
    assert fake.submit_calls == 2


Change = Callable[[FakeScheduler, list[str]], Awaitable[None]]
CHANGE_FAULTS: list[tuple[str, Callable[[FakeScheduler], None], Change, ProcState]] = [
    ("release", FakeScheduler.fail_next_release, lambda fake, ids: fake.release(ids), ProcState.IDLE),
    (
        "remove",
        FakeScheduler.fail_next_remove,
        lambda fake, ids: fake.remove(ids, "cancel"),
        ProcState.REMOVED,
    ),
]


@pytest.mark.parametrize(
    ("arm", "change", "after"), [f[1:] for f in CHANGE_FAULTS], ids=[f[0] for f in CHANGE_FAULTS]
)
async def test_an_armed_release_or_remove_changes_nothing_once_then_works(
    arm: Callable[[FakeScheduler], None], change: Change, after: ProcState
) -> None:
    fake = FakeScheduler()
    job = spec()
    ids = list((await fake.submit("op1", [job], hold=True)).values())
    arm(fake)

    with pytest.raises(SchedulerUnavailable):
        await change(fake, ids)
    proc = fake.proc(job.job_id)
    assert proc is not None
    assert proc.state is ProcState.HELD

    await change(fake, ids)
    proc = fake.proc(job.job_id)
    assert proc is not None
    assert proc.state is after


async def test_unavailable_scheduler_refuses_every_call_until_it_is_back() -> None:
    fake = FakeScheduler()
    job = spec()
    ids = await fake.submit("op1", [job], hold=True)
    fake.unavailable = True

    calls = [
        fake.submit("op2", [spec()], hold=True),
        fake.release(list(ids.values())),
        fake.remove(list(ids.values()), "cancel"),
        fake.procs_for_operation("op1"),
        fake.procs_for_jobs([job.job_id]),
        fake.poll(),
    ]
    for call in calls:
        with pytest.raises(SchedulerUnavailable):
            await call
    assert len(fake.procs()) == 1

    fake.unavailable = False
    assert len(await fake.poll()) == 1


async def test_every_call_is_counted() -> None:
    fake = FakeScheduler()
    ids = await fake.submit("op1", [spec()], hold=True)
    await fake.release(list(ids.values()))
    await fake.remove(list(ids.values()), "cancel")
    await fake.procs_for_operation("op1")
    await fake.procs_for_jobs([])
    await fake.poll()

    assert (fake.submit_calls, fake.release_calls, fake.remove_calls, fake.query_calls) == (1, 1, 1, 3)


async def test_latency_is_awaited_on_each_call() -> None:
    fake = FakeScheduler(latency_s=0.05)

    call = asyncio.ensure_future(fake.poll())
    await asyncio.sleep(0)
    assert not call.done()
    assert await call == []


async def test_drivers_move_a_proc_through_its_life_and_notify_the_listener() -> None:
    listener = Recorder()
    clock = FakeClock(start=1_000.0)
    fake = FakeScheduler(listener=listener, clock=clock)
    job = spec()
    await fake.submit("op1", [job], hold=False)

    await fake.start(job.job_id)
    clock.advance(5)
    await fake.complete(job.job_id, exit_code=2, output="out", error="err")

    proc = fake.proc(job.job_id)
    assert proc is not None
    assert (proc.state, proc.exit_code, proc.exit_signal) == (ProcState.COMPLETED, 2, None)
    assert (proc.output_tail, proc.error_tail) == ("out", "err")
    assert (proc.started, proc.finished, proc.in_queue) == (1_000.0, 1_005.0, False)
    assert listener.seen == [(job.job_id, ProcState.RUNNING), (job.job_id, ProcState.COMPLETED)]


async def test_a_job_killed_by_a_signal_has_no_exit_code() -> None:
    fake = FakeScheduler()
    job = spec()
    await fake.submit("op1", [job], hold=False)

    await fake.complete(job.job_id, exit_signal=9)

    proc = fake.proc(job.job_id)
    assert proc is not None
    assert (proc.exit_code, proc.exit_signal) == (None, 9)


async def test_a_scheduler_hold_is_not_undone_by_our_release() -> None:
    fake = FakeScheduler()
    job = spec()
    ids = await fake.submit("op1", [job], hold=False)
    await fake.start(job.job_id)

    await fake.hold(job.job_id, "memory limit exceeded")
    await fake.release(list(ids.values()))

    proc = fake.proc(job.job_id)
    assert proc is not None
    assert (proc.state, proc.hold_reason, proc.held_by_us) == (ProcState.HELD, "memory limit exceeded", False)


async def test_removed_procs_stay_visible_as_history_and_finished_ones_are_not_removed() -> None:
    listener = Recorder()
    fake = FakeScheduler(listener=listener)
    running, done = spec(), spec()
    ids = await fake.submit("op1", [running, done], hold=False)
    await fake.complete(done.job_id)
    listener.seen.clear()

    await fake.remove([*ids.values(), "77.0"], "cancelled by user")

    states = {p.job_id: (p.state, p.in_queue) for p in await fake.procs_for_operation("op1")}
    assert states == {running.job_id: (ProcState.REMOVED, False), done.job_id: (ProcState.COMPLETED, False)}
    assert listener.seen == [(running.job_id, ProcState.REMOVED)]


async def test_forgotten_job_is_unknown_to_the_scheduler() -> None:
    fake = FakeScheduler()
    kept, lost = spec(), spec()
    await fake.submit("op1", [kept, lost], hold=True)

    fake.forget(lost.job_id)

    assert fake.proc(lost.job_id) is None
    assert [p.job_id for p in await fake.procs_for_operation("op1")] == [kept.job_id]
    with pytest.raises(KeyError):
        await fake.start(lost.job_id)


async def test_orphan_is_found_by_its_operation() -> None:
    fake = FakeScheduler()
    await fake.submit("op1", [spec()], hold=True)
    orphan_id = new_id()

    sid = fake.add_orphan(orphan_id, "op-lost")

    (proc,) = await fake.procs_for_operation("op-lost")
    assert (proc.job_id, proc.scheduler_id, proc.state, proc.held_by_us) == (
        orphan_id,
        sid,
        ProcState.HELD,
        True,
    )
    assert sid == "2.0"


async def test_a_failing_listener_does_not_break_the_driver(caplog: pytest.LogCaptureFixture) -> None:
    async def listener(proc: SchedulerProc) -> None:
        raise RuntimeError("store is down")

    fake = FakeScheduler(listener=listener)
    job = spec()
    await fake.submit("op1", [job], hold=False)

    await fake.start(job.job_id)

    proc = fake.proc(job.job_id)
    assert proc is not None
    assert proc.state is ProcState.RUNNING
    assert "status listener failed" in caplog.text


async def test_start_without_a_job_is_the_scheduler_start_hook() -> None:
    fake = FakeScheduler()
    await fake.start()
    await fake.close()
    assert fake.procs() == []
