"""Folders and files only the service's user may read: job params, output and records live there.

Modes are set explicitly rather than left to the umask, and a folder that already exists is
tightened too, so a data folder made by hand (0755) stops exposing the jobs inside it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

FOLDER_MODE = 0o700  # owner only: list, enter, create
FILE_MODE = 0o600  # owner only: read and write


def private_folder(path: Path) -> Path:
    """Create `path` (and missing parents) if needed and make it owner-only; returns it."""
    path.mkdir(parents=True, exist_ok=True, mode=FOLDER_MODE)
    os.chmod(path, FOLDER_MODE)
    return path


def private_file(path: Path) -> IO[bytes]:
    """Open `path` for writing (truncated), created owner-only; an existing file is tightened."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise


def touch_private(path: Path) -> None:
    """Make sure `path` exists owner-only without changing its content (a database file)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
