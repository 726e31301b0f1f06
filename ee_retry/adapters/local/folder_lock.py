"""An exclusive lock on the data folder, held for the life of the service process.

`fcntl.flock` on `<data folder>/instance.lock`: the kernel drops it when the process ends, however it
ends (SIGKILL included), so a restart after a crash takes it at once while a live instance keeps it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from ee_retry.adapters.local.private_files import FILE_MODE, private_folder

LOCK_FILE = "instance.lock"


class FolderLock:
    """The held lock; `release()` (or the end of the process) lets another instance take it."""

    def __init__(self, fd: int, path: Path) -> None:
        self._fd: int | None = fd
        self.path = path

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def lock_data_folder(data_dir: Path) -> FolderLock | None:
    """Take the data folder's lock (creating the folder, owner-only); None while another process
    holds it."""
    path = private_folder(data_dir) / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return FolderLock(fd, path)
