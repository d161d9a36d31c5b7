"""glibc's mmap threshold, fixed for the service (chatops.malloc)."""

from __future__ import annotations

import os

import pytest

from chatops.malloc import keep_large_blocks_mapped


def glibc() -> bool:
    try:
        return bool(os.confstr("CS_GNU_LIBC_VERSION"))
    except (ValueError, OSError):
        return False


@pytest.mark.skipif(not glibc(), reason="glibc only")
def test_the_threshold_is_set_on_glibc() -> None:
    assert keep_large_blocks_mapped() is True


@pytest.mark.skipif(glibc(), reason="not glibc")
def test_elsewhere_nothing_is_set() -> None:
    assert keep_large_blocks_mapped() is False
