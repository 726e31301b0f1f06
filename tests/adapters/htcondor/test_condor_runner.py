"""The job-side runner, run as HTCondor would run it (a subprocess with <job_id> <service_url> and
KB_AUTH_TOKEN), against a small JSON-RPC service that records every callback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import ee_retry.runner as runner_module

pytestmark = pytest.mark.slow  # runs the runner and its job as real processes

JOB_ID = "66aa00000000000000000042"
TOKEN = "RUNNERTOKEN123"
REPO = Path(__file__).resolve().parents[3]
WRAPPER = REPO / "condor_config" / "ee-retry-runner"


@dataclass
class FakeService:
    """Answers the runner's JSON-RPC calls and records them (method, params, Authorization)."""

    job_params: dict[str, Any]
    refuse: set[str] = field(default_factory=set)
    unavailable: dict[str, int] = field(default_factory=dict)  # method -> calls to answer 503, no body
    calls: list[tuple[str, list[Any], str | None]] = field(default_factory=list)
    unanswered: list[tuple[str, list[Any]]] = field(default_factory=list)
    url: str = ""

    def answer(self, body: dict[str, Any], auth: str | None) -> tuple[int, dict[str, Any] | None]:
        method = str(body["method"]).removeprefix("execution_engine2.")
        if self.unavailable.get(method, 0) > 0:
            self.unavailable[method] -= 1
            self.unanswered.append((method, body["params"]))
            return 503, None
        self.calls.append((method, body["params"], auth))
        if method in self.refuse:
            error = {"name": "Invalid status transition", "code": -32004, "message": f"Cannot {method}"}
            return 500, {"version": "1.1", "id": body["id"], "error": error}
        result = {"get_job_params": self.job_params, "add_job_logs": {"success": True}}.get(method)
        return 200, {"version": "1.1", "id": body["id"], "result": [result] if result is not None else []}

    def methods(self) -> list[str]:
        return [c[0] for c in self.calls]

    def logged_lines(self) -> list[dict[str, Any]]:
        return [line for m, p, _ in self.calls if m == "add_job_logs" for line in p[1]]

    def finish(self) -> dict[str, Any]:
        [params] = [p[0] for m, p, _ in self.calls if m == "finish_job"]
        return dict(params)


@pytest.fixture
def service() -> Iterator[FakeService]:
    fake = FakeService(job_params={"method": "Demo.succeed", "params": [{"n": 1}], "service_ver": "abc123"})

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status, answer = fake.answer(body, self.headers.get("Authorization"))
            data = b"Service Unavailable" if answer is None else json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def runner_process(
    service: FakeService, command: str | None = None, argv: list[str] | None = None, **env: str
) -> subprocess.CompletedProcess[bytes]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("EE_RETRY_")}
    environ.update(KB_AUTH_TOKEN=TOKEN, **env)
    if command is not None:
        environ["EE_RETRY_RUNNER_COMMAND"] = command
    args = argv or [sys.executable, "-m", "ee_retry.runner", JOB_ID, service.url]
    return subprocess.run(args, env=environ, capture_output=True, timeout=60, check=False)


def run_runner(
    service: FakeService, command: str | None = None, argv: list[str] | None = None, **env: str
) -> int:
    return runner_process(service, command, argv, **env).returncode


def test_a_successful_job_is_started_logged_and_finished_with_its_output(service: FakeService) -> None:
    assert run_runner(service) == 0
    assert service.methods() == ["get_job_params", "start_job", "add_job_logs", "finish_job"]
    assert {auth for _, _, auth in service.calls} == {TOKEN}
    assert service.calls[0][1] == [{"job_id": JOB_ID}]
    [line] = service.logged_lines()
    assert not line["is_error"]
    finish = service.finish()
    assert finish["job_id"] == JOB_ID
    assert finish["job_output"]["result"] == [{"method": "Demo.succeed", "params": [{"n": 1}]}]


