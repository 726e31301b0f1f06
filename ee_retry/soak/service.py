"""The service under soak as a child process: start on a loopback port, SIGKILL, stop, read its memory."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx2

START_TIMEOUT_S = 60.0  # a start on a busy 2-core machine, recovery included
STOP_TIMEOUT_S = 20.0  # a graceful stop: the local executor gives its jobs 5 s after SIGTERM


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_bytes(pid: int) -> int | None:
    """Resident memory of a live process (Linux /proc), or None when it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def wait_until_answering(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float) -> None:
    """Wait until `url` answers HTTP; raise if the process exits or the time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the process exited with {proc.returncode}; see {log}")
        try:
            httpx2.get(url, timeout=1.0)
            return
        except httpx2.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout_s:g} s; see {log}")


class ServiceProcess:
    """`python -m ee_retry` (or another server module) over one data folder, restartable."""

    def __init__(self, data_dir: Path, env: Mapping[str, str], module: str = "ee_retry") -> None:
        self.data_dir = data_dir
        self.module = module
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = data_dir.parent / f"{data_dir.name}.log"
        self._env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("EE_RETRY_")},
            **env,
            "EE_RETRY_HOST": "127.0.0.1",
            "EE_RETRY_PORT": str(self.port),
            "EE_RETRY_DATA_DIR": str(data_dir),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self.proc is None or self.proc.poll() is not None else self.proc.pid

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.module], env=self._env, stdout=out, stderr=subprocess.STDOUT
            )
        wait_until_answering(self.url, self.proc, self.log, START_TIMEOUT_S)

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=STOP_TIMEOUT_S)

    def stop(self) -> None:
        """SIGTERM and wait (SIGKILL after STOP_TIMEOUT_S)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def rss(self) -> int | None:
        pid = self.pid
        return None if pid is None else rss_bytes(pid)


def processes_under(folder: Path) -> list[int]:
    """Pids of live processes whose working directory is inside `folder` (Linux /proc)."""
    root = folder.resolve()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = Path(os.readlink(entry / "cwd"))
        except OSError:
            continue
        if cwd == root or root in cwd.parents:
            found.append(int(entry.name))
    return found
