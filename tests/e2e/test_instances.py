"""Two service processes on one store: the second refuses to start and touches nothing of the first's."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import store_mongo_uri
from tests.e2e.server import Server, running

pytestmark = pytest.mark.slow


@pytest.fixture
def first(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """The live instance, on the store the test's `store` parameter names."""
    kind = request.node.callspec.params["store"]
    with running(tmp_path / "first", store_mongo_uri(request, kind)) as srv:
        yield srv


def job_pid(server: Server, job_id: str) -> int:
    return int((server.data_dir / "jobs" / job_id / "pid").read_text())


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def second_instance(first: Server, tmp_path: Path, same_folder: bool) -> Server:
    folder = first.data_dir if same_folder else tmp_path / "second"
    folder.mkdir(exist_ok=True)
    return Server(folder, first.mongo_uri, first.mongo_db, log=tmp_path / "second.log")


# The embedded store lives in the data folder, so on it another folder is another store.
@pytest.mark.parametrize(
    ("store", "same_folder"),
    [("sqlite", True), ("mongo", True), ("mongo", False)],
    ids=["sqlite-same-folder", "mongo-same-folder", "mongo-other-folder"],
)
def test_a_second_instance_on_the_same_store_refuses_to_start_and_the_first_keeps_its_jobs(
    store: str, first: Server, tmp_path: Path, same_folder: bool
) -> None:
    job_id = first.result("run_job", [{"method": "Demo.sleep", "params": [{"seconds": 60}], "wsid": 1}])
    first.wait_status(job_id, {"running"})
    pid = job_pid(first, job_id)

    code, output = second_instance(first, tmp_path, same_folder).start_refused()

    assert code != 0
    assert "another ee-retry instance" in output
    assert alive(pid)
    assert first.result("check_job", [{"job_id": job_id}])["status"] == "running"
    retry_status, retry = first.call("retry_job", [{"job_id": job_id}])
    assert retry_status == 500 and retry["error"]["code"] == -32005


@pytest.mark.parametrize("store", ["mongo"])
def test_once_the_first_instance_stops_another_folder_may_take_over_the_store(
    store: str, first: Server, tmp_path: Path
) -> None:
    job_id = first.result("run_job", [{"method": "Demo.succeed", "params": [{}], "wsid": 1}])
    first.wait_status(job_id, {"completed"})
    first.stop()

    second = second_instance(first, tmp_path, same_folder=False)
    second.start()
    try:
        assert second.result("check_job", [{"job_id": job_id}])["status"] == "completed"
    finally:
        second.stop()
