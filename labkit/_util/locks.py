"""Advisory file locks (flock(2)) that say who holds them.

A lock is an open file with an exclusive ``flock``: the kernel releases it when the holder closes
it or dies (SIGKILL included), so a lock never outlives its process and nothing has to be
cleaned up after a crash. The holder writes one line of JSON into the file (its pid and what it
is doing), which is how a waiting process can say whom it waits for.

Lock files are never deleted: deleting a file another process is waiting on would let a third
process lock a new file of the same name while the second still gets the old one.

Used for one owner per ovs lab (:mod:`labkit.backends.ovs.ownership`) and to serialize ``labkit``
commands on one lab (:mod:`labkit.cli`).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import time
from collections.abc import Callable
from pathlib import Path


class FileLock:
    """An exclusive flock on ``path`` (created if missing), with the holder's identity in it."""

    def __init__(self, path: str | os.PathLike, what: str = "") -> None:
        self.path = Path(path)
        self.what = what
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lock if it is free; True if this object holds it now."""
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return False
            raise
        self._fd = fd
        record = json.dumps({"pid": os.getpid(), "what": self.what, "since": time.time()}).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, record + b"\n", 0)
        return True

    def acquire(self, timeout_s: float, on_wait: Callable[[dict], None] | None = None,
                interval_s: float = 0.02) -> bool:
        """Wait up to ``timeout_s`` for the lock; ``on_wait(holder)`` is called once if it is busy."""
        deadline = time.monotonic() + timeout_s
        told = False
        while not self.try_acquire():
            if on_wait is not None and not told:
                on_wait(holder(self.path) or {})
                told = True
            if time.monotonic() >= deadline:
                return False
            time.sleep(interval_s)
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.ftruncate(fd, 0)
            except OSError:
                pass
            os.close(fd)  # closing the file releases the flock

    def __enter__(self) -> "FileLock":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def is_locked(path: str | os.PathLike) -> bool:
    """Does some process hold an exclusive lock on ``path``? (A shared probe: it never blocks the
    holder, and a free lock is only held for the instant of the probe.)"""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return True
        raise
    finally:
        os.close(fd)  # also drops the shared lock, if taken
    return False


def holder(path: str | os.PathLike) -> dict | None:
    """What the lock's holder wrote about itself (pid, what, since), if anything."""
    try:
        text = Path(path).read_text().strip()
        return json.loads(text) if text else None
    except (OSError, ValueError):
        return None


def describe_holder(info: dict | None) -> str:
    if not info:
        return "another process"
    what = f": {info['what']}" if info.get("what") else ""
    return f"pid {info.get('pid')}{what}"


__all__ = ["FileLock", "is_locked", "holder", "describe_holder"]
