"""The job-side runner an HTCondor job executes: `runner.py <job_id> <service_url>`.

It asks the service what to run (`get_job_params`), marks the job running (`start_job`), runs the
job's command with the same environment the local executor gives (`EE_RETRY_JOB_ID`, `_METHOD`,
`_PARAMS`, `_SERVICE_VER`), streams its output lines back (`add_job_logs`, in chunks), reports the
outcome (`finish_job`) and exits with the command's exit code. The token comes from `KB_AUTH_TOKEN`
and is sent only in the Authorization header; it is never printed. Standard library only, and no
ee_retry imports, so the file can be shipped on its own to execute nodes that have nothing but Python 3.

The command is `EE_RETRY_RUNNER_COMMAND` (split like a shell would), by default
`<this python> -m ee_retry.demo.demo_app`. On success the job output is the last stdout line when it
is a JSON object (an SDK-style result), else `{"stdout_tail": ...}`.

A call the service does not answer (connection refused, timeout, 5xx without a JSON-RPC error) is
retried with capped exponential backoff for `EE_RETRY_RUNNER_RETRY_S` seconds (default 600), so a
service restart does not fail the jobs that call it meanwhile. A JSON-RPC error is final. When it
gives up:
- on `get_job_params` or `start_job`: the command is not run; exit RUNNER_FAILURE_EXIT (3);
- on `add_job_logs`: the chunk is dropped and its line count is reported on stderr, later chunks get
  one attempt each until one gets through (so an outage cannot stall the end of the job), and the
  total of lines not sent is reported on stderr at the end;
- on `finish_job`: exit with the command's own exit code, so the scheduler's exit status still
  carries the outcome (the status poller maps exit 0 to completed, anything else to error).
"""

from __future__ import annotations

import json
import math
import os
import queue
import shlex
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from typing import IO, Any

SERVICE = "execution_engine2"
CALL_TIMEOUT_S = 60.0  # one JSON-RPC call to the service
RETRY_ENV = "EE_RETRY_RUNNER_RETRY_S"
RETRY_BUDGET_S = 600.0  # how long a call is retried: outlasts a service restart or a short outage
RETRY_FIRST_PAUSE_S = 1.0  # first pause between attempts; doubles each time
RETRY_MAX_PAUSE_S = 30.0  # cap on one pause, so a service that comes back is found within 30 s
LOG_CHUNK_LINES = 500  # lines per add_job_logs call (the service accepts up to 10 000)
LOG_FLUSH_S = 5.0  # send buffered lines at least this often while the job runs
TAIL_CHARS = 4_000  # stdout tail kept as job output, stderr tail kept in the error message
RUNNER_FAILURE_EXIT = 3  # the runner itself could not run the job (service unreachable, refused)
JOB_CRASHED = 1  # ee2 error_code for a job that exited non-zero


class ServiceError(Exception):
    """The service answered with a JSON-RPC error, or could not be reached."""


class ServiceUnreachable(ServiceError):
    """The service did not answer within the retry budget."""


