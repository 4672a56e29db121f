"""Fixtures shared by the flows tests."""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Iterator

import pytest


def open_fds() -> dict[int, str]:
    """This process's open descriptors and what each points to."""
    fds = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            fds[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:  # the listing's own descriptor, closed by now
            continue
    return fds


@pytest.fixture
def no_leaks() -> Iterator[None]:
    """Fails the test if it leaves a thread or a file descriptor behind.

    Garbage from earlier tests is collected first, and only descriptors the test added count:
    one an earlier test's leftover closes meanwhile is not this test's leak."""
    gc.collect()
    threads, fds = set(threading.enumerate()), open_fds()
    yield
    assert set(threading.enumerate()) <= threads
    # Threads that were already running (another test's lab watchdog polling its switches) open
    # and close sockets of their own: a descriptor counts as left open only if it stays.
    deadline = time.monotonic() + 2.0
    while True:
        gc.collect()
        added = {fd: target for fd, target in open_fds().items() if fds.get(fd) != target}
        if not added or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert not added, (f"descriptors left open: {added} (threads running: "
                       f"{sorted(t.name for t in threading.enumerate())})")
