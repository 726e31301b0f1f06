"""Memory a load burst took goes back to the system once the burst is over.

glibc's malloc serves large blocks from mmap only above a threshold that rises, by default, each
time such a block is freed; after a burst of large request bodies every later one then comes from
the heap, whose freed pages the process keeps. Fixing the threshold keeps large blocks (request
bodies, their decoded JSON) on mmap, which free() unmaps, and `trim()` hands back what the heap
freed. Elsewhere than glibc both are no-ops.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1  # glibc mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
# Above asyncio's 256 KiB socket read buffer, which every request allocates and then shrinks to what
# arrived: below that size each read would be an mmap, an mremap and a munmap, with page faults.
MMAP_THRESHOLD_BYTES = 512 * 1024
TRIM_THRESHOLD_BYTES = 1024 * 1024  # free heap above this much at its top is returned at once


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt  # noqa: B018 - glibc only
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc()


def keep_large_blocks_returnable() -> bool:
    """Fix glibc's mmap and trim thresholds; True when it took effect."""
    if _LIBC is None:
        return False
    mmap_set = int(_LIBC.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) == 1
    trim_set = int(_LIBC.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)) == 1
    return mmap_set and trim_set


def trim() -> None:
    """Return the heap's free pages to the system (glibc's malloc_trim)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
