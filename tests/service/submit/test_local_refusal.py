"""A submission the local executor refuses for good (here: the catalog gives the app no command to
run): the caller is told what was refused and that nothing was submitted, the request is rolled back
at once, and reconcile has nothing left to do (it would only be refused again)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from ee_retry.adapters.kbase.static import FileCatalog
from ee_retry.adapters.local.executor import LocalExecutor
from ee_retry.adapters.store.sqlite import SqliteJobStore
from ee_retry.domain.model import OperationState
from ee_retry.domain.values import JobQuery, OperationQuery
from ee_retry.errors import InvalidParams
from ee_retry.service.repair.reconcile import reconcile
from ee_retry.service.submit.requests import RunRequest
from ee_retry.service.submit.run import run_job
from ee_retry.testing import harness

pytestmark = pytest.mark.slow

COMMIT = "52ea58866b80a931944b028dd66b9b3a906be270"


async def test_a_submission_the_local_executor_refuses_is_rolled_back_and_the_error_says_so(
    tmp_path: Path,
) -> None:
    catalog = tmp_path / "catalog.json"
    version = {"git_commit_hash": COMMIT, "tags": ["release"]}  # no "command"
    catalog.write_text(json.dumps({"modules": {"Demo": {"versions": [version]}}}))
    executor = LocalExecutor(tmp_path / "local")
    store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    deps = replace(harness.service_deps(store, executor), catalog=FileCatalog(catalog))
    await store.setup()
    try:
        alice = await harness.user(deps, harness.ALICE_TOKEN)

        with pytest.raises(InvalidParams) as refused:
            await run_job(deps, alice, RunRequest("Demo.fail", wsid=1))

        message = refused.value.message
        assert message.startswith("The local executor refused the submission: ")
        assert "has no command to run" in message
        assert message.endswith("Nothing was submitted.")
        assert "reconcile" not in message
        (op,) = await store.find_operations(OperationQuery())
        assert op.state is OperationState.ROLLED_BACK
        assert await store.find_jobs(JobQuery()) == []
        assert await executor.poll() == []
        assert await reconcile(deps, grace_s=0) == []
    finally:
        await executor.close()
        await store.close()
