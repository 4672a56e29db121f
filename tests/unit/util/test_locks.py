"""labkit's file locks: exclusive between processes, released by the kernel when the holder dies
(SIGKILL included), and saying who holds them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from labkit._util.locks import FileLock, describe_holder, holder, is_locked

HOLDER = textwrap.dedent("""
    import sys, time
    from labkit._util.locks import FileLock
    lock = FileLock(sys.argv[1], what="labkit apply -f x.yaml")
    assert lock.try_acquire()
    print("held", flush=True)
    time.sleep(60)
""")


def test_a_lock_is_exclusive_says_who_holds_it_and_dies_with_its_holder(tmp_path):
    path = tmp_path / "lab.lock"
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "held"
        assert is_locked(path)
        info = holder(path)
        assert info["pid"] == child.pid and info["what"] == "labkit apply -f x.yaml"
        assert describe_holder(info) == f"pid {child.pid}: labkit apply -f x.yaml"
        mine = FileLock(path, what="me")
        waited = []
        assert not mine.acquire(0.1, on_wait=waited.append) and waited == [info]
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        assert not is_locked(path), "the kernel released the dead holder's lock"
        assert mine.acquire(1.0) and holder(path)["pid"] == os.getpid()
        assert FileLock(path).try_acquire() is False, "a second open file in the same process is refused too"
        mine.release()
        assert not is_locked(path) and holder(path) is None
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)


def test_a_missing_lock_file_is_not_locked(tmp_path):
    assert not is_locked(tmp_path / "nothing.lock") and holder(tmp_path / "nothing.lock") is None
    assert describe_holder(None) == "another process"
