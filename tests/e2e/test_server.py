"""The real server process, on the embedded store and on MongoDB over the wire: jobs run, survive
SIGKILL, and can be retried."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from bson import ObjectId

from tests.conftest import store_mongo_uri
from tests.e2e.server import Server, running

pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", "mongo"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    with running(tmp_path / "data", store_mongo_uri(request, request.param)) as srv:
        yield srv


def test_a_failing_and_a_succeeding_demo_job_end_error_and_completed(server: Server) -> None:
    ok = server.result("run_job", [{"method": "Demo.succeed", "params": [{"n": 1}], "wsid": 1}])
    bad = server.result("run_job", [{"method": "Demo.fail", "params": [{}], "wsid": 1}])
    done = server.wait_status(ok, {"completed", "error"})
    failed = server.wait_status(bad, {"completed", "error"})
    assert done["status"] == "completed"
    assert done["job_output"]["result"] == [{"method": "Demo.succeed", "params": [{"n": 1}]}]
    assert failed["status"] == "error"
    assert failed["error_code"] == 1
    assert "exited with code 1" in failed["errormsg"]
    assert failed["job_input"]["service_ver"] == "52ea58866b80a931944b028dd66b9b3a906be270"


def test_sigkill_loses_no_job_and_running_jobs_become_error(server: Server) -> None:
    done = server.result("run_job", [{"method": "Demo.succeed", "params": [{}], "wsid": 1}])
    server.wait_status(done, {"completed"})
    slow = server.result("run_job", [{"method": "Demo.sleep", "params": [{"seconds": 60}], "wsid": 1}])
    server.wait_status(slow, {"running"})
    server.kill9()
    server.start()
    assert server.result("check_job", [{"job_id": done}])["status"] == "completed"
    lost = server.wait_status(slow, {"error"})
    assert "service stopped while this job was running" in lost["errormsg"]


def test_a_failed_job_whose_cause_is_fixed_completes_when_retried(server: Server, tmp_path: Path) -> None:
    needed = tmp_path / "input.txt"
    job_id = server.result(
        "run_job", [{"method": "Demo.fail_unless_file", "params": [{"path": str(needed)}], "wsid": 1}]
    )
    failed = server.wait_status(job_id, {"error", "completed"})
    assert failed["status"] == "error"
    assert "missing input" in failed["errormsg"]
    needed.write_text("now it exists")
    answer = server.result("retry_job", [{"job_id": job_id}])
    assert answer["job_id"] == job_id
    attempt = server.wait_status(answer["retry_id"], {"error", "completed"})
    assert attempt["status"] == "completed"
    assert attempt["retry_parent"] == job_id
    original = server.result("check_job", [{"job_id": job_id}])
    assert original["retry_ids"] == [answer["retry_id"]]
    assert original["retry_count"] == 1


def test_errors_are_json_rpc_errors_with_http_500(server: Server) -> None:
    status, body = server.call("check_job", [{"job_id": {"$ne": None}}])
    assert status == 500
    assert body["error"]["code"] == -32602
    assert "24 hexadecimal" in body["error"]["message"]


def test_no_token_is_written_to_the_log_the_store_or_a_job_folder(server: Server) -> None:
    """Valid, rejected and admin tokens pass through every path: none of them lands on disk."""
    rejected = "rejected-token-5b7e0c"
    job_id = server.result("run_job", [{"method": "Demo.fail", "params": [{}], "wsid": 1}])
    server.wait_status(job_id, {"error"})
    server.result("retry_job", [{"job_id": job_id, "idempotency_key": "k-1"}])
    server.result("check_job", [{"job_id": job_id, "as_admin": True}], token="admin-token")
    status, _ = server.call("check_job", [{"job_id": job_id}], token=rejected)
    assert status == 500
    status, _ = server.call("cancel_job", [{"job_id": job_id}], token="bob-token")
    assert status == 500
    server.stop()

    files = [p for p in server.data_dir.rglob("*") if p.is_file()]
    assert server.log in files
    stored = {path.name: path.read_bytes() for path in files}
    if server.mongo_uri is None:
        assert any(p.suffix == ".sqlite3" for p in files)
    else:
        documents = server.stored_documents()
        assert any(doc.get("_id") == ObjectId(job_id) for doc in documents)
        stored["MongoDB documents"] = repr(documents).encode()
    for name, content in stored.items():
        for token in ("alice-token", "admin-token", "bob-token", rejected):
            assert token.encode() not in content, f"{token} found in {name}"


def test_the_data_folder_and_job_files_are_private_to_the_service_user(server: Server) -> None:
    """Job params and output are readable by the service's user only, whatever the umask."""
    job_id = server.result("run_job", [{"method": "Demo.succeed", "params": [{"secret": 1}], "wsid": 1}])
    server.wait_status(job_id, {"completed"})

    assert stat.S_IMODE(server.data_dir.stat().st_mode) == 0o700
    made = [p for p in server.data_dir.rglob("*") if p != server.log]
    assert any(p.is_file() and job_id in str(p) for p in made)
    for path in made:
        wanted = 0o700 if path.is_dir() else 0o600
        assert stat.S_IMODE(path.stat().st_mode) == wanted, f"{path.relative_to(server.data_dir)}"


@pytest.mark.parametrize(
    "value",
    [{"s": "\ud800"}, {"a.b": 1}, {"$set": 1}, {"k\x00": 1}, {"n": 2**63}],
    ids=["lone-surrogate", "dotted-key", "dollar-key", "nul-key", "int-over-int64"],
)
def test_a_value_no_store_can_hold_is_invalid_params_and_leaves_nothing_behind(
    server: Server, value: dict[str, object]
) -> None:
    status, body = server.call("run_job", [{"method": "Demo.succeed", "params": [value], "wsid": 1}])
    batch_status, _ = server.call(
        "run_job_batch", [[{"method": "Demo.succeed", "params": [value]}], {"wsid": 1}]
    )

    assert status == 500 and batch_status == 500
    assert body["error"]["code"] == -32602
    assert body["error"]["message"].startswith('Invalid params at params[0]["params"][0]')
    assert server.stored_records() == 0
    assert (
        server.result("check_jobs_date_range_for_user", [{"start_time": 0, "end_time": 2**40}])["count"] == 0
    )
