"""Start the real service (`python -m ee_retry`) on a free port: on the embedded defaults, or with its
job records in MongoDB over the wire (`mongo_uri`, in a database of its own)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
from pymongo import MongoClient

from ee_retry.adapters.store.mongo import JOBS, OPERATIONS
from ee_retry.domain.ids import new_id
from ee_retry.testing.mongo import TEST_DB_PREFIX

START_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One service process; `kill9` and `start` model a crash and a restart on the same data dir."""

    def __init__(
        self,
        data_dir: Path,
        mongo_uri: str | None = None,
        mongo_db: str | None = None,
        log: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.env = env or {}
        self.data_dir = data_dir
        self.mongo_uri = mongo_uri
        self.mongo_db = mongo_db or TEST_DB_PREFIX + new_id()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = log or data_dir / "server.log"

    def spawn(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, "EE_RETRY_PORT": str(self.port), "EE_RETRY_DATA_DIR": str(self.data_dir)}
        env.pop("EE_RETRY_MONGO_URI", None)
        env.update(self.env)
        if self.mongo_uri is not None:
            env.update(EE_RETRY_MONGO_URI=self.mongo_uri, EE_RETRY_MONGO_DB=self.mongo_db)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "ee_retry"], env=env, stdout=out, stderr=out)
        return self.proc

    def start_refused(self) -> tuple[int, str]:
        """Start a server that must refuse to start: its exit code and its output."""
        proc = self.spawn()
        try:
            code = proc.wait(timeout=START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"the server started: {self.log.read_text()[-2000:]}") from None
        return code, self.log.read_text()

    def start(self) -> None:
        self.spawn()
        assert self.proc is not None
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

    def stored_documents(self) -> list[dict[str, Any]]:
        """Every document of the service's MongoDB database (empty on the embedded store)."""
        if self.mongo_uri is None:
            return []
        client: MongoClient[dict[str, Any]] = MongoClient(self.mongo_uri)
        try:
            db = client[self.mongo_db]
            return [doc for name in db.list_collection_names() for doc in db[name].find()]
        finally:
            client.close()

    def stored_records(self) -> int:
        """How many jobs and operations the service's store holds."""
        if self.mongo_uri is not None:
            client: MongoClient[dict[str, Any]] = MongoClient(self.mongo_uri)
            try:
                db = client[self.mongo_db]
                return sum(db[name].count_documents({}) for name in (JOBS, OPERATIONS))
            finally:
                client.close()
        with contextlib.closing(sqlite3.connect(self.data_dir / "ee_retry.sqlite3")) as conn:
            jobs: int = conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
            ops: int = conn.execute("SELECT count(*) FROM operations").fetchone()[0]
        return int(jobs + ops)

    def drop_database(self) -> None:
        if self.mongo_uri is not None:
            client: MongoClient[dict[str, Any]] = MongoClient(self.mongo_uri)
            client.drop_database(self.mongo_db)
            client.close()

    def call(self, method: str, params: Any, token: str | None = "alice-token") -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": token} if token else {}
        body = {"version": "1.1", "method": f"execution_engine2.{method}", "params": params, "id": "1"}
        raw = json.dumps(body).encode()  # ASCII-escaped: any string JSON can carry, lone surrogates too
        headers["Content-Type"] = "application/json"
        resp = httpx2.post(self.url, content=raw, headers=headers, timeout=30.0)
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


@contextlib.contextmanager
def running(data_dir: Path, mongo_uri: str | None = None) -> Iterator[Server]:
    """A service started on the new folder `data_dir` (its job records in a database of its own at
    `mongo_uri` when one is given); stopped, and that database dropped, when the block ends."""
    server = Server(data_dir, mongo_uri)
    server.data_dir.mkdir()
    server.start()
    try:
        yield server
    finally:
        server.stop()
        server.drop_database()
