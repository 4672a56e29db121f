"""Fixtures shared by the flows tests."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def no_leaks() -> Iterator[None]:
    """Fails the test if it leaves a thread or a file descriptor behind."""
    threads, fds = set(threading.enumerate()), open_fds()
    yield
    assert set(threading.enumerate()) <= threads
    assert open_fds() == fds