def test_a_failed_job_finishes_with_its_error_and_its_exit_code(service: FakeService) -> None:
    service.job_params = {"method": "Demo.fail", "params": [{"exit_code": 7}], "service_ver": "abc123"}
    assert run_runner(service) == 7
    finish = service.finish()
    assert finish["error_code"] == 1
    assert "exit code 7" in finish["error_message"]
    assert "failing on purpose" in finish["error_message"]
    assert [ln["is_error"] for ln in service.logged_lines()] == [True]


def test_the_job_sees_the_same_environment_the_local_executor_gives(
    service: FakeService, tmp_path: Path
) -> None:
    out = tmp_path / "env.json"
    keys = ["EE_RETRY_JOB_ID", "EE_RETRY_METHOD", "EE_RETRY_PARAMS", "EE_RETRY_SERVICE_VER"]
    script = f"import json, os; json.dump({{k: os.environ[k] for k in {keys!r}}}, open({str(out)!r}, 'w'))"
    assert run_runner(service, command=f'python -c "{script}"') == 0
    assert json.loads(out.read_text()) == {
        "EE_RETRY_JOB_ID": JOB_ID,
        "EE_RETRY_METHOD": "Demo.succeed",
        "EE_RETRY_PARAMS": '[{"n": 1}]',
        "EE_RETRY_SERVICE_VER": "abc123",
    }


def test_many_output_lines_are_sent_in_order_in_bounded_chunks(service: FakeService) -> None:
    script = "import sys\nfor i in range(1200): print(f'line {i}')"
    assert run_runner(service, command=f'python -c "{script}"') == 0
    chunks = [p[1] for m, p, _ in service.calls if m == "add_job_logs"]
    assert all(len(chunk) <= runner_module.LOG_CHUNK_LINES for chunk in chunks)
    assert [ln["line"] for ln in service.logged_lines()] == [f"line {i}" for i in range(1200)]
    assert service.finish()["job_output"]["stdout_tail"].endswith("line 1199\n")


def test_a_job_the_service_will_not_start_is_not_run(service: FakeService, tmp_path: Path) -> None:
    service.refuse.add("start_job")
    marker = tmp_path / "ran"
    code = run_runner(service, command=f"python -c \"open({str(marker)!r}, 'w')\"")
    assert code == runner_module.RUNNER_FAILURE_EXIT
    assert not marker.exists()
    assert service.methods() == ["get_job_params", "start_job"]


def test_a_command_that_cannot_start_fails_the_job(service: FakeService) -> None:
    assert run_runner(service, command="/nonexistent/program") == 127
    assert "could not start" in service.finish()["error_message"]


def test_the_runner_needs_exactly_a_job_id_and_a_url(service: FakeService) -> None:
    assert run_runner(service, argv=[sys.executable, "-m", "ee_retry.runner", JOB_ID]) == 2
    assert service.calls == []


def test_runner_py_runs_alone_without_ee_retry_installed(service: FakeService, tmp_path: Path) -> None:
    copy = tmp_path / "runner.py"
    shutil.copy(runner_module.__file__, copy)
    argv = [sys.executable, "-S", "-I", str(copy), JOB_ID, service.url]  # no site-packages: stdlib only
    assert run_runner(service, command="python -c \"print('ok')\"", argv=argv) == 0
    assert service.finish()["job_output"] == {"stdout_tail": "ok\n"}


def test_the_wrapper_script_runs_the_runner_and_passes_its_exit_code(service: FakeService) -> None:
    argv = ["/bin/sh", str(WRAPPER), JOB_ID, service.url]
    code = run_runner(
        service, command='python -c "raise SystemExit(5)"', argv=argv, EE_RETRY_PYTHON=sys.executable
    )
    assert code == 5
    assert service.methods()[-1] == "finish_job"


def test_the_service_client_repr_does_not_show_the_token() -> None:
    client = runner_module.ServiceClient("http://x/", TOKEN)
    assert TOKEN not in repr(client)
    assert TOKEN not in str(vars(client).get("url"))


# ---------------------------------------------------------------- an unreachable service

FAST_RETRIES = 5.0  # seconds: a test's retry budget; the first pause is shortened to 10 ms


@pytest.fixture
def fast_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner_module, "RETRY_FIRST_PAUSE_S", 0.01)


