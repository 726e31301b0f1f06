"""The job-side runner an HTCondor job executes: `runner.py <job_id> <service_url>`.

It asks the service what to run (`get_job_params`), marks the job running (`start_job`), runs the
job's command with the same environment the local executor gives (`EE_RETRY_JOB_ID`, `_METHOD`,
`_PARAMS`, `_SERVICE_VER`), streams its output lines back (`add_job_logs`, in chunks), reports the
outcome (`finish_job`) and exits with the command's exit code. The token comes from `KB_AUTH_TOKEN`
and is sent only in the Authorization header. Standard library only, and no ee_retry imports, so the
file can be shipped on its own to execute nodes that have nothing but Python 3.

The command is `EE_RETRY_RUNNER_COMMAND` (split like a shell would), by default
`<this python> -m ee_retry.demo.demo_app`. On success the job output is the last stdout line when it
is a JSON object (an SDK-style result), else `{"stdout_tail": ...}`.
"""

from __future__ import annotations

import json
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
CALL_ATTEMPTS = 4  # a call is retried on connection errors and 5xx without a JSON-RPC error body
RETRY_BACKOFF_S = 2.0  # first pause between attempts; doubles each time
LOG_CHUNK_LINES = 500  # lines per add_job_logs call (the service accepts up to 10 000)
LOG_FLUSH_S = 5.0  # send buffered lines at least this often while the job runs
TAIL_CHARS = 4_000  # stdout tail kept as job output, stderr tail kept in the error message
RUNNER_FAILURE_EXIT = 3  # the runner itself could not run the job (service unreachable, refused)
JOB_CRASHED = 1  # ee2 error_code for a job that exited non-zero


class ServiceError(Exception):
    """The service answered with a JSON-RPC error, or could not be reached."""


class ServiceClient:
    """A minimal KBase JSON-RPC 1.1 client for the runner's callbacks."""

    def __init__(self, url: str, token: str, timeout_s: float = CALL_TIMEOUT_S) -> None:
        self.url = url
        self._token = token
        self._timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"ServiceClient({self.url!r})"

    def call(self, method: str, *params: Any) -> Any:
        """Call `execution_engine2.<method>` and return the first result (None if there is none)."""
        body = json.dumps(
            {
                "version": "1.1",
                "method": f"{SERVICE}.{method}",
                "params": list(params),
                "id": str(uuid.uuid4()),
            }
        ).encode()
        pause = RETRY_BACKOFF_S
        for attempt in range(1, CALL_ATTEMPTS + 1):
            try:
                return self._post(method, body)
            except _Transient as exc:
                if attempt == CALL_ATTEMPTS:
                    raise ServiceError(f"{method}: {exc}") from None
                time.sleep(pause)
                pause *= 2
        raise AssertionError("unreachable")

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
        try:
            self._client.call("add_job_logs", {"job_id": self._job_id}, batch)
        except ServiceError as exc:
            self.failed_sends += 1
            print(f"ee-retry-runner: could not send {len(batch)} log lines: {exc}", file=sys.stderr)


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


def job_output(stdout_tail: str) -> Any:
    """The last stdout line if it is a JSON object, else the stdout tail."""
    lines = [ln for ln in stdout_tail.splitlines() if ln.strip()]
    if lines:
        try:
            last = json.loads(lines[-1])
        except ValueError:
            last = None
        if isinstance(last, dict):
            return last
    return {"stdout_tail": stdout_tail}


def run(job_id: str, service_url: str, env: Mapping[str, str]) -> int:
    """Run one job end to end; return the exit code the HTCondor job should end with."""
    client = ServiceClient(service_url, env.get("KB_AUTH_TOKEN", ""))
    try:
        params = client.call("get_job_params", {"job_id": job_id})
        if not isinstance(params, dict) or "method" not in params:
            raise ServiceError(f"get_job_params: job {job_id} has nothing to run")
        client.call("start_job", {"job_id": job_id})
    except ServiceError as exc:
        print(f"ee-retry-runner: {exc}", file=sys.stderr)
        return RUNNER_FAILURE_EXIT
    code, shipper = _execute(client, job_id, job_command(env), job_env(env, job_id, params))
    try:
        if code == 0:
            client.call("finish_job", {"job_id": job_id, "job_output": job_output(shipper.stdout_tail)})
        else:
            message = _failure_message(code, shipper.stderr_tail)
            client.call("finish_job", {"job_id": job_id, "error_message": message, "error_code": JOB_CRASHED})
    except ServiceError as exc:
        print(f"ee-retry-runner: {exc}", file=sys.stderr)
        return code or RUNNER_FAILURE_EXIT
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