class ServiceClient:
    """A minimal KBase JSON-RPC 1.1 client for the runner's callbacks."""

    def __init__(
        self, url: str, token: str, timeout_s: float = CALL_TIMEOUT_S, retry_s: float = RETRY_BUDGET_S
    ) -> None:
        self.url = url
        self._token = token
        self._timeout_s = timeout_s
        self.retry_s = retry_s

    def __repr__(self) -> str:
        return f"ServiceClient({self.url!r})"

    def call(self, method: str, *params: Any, retry_s: float | None = None) -> Any:
        """Call `execution_engine2.<method>` and return the first result (None if there is none).

        An unanswered call is retried until `retry_s` (default: the client's budget) has passed.
        """
        body = json.dumps(
            {
                "version": "1.1",
                "method": f"{SERVICE}.{method}",
                "params": list(params),
                "id": str(uuid.uuid4()),
            }
        ).encode()
        budget = self.retry_s if retry_s is None else retry_s
        deadline = time.monotonic() + budget
        pause = RETRY_FIRST_PAUSE_S
        while True:
            try:
                return self._post(method, body)
            except _Transient as exc:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ServiceUnreachable(f"{method}: {exc} (no answer within {budget:g} s)") from None
                time.sleep(min(pause, left))
                pause = min(pause * 2, RETRY_MAX_PAUSE_S)

    def _post(self, method: str, body: bytes) -> Any:
        headers = {"Content-Type": "application/json"}
        if self._token:
            headers["Authorization"] = self._token
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:  # noqa: S310
                answer = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            answer = _error_body(exc)
            if answer is None:
                raise _Transient(f"HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise _Transient(str(getattr(exc, "reason", exc))) from None
        if not isinstance(answer, dict):
            raise ServiceError(f"{method}: the service sent something that is not a JSON-RPC answer")
        if answer.get("error"):
            err = answer["error"]
            message = err.get("message") if isinstance(err, dict) else str(err)
            raise ServiceError(f"{method}: {message}")
        result = answer.get("result")
        return result[0] if isinstance(result, list) and result else None


class _Transient(Exception):
    """Worth another attempt: the service was unreachable or answered 5xx without a JSON-RPC error."""


def _error_body(exc: urllib.error.HTTPError) -> dict[str, Any] | None:
    try:
        answer = json.loads(exc.read().decode("utf-8"))
    except (ValueError, OSError):
        return None
    return answer if isinstance(answer, dict) and answer.get("error") else None


class LogShipper:
    """Collects output lines from reader threads and sends them to the service in chunks."""

    def __init__(self, client: ServiceClient, job_id: str) -> None:
        self._client = client
        self._job_id = job_id
        self._lines: queue.Queue[tuple[str, bool] | None] = queue.Queue()
        self.stdout_tail = ""
        self.stderr_tail = ""
        self.failed_sends = 0
        self.failed_lines = 0
        self._unreachable = False  # the last chunk went unanswered: the next one gets a single attempt

    def reader(self, stream: IO[bytes], is_error: bool) -> threading.Thread:
        """A thread that feeds `stream`'s lines into the shipper, then a None when it ends."""

        def run() -> None:
            for raw in iter(stream.readline, b""):
                self._lines.put((raw.decode("utf-8", "replace").rstrip("\r\n"), is_error))
            self._lines.put(None)

        return threading.Thread(target=run, daemon=True)

    def pump(self, streams: int) -> None:
        """Ship lines until `streams` readers have ended."""
        batch: list[dict[str, Any]] = []
        last_sent = time.monotonic()
        while streams:
            try:
                item = self._lines.get(timeout=LOG_FLUSH_S)
            except queue.Empty:
                if batch:
                    self._send(batch)
                    batch, last_sent = [], time.monotonic()
                continue
            if item is None:
                streams -= 1
                continue
            line, is_error = item
            self._remember(line, is_error)
            batch.append({"line": line, "is_error": is_error, "ts": int(time.time() * 1000)})
            if len(batch) >= LOG_CHUNK_LINES or time.monotonic() - last_sent >= LOG_FLUSH_S:
                self._send(batch)
                batch, last_sent = [], time.monotonic()
        if batch:
            self._send(batch)

    def _remember(self, line: str, is_error: bool) -> None:
        if is_error:
            self.stderr_tail = (self.stderr_tail + line + "\n")[-TAIL_CHARS:]
        else:
            self.stdout_tail = (self.stdout_tail + line + "\n")[-TAIL_CHARS:]

    def _send(self, batch: list[dict[str, Any]]) -> None:
        retry_s = 0.0 if self._unreachable else None
        try:
            self._client.call("add_job_logs", {"job_id": self._job_id}, batch, retry_s=retry_s)
        except ServiceError as exc:
            self._unreachable = isinstance(exc, ServiceUnreachable)
            self.failed_sends += 1
            self.failed_lines += len(batch)
            print(f"ee-retry-runner: could not send {len(batch)} log lines: {exc}", file=sys.stderr)
        else:
            self._unreachable = False


def job_command(env: Mapping[str, str]) -> list[str]:
    """The argv to run: EE_RETRY_RUNNER_COMMAND, or the demo app under this Python."""
    text = env.get("EE_RETRY_RUNNER_COMMAND", "").strip()
    if not text:
        return [sys.executable, "-m", "ee_retry.demo.demo_app"]
    argv = shlex.split(text)
    if argv and argv[0] == "python":
        argv[0] = sys.executable
    return argv


def job_env(env: Mapping[str, str], job_id: str, job_params: Mapping[str, Any]) -> dict[str, str]:
    """The command's environment: ours plus what the local executor gives a job."""
    out = dict(env)
    out.update(
        EE_RETRY_JOB_ID=job_id,
        EE_RETRY_METHOD=str(job_params.get("method", "")),
        EE_RETRY_PARAMS=json.dumps(job_params.get("params", [])),
        EE_RETRY_SERVICE_VER=str(job_params.get("service_ver") or ""),
    )
    return out


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError("NaN and Infinity are not JSON")


def job_output(stdout_tail: str) -> Any:
    """The last stdout line if it is a JSON object, else the stdout tail. A line holding NaN, Infinity
    or a number too large for a float is not JSON, as for the service's request parser."""
    lines = [ln for ln in stdout_tail.splitlines() if ln.strip()]
    if lines:
        try:
            last = json.loads(lines[-1], parse_constant=_no_constant, parse_float=_finite)
        except ValueError:
            last = None
        if isinstance(last, dict):
            return last
    return {"stdout_tail": stdout_tail}


def retry_budget(env: Mapping[str, str]) -> float:
    """EE_RETRY_RUNNER_RETRY_S: seconds an unanswered call is retried (RETRY_BUDGET_S when unset)."""
    text = env.get(RETRY_ENV, "").strip()
    if not text:
        return RETRY_BUDGET_S
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        print(
            f"ee-retry-runner: {RETRY_ENV} is not a number of seconds >= 0; using {RETRY_BUDGET_S:g}",
            file=sys.stderr,
        )
        return RETRY_BUDGET_S
    return value


def run(job_id: str, service_url: str, env: Mapping[str, str]) -> int:
    """Run one job end to end; return the exit code the HTCondor job should end with."""
    client = ServiceClient(service_url, env.get("KB_AUTH_TOKEN", ""), retry_s=retry_budget(env))
    try:
        params = client.call("get_job_params", {"job_id": job_id})
        if not isinstance(params, dict) or "method" not in params:
            raise ServiceError(f"get_job_params: job {job_id} has nothing to run")
        client.call("start_job", {"job_id": job_id})
    except ServiceError as exc:
        print(f"ee-retry-runner: {exc}", file=sys.stderr)
        return RUNNER_FAILURE_EXIT
    code, shipper = _execute(client, job_id, job_command(env), job_env(env, job_id, params))
    if shipper.failed_lines:
        print(
            f"ee-retry-runner: {shipper.failed_lines} log lines in {shipper.failed_sends} chunks "
            "could not be sent to the service",
            file=sys.stderr,
        )
    try:
        if code == 0:
            client.call("finish_job", {"job_id": job_id, "job_output": job_output(shipper.stdout_tail)})
        else:
            message = _failure_message(code, shipper.stderr_tail)
            # the failure facts the service records (a negative return code is the killing signal)
            facts = {"exit_code": code, "signal": None} if code >= 0 else {"exit_code": None, "signal": -code}
            error = {"code": JOB_CRASHED, "name": "Job error", "message": message, **facts}
            client.call(
                "finish_job",
                {"job_id": job_id, "error_message": message, "error_code": JOB_CRASHED, "error": error},
            )
    except ServiceError as exc:
        print(f"ee-retry-runner: {exc}; exiting with the job's exit code {code}", file=sys.stderr)
    return code


def _execute(
    client: ServiceClient, job_id: str, argv: Sequence[str], env: Mapping[str, str]
) -> tuple[int, LogShipper]:
    shipper = LogShipper(client, job_id)
    try:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(env))
    except OSError as exc:
        shipper.stderr_tail = f"could not start {argv[0]}: {exc.strerror}"
        return 127, shipper
    with process:  # closes both pipes once the process has exited
        assert process.stdout is not None
        assert process.stderr is not None
        readers = [shipper.reader(process.stdout, False), shipper.reader(process.stderr, True)]
        for thread in readers:
            thread.start()
        shipper.pump(len(readers))
        code = process.wait()
    return (code if code >= 0 else 128 - code), shipper


def _failure_message(code: int, stderr_tail: str) -> str:
    detail = stderr_tail.strip()[-1_000:]
    text = f"The job exited with code {code}"
    return f"{text}: {detail}" if detail else text


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: ee-retry-runner <job_id> <service_url>  (token in KB_AUTH_TOKEN)", file=sys.stderr)
        return 2
    return run(args[0], args[1], os.environ)


if __name__ == "__main__":
    sys.exit(main())