def runner_env(command: str, retry_s: float = FAST_RETRIES) -> dict[str, str]:
    return {"KB_AUTH_TOKEN": TOKEN, "EE_RETRY_RUNNER_COMMAND": command, runner_module.RETRY_ENV: f"{retry_s}"}


@pytest.mark.usefixtures("fast_pauses")
def test_a_service_that_comes_back_after_a_few_failures_is_waited_for(
    service: FakeService, capsys: pytest.CaptureFixture[str]
) -> None:
    service.unavailable = {"get_job_params": 3, "start_job": 2, "add_job_logs": 1, "finish_job": 3}
    assert runner_module.run(JOB_ID, service.url, runner_env("python -c \"print('ok')\"")) == 0
    assert service.methods() == ["get_job_params", "start_job", "add_job_logs", "finish_job"]
    assert [m for m, _ in service.unanswered] == ["get_job_params"] * 3 + ["start_job"] * 2 + [
        "add_job_logs",
        "finish_job",
        "finish_job",
        "finish_job",
    ]
    assert service.finish()["job_output"] == {"stdout_tail": "ok\n"}
    assert capsys.readouterr().err == ""


@pytest.mark.usefixtures("fast_pauses")
def test_a_service_that_never_answers_is_given_up_on_after_the_budget_and_nothing_runs(
    service: FakeService, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    service.unavailable = {"get_job_params": 1_000_000}
    marker = tmp_path / "ran"
    env = runner_env(f"python -c \"open({str(marker)!r}, 'w')\"", retry_s=0.5)
    started = time.monotonic()
    assert runner_module.run(JOB_ID, service.url, env) == runner_module.RUNNER_FAILURE_EXIT
    assert time.monotonic() - started >= 0.5
    assert len(service.unanswered) > 2
    assert not marker.exists()
    err = capsys.readouterr().err
    assert "get_job_params: HTTP 503 (no answer within 0.5 s)" in err
    assert TOKEN not in err


@pytest.mark.parametrize("exit_code", [0, 5])
def test_when_finish_job_cannot_be_delivered_the_runner_exits_with_the_commands_own_code(
    service: FakeService, exit_code: int
) -> None:
    """The scheduler's exit status then carries the outcome: exit 0 is mapped to completed."""
    service.unavailable = {"finish_job": 1_000_000}
    command = f'python -c "raise SystemExit({exit_code})"'
    done = runner_process(service, command, None, **{runner_module.RETRY_ENV: "0"})
    assert done.returncode == exit_code
    assert [m for m, _ in service.unanswered] == ["finish_job"]  # a budget of 0: one attempt
    assert f"exiting with the job's exit code {exit_code}" in done.stderr.decode()
    assert TOKEN not in done.stderr.decode()


@pytest.mark.usefixtures("fast_pauses")
def test_log_lines_that_cannot_be_sent_are_counted_on_stderr_and_the_job_still_finishes(
    service: FakeService, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """After one chunk went unanswered for the whole budget, later chunks get one attempt each."""
    monkeypatch.setattr(runner_module, "LOG_CHUNK_LINES", 2)
    service.unavailable = {"add_job_logs": 1_000_000}
    script = "for i in range(5): print(i)"
    assert runner_module.run(JOB_ID, service.url, runner_env(f'python -c "{script}"', retry_s=0.3)) == 0
    assert service.methods() == ["get_job_params", "start_job", "finish_job"]
    attempts = [[ln["line"] for ln in params[1]] for m, params in service.unanswered]
    assert attempts[-2:] == [["2", "3"], ["4"]]
    assert set(map(tuple, attempts[:-2])) == {("0", "1")} and len(attempts) > 3
    err = capsys.readouterr().err
    assert "5 log lines in 3 chunks could not be sent to the service" in err
    assert TOKEN not in err


@pytest.mark.parametrize(
    ("value", "budget"), [(None, 600.0), ("2.5", 2.5), ("0", 0.0), ("soon", 600.0), ("-1", 600.0)]
)
def test_the_retry_budget_comes_from_the_environment_with_a_ten_minute_default(
    value: str | None, budget: float
) -> None:
    env = {} if value is None else {runner_module.RETRY_ENV: value}
    assert runner_module.retry_budget(env) == budget
