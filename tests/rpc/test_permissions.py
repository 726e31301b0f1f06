"""Who may read and write a job: the owner, a workspace reader (read) or writer (write), an admin with
as_admin (EE2_ADMIN for writes, EE2_ADMIN or EE2_ADMIN_RO for reads); and a non-admin cannot tell a
job that is not theirs from one that does not exist.

Demo workspaces: 1 is alice's ("a") and bob reads it ("r"); 2 is bob's ("a") and alice has nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from ee_retry.domain.values import JobQuery
from ee_retry.service.deps import Deps
from ee_retry.testing.harness import ADMIN_TOKEN, ALICE_TOKEN, BOB_TOKEN, READONLY_ADMIN_TOKEN
from ee_retry.testing.scheduler import FakeScheduler

Rpc = Callable[..., tuple[int, Any]]

ALLOWED = None
NOT_FOUND = -32003  # JobNotFound: what a caller who may not see (or may not change) a job gets
DENIED = -32002  # PermissionDenied: as_admin without the matching admin role
MISSING_ID = "0123456789abcdef01234567"


@pytest.fixture
def jobs(client: TestClient, rpc: Rpc) -> dict[str, str]:
    """alice's job in workspace 1, an admin's job in workspace 1 (alice writes it, bob reads it, neither
    owns it), and bob's job in workspace 2 (alice has no access)."""

    def run(token: str, **fields: Any) -> str:
        status, body = rpc(client, "run_job", [{"method": "Demo.succeed", **fields}], token)
        assert status == 200, body
        job_id: str = body["result"][0]
        return job_id

    return {
        "alice-ws1": run(ALICE_TOKEN, wsid=1),
        "admin-ws1": run(ADMIN_TOKEN, wsid=1, as_admin=1),
        "bob-ws2": run(BOB_TOKEN, wsid=2),
    }


# caller: (token, as_admin, which job, outcome of a read, outcome of a write)
CALLERS: dict[str, tuple[str, bool, str, int | None, int | None]] = {
    "owner": (ALICE_TOKEN, False, "alice-ws1", ALLOWED, ALLOWED),
    "workspace-reader": (BOB_TOKEN, False, "alice-ws1", ALLOWED, NOT_FOUND),
    "workspace-writer": (ALICE_TOKEN, False, "admin-ws1", ALLOWED, ALLOWED),
    "reader-of-a-job-not-theirs": (BOB_TOKEN, False, "admin-ws1", ALLOWED, NOT_FOUND),
    "stranger": (ALICE_TOKEN, False, "bob-ws2", NOT_FOUND, NOT_FOUND),
    "stranger-with-as_admin": (ALICE_TOKEN, True, "bob-ws2", DENIED, DENIED),
    "admin-without-as_admin": (ADMIN_TOKEN, False, "alice-ws1", NOT_FOUND, NOT_FOUND),
    "admin-with-as_admin": (ADMIN_TOKEN, True, "alice-ws1", ALLOWED, ALLOWED),
    "read-only-admin-without-as_admin": (READONLY_ADMIN_TOKEN, False, "alice-ws1", NOT_FOUND, NOT_FOUND),
    "read-only-admin-with-as_admin": (READONLY_ADMIN_TOKEN, True, "alice-ws1", ALLOWED, DENIED),
}

# operation: (is a write, params for a job id and as_admin)
OPERATIONS: dict[str, tuple[bool, Callable[[str, bool], list[Any]]]] = {
    "check_job": (False, lambda job, admin: [{"job_id": job, "as_admin": admin}]),
    "get_job_logs": (False, lambda job, admin: [{"job_id": job, "as_admin": admin}]),
    "cancel_job": (True, lambda job, admin: [{"job_id": job, "as_admin": admin}]),
    "add_job_logs": (
        True,
        lambda job, admin: [{"job_id": job, "as_admin": admin}, [{"line": "hi", "is_error": 0}]],
    ),
}


async def job_record(deps: Deps, job_id: str) -> tuple[str, int]:
    """The job's status and log line count, read from the store."""
    job = (await deps.store.get_jobs([job_id]))[job_id]
    _, lines = await deps.store.get_logs(job_id, 0, 1)
    return job.status.value, lines


