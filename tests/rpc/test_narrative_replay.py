"""The KBase Narrative's job manager, replayed call by call with its exact params (kbase/narrative,
src/biokbase/narrative/jobs/: appmanager.py, jobmanager.py, job.py), checking the shapes it reads."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from ee_retry.testing.harness import ALICE_TOKEN
from ee_retry.testing.scheduler import FakeScheduler
from tests.kbase_client import EE2Client

WS_ID = 1  # the narrative's workspace

# The field lists job.py excludes: when a narrative opens, and on each refresh.
INIT_EXCLUDED = [
    "authstrat",
    "condor_job_ads",
    "retry_saved_toggle",
    "scheduler_type",
    "scheduler_id",
    "updated",
]
REFRESH_EXCLUDED = [*INIT_EXCLUDED, "job_input"]

# What Job objects read from a state (job.py's accessors), at the top level and in job_input.
READ_AT_TOP = (
    "job_id",
    "status",
    "created",
    "batch_job",
    "batch_id",
    "child_jobs",
    "retry_ids",
    "user",
    "wsid",
)
READ_IN_INPUT = ("app_id", "service_ver", "params")
READ_IN_CELL_INFO = ("cell_id", "run_id", "tag")


def app_inputs(cell: str, run: str, x: int) -> dict[str, Any]:
    """What appmanager's _build_run_job_params builds for EE2.run_job (plus wsid for a single app)."""
    return {
        "method": "Demo.succeed",
        "service_ver": "release",
        "params": [{"x": x}],
        "app_id": "Demo/succeed",
        "meta": {"tag": "release", "cell_id": cell, "run_id": run, "token_id": "agent-token-id"},
    }


@pytest.fixture
def ee2(client: TestClient) -> EE2Client:
    """The Narrative's clients.get("execution_engine2"): the user's (agent) token."""
    return EE2Client(client, ALICE_TOKEN)


def check_init_state(state: dict[str, Any]) -> None:
    for key in READ_AT_TOP:
        assert key in state, f"the Narrative reads {key}"
    assert not set(INIT_EXCLUDED) & set(state)
    assert isinstance(state["child_jobs"], list) and isinstance(state["retry_ids"], list)
    assert isinstance(state["batch_job"], bool) and isinstance(state["created"], int)
    if not state["batch_job"]:
        for key in READ_IN_INPUT:
            assert key in state["job_input"]
        assert set(READ_IN_CELL_INFO) <= set(state["job_input"]["narrative_cell_info"])


async def test_the_narratives_job_manager_works_unchanged(ee2: EE2Client, sched: FakeScheduler) -> None:
    # AppManager.run_app and run_app_batch
    single = ee2.run_job({**app_inputs("cell-1", "run-1", 1), "wsid": WS_ID})
    batch = ee2.run_job_batch([app_inputs("cell-2", "run-2", i) for i in range(2)], {"wsid": WS_ID})
    children = batch["child_job_ids"]

    # JobManager.initialize_jobs: the narrative opens
    states = ee2.check_workspace_jobs(
        {"workspace_id": WS_ID, "return_list": 0, "exclude_fields": INIT_EXCLUDED}
    )
    assert set(states) == {single, batch["batch_id"], *children}
    for job_id, state in states.items():
        assert state["job_id"] == job_id
        check_init_state(state)
    container = states[batch["batch_id"]]
    assert container["batch_job"] is True and container["child_jobs"] == children
    assert states[children[0]]["batch_id"] == batch["batch_id"]
    cell_info = states[single]["job_input"]["narrative_cell_info"]
    assert (cell_info["cell_id"], cell_info["run_id"], cell_info["tag"]) == ("cell-1", "run-1", "release")

    # the jobs run: one logs and succeeds, one child fails
    await sched.start(single)
    ee2.add_job_logs(
        {"job_id": single}, [{"line": "step 1", "is_error": 0}, {"line": "step 2", "is_error": 0}]
    )
    await sched.complete(single, exit_code=0, output='{"version": "1.1", "result": [{"report": "r"}]}')
    await sched.complete(children[0], exit_code=1, error="boom")

    # JobManager refresh: Job.query_ee2_states
    refreshed = ee2.check_jobs(
        {"job_ids": [single, *children], "exclude_fields": REFRESH_EXCLUDED, "return_list": 0}
    )
    assert list(refreshed) == [single, *children]
    assert refreshed[single]["status"] == "completed" and "finished" in refreshed[single]
    assert refreshed[single]["job_output"]["result"] == [{"report": "r"}]
    assert refreshed[children[0]]["status"] == "error" and refreshed[children[0]]["errormsg"]
    assert all("job_input" not in s for s in refreshed.values())

    # Job._update_log: the first call, then only new lines
    first = ee2.get_job_logs({"job_id": single, "skip_lines": 0})
    ee2.add_job_logs({"job_id": single}, [{"line": "step 3", "is_error": 1}])
    more = ee2.get_job_logs({"job_id": single, "skip_lines": len(first["lines"])})
    assert [ln["line"] for ln in first["lines"]] == ["step 1", "step 2"]
    assert [(ln["line"], ln["is_error"]) for ln in more["lines"]] == [("step 3", True)]

    # JobManager.retry_jobs: a failed child, and a job that cannot be retried
    results = ee2.retry_jobs({"job_ids": [children[0], single]})
    assert [r["job_id"] for r in results] == [children[0], single]
    retry_id = results[0]["retry_id"]
    assert "error" in results[1] and "retry_id" not in results[1]
    retried = ee2.check_jobs(
        {"job_ids": [retry_id, children[0]], "exclude_fields": INIT_EXCLUDED, "return_list": 0}
    )
    assert retried[retry_id]["retry_parent"] == children[0]
    assert retried[children[0]]["retry_ids"] == [retry_id] and retried[children[0]]["retry_count"] == 1
    assert retried[retry_id]["batch_id"] == batch["batch_id"]

    # JobManager._cancel_job
    assert ee2.cancel_job({"job_id": children[1]}) is None
    after = ee2.check_jobs({"job_ids": [children[1]], "exclude_fields": REFRESH_EXCLUDED, "return_list": 0})
    assert after[children[1]]["status"] == "terminated" and after[children[1]]["terminated_code"] == 0

    # reopening the narrative sees the retry as a child of the batch
    reopened = ee2.check_workspace_jobs(
        {"workspace_id": WS_ID, "return_list": 0, "exclude_fields": INIT_EXCLUDED}
    )
    assert retry_id in reopened[batch["batch_id"]]["child_jobs"]
    for state in reopened.values():
        check_init_state(state)
