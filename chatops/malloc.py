"""glibc's malloc, told to keep giving large blocks back to the system after a poll.

glibc serves a block of 128 kB or more with ``mmap`` and returns it with ``munmap`` when it
is freed. But the threshold is dynamic: once such a block is freed, it rises to that
block's size (up to 32 MB), so the next poll's response body, its decoded lists and the
fleet's big dicts and lists come from the heap instead, whose pages mostly stay with the
process after the poll. At 10,000 connectors that is some 10 MB of resident memory that
nothing uses between polls. Fixing the threshold (``mallopt(M_MMAP_THRESHOLD)``) keeps
the first behaviour: a few more ``mmap`` calls per poll, none of them in a hot loop.

Elsewhere than on glibc (musl, macOS) this does nothing.
"""

from __future__ import annotations

import ctypes
import os

# From glibc's malloc.h.
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 128 * 1024


def keep_large_blocks_mapped(threshold: int = MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold at ``threshold`` bytes; whether it was set."""
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return False
        mallopt = ctypes.CDLL(None).mallopt
    except (ValueError, OSError, AttributeError):  # no such name, or no glibc
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, threshold))


__all__ = ["keep_large_blocks_mapped"]
