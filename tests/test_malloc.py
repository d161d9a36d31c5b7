"""glibc's mmap threshold, fixed for the service (chatops.malloc)."""

from __future__ import annotations

import os

from chatops.malloc import keep_large_blocks_mapped


def glibc() -> bool:
    try:
        return bool(os.confstr("CS_GNU_LIBC_VERSION"))
    except (ValueError, OSError):
        return False


def test_the_threshold_is_set_on_glibc_and_nothing_is_done_elsewhere() -> None:
    assert keep_large_blocks_mapped() is glibc()
