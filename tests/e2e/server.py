"""Start the real service (`python -m ee_retry`) on a free port, on the embedded defaults."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2

START_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One service process; `kill9` and `start` model a crash and a restart on the same data dir."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "server.log"

    def start(self) -> None:
        env = {**os.environ, "EE_RETRY_PORT": str(self.port), "EE_RETRY_DATA_DIR": str(self.data_dir)}
        env.pop("EE_RETRY_MONGO_URI", None)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "ee_retry"], env=env, stdout=out, stderr=out)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                httpx2.get(self.url, timeout=1.0)
                return
            except httpx2.TransportError:
                time.sleep(0.1)
        raise RuntimeError("server did not start in time")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def call(self, method: str, params: Any, token: str | None = "alice-token") -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": token} if token else {}
        body = {"version": "1.1", "method": f"execution_engine2.{method}", "params": params, "id": "1"}
        resp = httpx2.post(self.url, json=body, headers=headers, timeout=30.0)
        return resp.status_code, resp.json()

    def result(self, method: str, params: Any, token: str = "alice-token") -> Any:
        status, body = self.call(method, params, token)
        assert status == 200, body
        return body["result"][0]

    def wait_status(self, job_id: str, wanted: set[str], timeout_s: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        state: dict[str, Any] = {}
        while time.monotonic() < deadline:
            state = self.result("check_job", [{"job_id": job_id}])
            if state["status"] in wanted:
                return state
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} stayed {state.get('status')}, wanted {wanted}")
