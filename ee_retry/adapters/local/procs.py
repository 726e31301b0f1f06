"""Process groups, job folders and output files of the local executor."""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, NamedTuple

from ee_retry.adapters.local.private_files import private_file, private_folder
from ee_retry.constants import OUTPUT_TAIL_CHARS
from ee_retry.domain.values import SubmitSpec

EXIT_NOT_FOUND = 127  # shell convention: the command could not be found
EXIT_NOT_EXECUTABLE = 126  # shell convention: found, but could not be executed
PID_FILE = "pid"  # in the job folder: the job's process id, which is also its process group id
STDOUT_FILE = "stdout"
STDERR_FILE = "stderr"
TAIL_MAX_BYTES_PER_CHAR = 4  # UTF-8: read this many bytes per wanted char from a file's end

SAFE_JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # a job id is used as one folder name


class Ending(NamedTuple):
    """How a job's process ended, or failed to start: its return code (negative: killed by that
    signal) and the tails of its output."""

    returncode: int
    out_tail: str | None = None
    err_tail: str | None = None

    @property
    def exit_code(self) -> int | None:
        return self.returncode if self.returncode >= 0 else None

    @property
    def exit_signal(self) -> int | None:
        return -self.returncode if self.returncode < 0 else None


# ---------------------------------------------------------------- helpers (no event loop state)


def refusal(specs: Sequence[SubmitSpec]) -> str | None:
    """Why these specs cannot be submitted, or None when all of them can."""
    seen: set[str] = set()
    for spec in specs:
        if not SAFE_JOB_ID.fullmatch(spec.job_id):
            return f"job id {spec.job_id!r} cannot name a job folder"
        if spec.job_id in seen:
            return f"job {spec.job_id} appears twice"
        seen.add(spec.job_id)
        if not spec.command or not all(isinstance(arg, str) and arg for arg in spec.command):
            return f"job {spec.job_id} has no command to run (the catalog gave none)"
        try:
            json.dumps(spec.params)
        except (TypeError, ValueError):
            return f"the params of job {spec.job_id} are not JSON"
    return None


# The service's own settings (a MongoDB URI may hold a password) and any token are never handed to
# a job, which runs the app's code as whatever it is.
_PRIVATE_ENV = ("EE_RETRY_", "KB_AUTH_TOKEN")


def job_env(spec: SubmitSpec) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_PRIVATE_ENV)}
    env.update(
        EE_RETRY_JOB_ID=spec.job_id,
        EE_RETRY_METHOD=spec.method,
        EE_RETRY_PARAMS=json.dumps(spec.params),
        EE_RETRY_SERVICE_VER=spec.service_ver,
    )
    return env


def start_exit_code(exc: OSError) -> int:
    return EXIT_NOT_EXECUTABLE if isinstance(exc, PermissionError) else EXIT_NOT_FOUND


def open_outputs(job_dir: Path) -> tuple[IO[bytes], IO[bytes]]:
    private_folder(job_dir)
    out = private_file(job_dir / STDOUT_FILE)
    try:
        err = private_file(job_dir / STDERR_FILE)
    except OSError:
        out.close()
        raise
    return out, err


def write_pid(job_dir: Path, pid: int) -> None:
    with private_file(job_dir / PID_FILE) as f:
        f.write(f"{pid}\n".encode())


def close_all(*files: IO[bytes], last_line: str | None = None) -> None:
    """Close the job's output files, first adding `last_line` to the last one."""
    if last_line is not None:
        files[-1].write(last_line.encode() + b"\n")
    for f in files:
        f.close()


def tails(job_dir: Path) -> tuple[str, str]:
    return _tail(job_dir / STDOUT_FILE), _tail(job_dir / STDERR_FILE)


def _tail(path: Path) -> str:
    """The last OUTPUT_TAIL_CHARS characters of a file, reading only its end."""
    try:
        with path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - OUTPUT_TAIL_CHARS * TAIL_MAX_BYTES_PER_CHAR))
            data = f.read()
    except OSError:
        return ""
    return data.decode("utf-8", errors="replace")[-OUTPUT_TAIL_CHARS:]


def signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def read_pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None
    return pid if pid > 1 else None


def marked_groups(wanted: Mapping[int, str]) -> list[int]:
    """The pgids in `wanted` that some live process in that group proves to belong to its job."""
    found: list[int] = []
    try:
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit()] if wanted else []
    except OSError:
        return []
    for pid in pids:
        try:
            pgid = os.getpgid(pid)
        except (ProcessLookupError, PermissionError):
            continue
        if pgid in wanted and pgid not in found and _has_marker(pid, wanted[pgid]):
            found.append(pgid)
    return found


def _has_marker(pid: int, job_id: str) -> bool:
    marker = f"EE_RETRY_JOB_ID={job_id}".encode()
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return marker in environ.split(b"\0")