@pytest.mark.parametrize("operation", list(OPERATIONS))
@pytest.mark.parametrize("caller", list(CALLERS))
async def test_permission_matrix(
    client: TestClient, rpc: Rpc, deps: Deps, jobs: dict[str, str], caller: str, operation: str
) -> None:
    token, as_admin, which, read_outcome, write_outcome = CALLERS[caller]
    is_write, params = OPERATIONS[operation]
    expected = write_outcome if is_write else read_outcome
    job_id = jobs[which]
    before = await job_record(deps, job_id)

    status, body = rpc(client, operation, params(job_id, as_admin), token)

    after = await job_record(deps, job_id)
    if expected is ALLOWED:
        assert status == 200, body
        if operation == "cancel_job":
            assert after == ("terminated", before[1])
        elif operation == "add_job_logs":
            assert after == (before[0], before[1] + 1)
        else:
            assert after == before
        if operation == "check_job":
            assert body["result"][0]["job_id"] == job_id
    else:
        assert status == 500, body
        assert body["error"]["code"] == expected, body["error"]
        assert after == before


def _one_id(job_id: str) -> list[Any]:
    return [{"job_id": job_id}]


# method: params naming one job
NAMING_ONE_JOB: dict[str, Callable[[str], list[Any]]] = {
    "check_job": _one_id,
    "check_jobs": lambda job_id: [{"job_ids": [job_id]}],
    "check_job_batch": _one_id,
    "check_job_canceled": _one_id,
    "get_job_params": _one_id,
    "get_job_logs": _one_id,
    "cancel_job": _one_id,
    "start_job": _one_id,
    "finish_job": _one_id,
    "add_job_logs": lambda job_id: [{"job_id": job_id}, [{"line": "x", "is_error": 0}]],
    "retry_job": _one_id,
    "get_job_lineage": _one_id,
}


@pytest.mark.parametrize("method", list(NAMING_ONE_JOB))
def test_a_non_admin_cannot_tell_a_job_not_theirs_from_a_missing_one(
    client: TestClient, rpc: Rpc, jobs: dict[str, str], method: str
) -> None:
    hidden, params = jobs["bob-ws2"], NAMING_ONE_JOB[method]

    s_hidden, b_hidden = rpc(client, method, params(hidden), ALICE_TOKEN)
    s_missing, b_missing = rpc(client, method, params(MISSING_ID), ALICE_TOKEN)

    assert (s_hidden, s_missing) == (500, 500)
    e_hidden, e_missing = b_hidden["error"], b_missing["error"]
    assert e_hidden["code"] == e_missing["code"] == NOT_FOUND
    assert e_hidden["name"] == e_missing["name"]
    assert e_hidden["message"].replace(hidden, "<id>") == e_missing["message"].replace(MISSING_ID, "<id>")
    assert "bob" not in e_hidden["message"]


def test_a_workspace_reader_cannot_cancel_but_the_error_names_what_is_missing(
    client: TestClient, rpc: Rpc, jobs: dict[str, str]
) -> None:
    status, body = rpc(client, "cancel_job", [{"job_id": jobs["alice-ws1"]}], BOB_TOKEN)

    assert status == 500
    assert "write" in body["error"]["message"]


@pytest.mark.parametrize(
    ("token", "fields", "code"),
    [
        pytest.param(BOB_TOKEN, {"wsid": 1}, DENIED, id="reader-runs-in-workspace"),
        pytest.param(ALICE_TOKEN, {"wsid": 2}, DENIED, id="stranger-runs-in-workspace"),
        pytest.param(ALICE_TOKEN, {"wsid": 1, "as_admin": 1}, DENIED, id="user-with-as_admin"),
        pytest.param(
            READONLY_ADMIN_TOKEN, {"wsid": 1, "as_admin": 1}, DENIED, id="read-only-admin-with-as_admin"
        ),
        pytest.param(
            ALICE_TOKEN,
            {"wsid": 1, "job_requirements": {"request_cpus": 8}},
            DENIED,
            id="user-sets-requirements",
        ),
    ],
)
async def test_running_a_job_needs_write_access_to_its_workspace(
    client: TestClient,
    rpc: Rpc,
    deps: Deps,
    sched: FakeScheduler,
    token: str,
    fields: dict[str, Any],
    code: int,
) -> None:
    status, body = rpc(client, "run_job", [{"method": "Demo.succeed", **fields}], token)

    assert status == 500, body
    assert body["error"]["code"] == code
    assert await deps.store.find_jobs(JobQuery()) == []
    assert sched.submit_calls == 0


async def test_an_admin_with_as_admin_may_run_in_any_workspace_and_set_requirements(
    client: TestClient, rpc: Rpc, deps: Deps
) -> None:
    params = {"method": "Demo.succeed", "wsid": 2, "as_admin": 1, "job_requirements": {"request_cpus": 8}}

    status, body = rpc(client, "run_job", [params], ADMIN_TOKEN)

    assert status == 200, body
    [job] = await deps.store.find_jobs(JobQuery())
    assert job.wsid == 2
    assert job.job_input is not None and job.job_input.requirements.cpus == 8
