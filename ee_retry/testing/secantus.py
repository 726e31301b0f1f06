"""A SecantusDB server in a subprocess: a MongoDB wire-protocol server for tests and the soak.

SecantusDB (PyPI `secantusdb`, GPL-2.0, a test-only dependency never shipped with this package) is a
single-node MongoDB server written in Python on WiredTiger. It reports itself as a one-member replica
set, so sessions, transactions, unique indexes, `bulk_write` and `findAndModify` work over
`pymongo.AsyncMongoClient` as they do against mongod.

`SecantusServer(folder)` starts `python -m secantus` on loopback with its data in `folder/db` and its
log in `folder/secantus.log`. The first start asks for port 0 and reads the port the server chose from
its log line, so there is no window in which another process can take a port picked in advance; a
restart after `stop()` or `kill()` reuses that port, so a client's URI stays valid across a database
crash. `start()` returns once the server answers `hello`.

    with SecantusServer(tmp_path) as server:
        client = AsyncMongoClient(server.uri)
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from pymongo import MongoClient
from pymongo.errors import PyMongoError

HOST = "127.0.0.1"  # loopback only: the server is for this machine's tests
START_TIMEOUT_S = 30.0  # from spawn to the first answered `hello`
STOP_TIMEOUT_S = 15.0  # a clean stop writes a final WiredTiger checkpoint (about 2 s)
POLL_S = 0.05  # how often start() looks at the log and the process
LISTENING = re.compile(rb"secantus listening on [^\s:]+:(\d+)")


class SecantusError(RuntimeError):
    """The SecantusDB server did not start, or exited; the message carries its log's tail."""


class SecantusServer:
    """One SecantusDB server process over one data folder; start, stop, kill and start again."""

    def __init__(self, folder: Path, *, start_timeout_s: float = START_TIMEOUT_S) -> None:
        self.folder = folder
        self.data_dir = folder / "db"
        self.log_path = folder / "secantus.log"
        self.port = 0  # chosen by the server on the first start, kept for restarts
        self.start_timeout_s = start_timeout_s
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        """The MongoDB URI of the server; valid once start() has returned."""
        if not self.port:
            raise SecantusError("the SecantusDB server has not been started")
        return f"mongodb://{HOST}:{self.port}/"

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> str:
        """Start the server (on the port of the previous start, if any); return its URI once it
        answers `hello`. Raises SecantusError when it exits or stays silent past the timeout."""
        if self.running():
            return self.uri
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        command = [sys.executable, "-m", "secantus", "--host", HOST, "--port", str(self.port)]
        command += ["--storage-path", str(self.data_dir), "--log-level", "INFO"]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + self.start_timeout_s
        self.port = self._wait_for_port(offset, deadline)
        self._wait_for_hello(deadline)
        return self.uri

    def _wait_for_port(self, offset: int, deadline: float) -> int:
        while time.monotonic() < deadline:
            self._raise_if_exited()
            with self.log_path.open("rb") as log:
                log.seek(offset)
                found = LISTENING.search(log.read())
            if found:
                return int(found.group(1))
            time.sleep(POLL_S)
        self.stop()
        raise SecantusError(f"SecantusDB did not start listening in {self.start_timeout_s:.0f} s")

    def _wait_for_hello(self, deadline: float) -> None:
        remaining_ms = max(1, int((deadline - time.monotonic()) * 1000))
        client: MongoClient[dict[str, object]] = MongoClient(
            self.uri, serverSelectionTimeoutMS=remaining_ms, connectTimeoutMS=remaining_ms
        )
        try:
            client.admin.command("hello")
        except PyMongoError as exc:
            self.stop()
            raise SecantusError(f"SecantusDB did not answer hello: {exc}") from None
        finally:
            client.close()

    def _raise_if_exited(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            code = self.proc.returncode
            self.proc = None
            raise SecantusError(f"SecantusDB exited with code {code}: {self._log_tail()}")

    def _log_tail(self, size: int = 2000) -> str:
        try:
            return self.log_path.read_bytes()[-size:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop the server cleanly (SIGTERM: final checkpoint); SIGKILL if it outlasts timeout_s."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def kill(self) -> None:
        """Crash the server (SIGKILL); start() recovers its data from the WiredTiger log."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def __enter__(self) -> SecantusServer:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
