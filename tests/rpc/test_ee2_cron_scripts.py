"""ee2's own cron scripts (kbase/execution_engine2, bin/) against this service with an admin token:
PurgeBadJobs cancels stale jobs as automation, PurgeHeldJobs hands each HTCondor hold event's cluster
to handle_held_job and reads `_id`, `status` and `job_input` from the answer."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from ee_retry.domain.values import ProcState
from ee_retry.errors import JobNotFound, PermissionDenied
from ee_retry.testing.harness import ADMIN_TOKEN, ALICE_TOKEN, READONLY_ADMIN_TOKEN
from ee_retry.testing.scheduler import FakeScheduler
from tests.kbase_client import EE2Client, ServerError

JOB = {"method": "Demo.succeed", "params": [{}], "wsid": 1}
TERMINATED_BY_AUTOMATION = 2


@pytest.fixture
def alice(client: TestClient) -> EE2Client:
    return EE2Client(client, ALICE_TOKEN)


@pytest.fixture
def service_token(client: TestClient) -> EE2Client:
    """The scripts' EE2_ADMIN_SERVICE_TOKEN."""
    return EE2Client(client, ADMIN_TOKEN)


def cluster_of(sched: FakeScheduler, job_id: str) -> str:
    return sched.proc(job_id).scheduler_id.split(".")[0]  # type: ignore[union-attr]


def test_purge_bad_jobs_cancel_is_recorded_as_terminated_by_automation(
    alice: EE2Client, service_token: EE2Client, sched: FakeScheduler
) -> None:
    job_id = alice.run_job(JOB)

    service_token.cancel_job(
        {"as_admin": True, "job_id": job_id, "terminated_code": TERMINATED_BY_AUTOMATION}
    )

    state = alice.check_job({"job_id": job_id})
    assert (state["status"], state["terminated_code"]) == ("terminated", TERMINATED_BY_AUTOMATION)
    assert sched.proc(job_id).state is ProcState.REMOVED  # type: ignore[union-attr]


def test_a_read_only_admin_cannot_run_purge_bad_jobs(client: TestClient, alice: EE2Client) -> None:
    job_id = alice.run_job(JOB)

    with pytest.raises(ServerError) as caught:
        EE2Client(client, READONLY_ADMIN_TOKEN).cancel_job(
            {"as_admin": True, "job_id": job_id, "terminated_code": 2}
        )

    assert caught.value.code == PermissionDenied.code
    assert alice.get_job_status({"job_id": job_id}) == {"status": "queued"}


async def test_purge_held_jobs_ends_the_held_job_and_reads_its_record(
    alice: EE2Client, service_token: EE2Client, sched: FakeScheduler
) -> None:
    job_id = alice.run_job(JOB)
    sched.set_listener(None)  # the hold event reaches the script before the service's poller
    await sched.hold(job_id, "Job has gone over memory limit")

    job_record = service_token.handle_held_job(str(int(cluster_of(sched, job_id))))

    assert job_record["_id"] == job_id and job_record["status"] == "error"
    assert job_record["job_input"].get("condor_job_ads") is None  # calculate_hold_reason's first read
    assert job_record["error_code"] == 1 and "over memory limit" in job_record["errormsg"]
    [logged] = alice.get_job_logs({"job_id": job_id})["lines"]
    assert logged["is_error"] is True and "over memory limit" in logged["line"]
    assert sched.proc(job_id).state is ProcState.REMOVED  # type: ignore[union-attr]


async def test_handle_held_job_leaves_procs_that_are_not_held_alone(
    alice: EE2Client, service_token: EE2Client, sched: FakeScheduler
) -> None:
    batch = alice.run_job_batch([JOB, JOB], {"wsid": 1})
    held, running = batch["child_job_ids"]
    await sched.start(running)
    sched.set_listener(None)
    await sched.hold(held, "disk quota")

    record = service_token.handle_held_job(cluster_of(sched, held))
    not_held = service_token.handle_held_job(sched.proc(running).scheduler_id)  # type: ignore[union-attr]

    assert record["_id"] == held and record["status"] == "error"
    assert (not_held["_id"], not_held["status"]) == (running, "running")
    assert alice.get_job_status({"job_id": running}) == {"status": "running"}
    assert sched.proc(running).state is ProcState.RUNNING  # type: ignore[union-attr]


def test_handle_held_job_of_an_unknown_cluster_is_job_not_found(service_token: EE2Client) -> None:
    with pytest.raises(ServerError) as caught:
        service_token.handle_held_job("987654")

    assert caught.value.code == JobNotFound.code
