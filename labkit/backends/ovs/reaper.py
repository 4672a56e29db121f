"""Sweep an ovs lab when the process that owns it dies (see :mod:`.ownership`).

Run as ``python reaper.py <lab> <owner pid> <state dir>`` with stdin a pipe from the owner. While
it waits it imports only the standard library. It returns to work when

* the owner writes ``stop``: the owner stopped its lab itself; exit without touching anything;
* the owner is gone: end of file on the pipe (the kernel closed the owner's end), or the owner's
  pidfd became readable (``pidfd_open(2)``, in case a forked child of the owner still holds the
  pipe).

Then it takes the lab's ownership lock (the kernel dropped the dead owner's), makes sure no newer
owner registered the name meanwhile, and sweeps the lab: the daemons named by the pidfiles under
its state directory, every process in its namespaces, the namespaces, the state, the registry
entry. A SIGKILLed notebook kernel thus leaks nothing, about a second after it died.
"""

from __future__ import annotations

import os
import select
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _alive(pid: int) -> bool:
    # labkit._util.proc.pid_alive's twin, kept here on purpose: the reaper imports only the
    # standard library (see the module docstring), so it cannot call the package's copy.
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def wait_for_owner(owner_pid: int) -> bool:
    """True when the owner is gone, False when it said ``stop``."""
    stdin = sys.stdin.fileno()
    fds = [stdin]
    pidfd = None
    try:
        pidfd = os.pidfd_open(owner_pid)
        fds.append(pidfd)
    except (OSError, AttributeError):  # an old kernel: poll the pid instead
        pass
    received = b""
    while True:
        ready, _, _ = select.select(fds, [], [], 1.0)
        if pidfd is not None and pidfd in ready:
            return True
        if stdin in ready:
            data = os.read(stdin, 64)
            if not data:
                return not received.startswith(b"stop")
            received += data
            if received.startswith(b"stop"):
                return False
        if pidfd is None and not _alive(owner_pid):
            return True


def reap(lab: str, owner_pid: int, state_dir: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from labkit._util.locks import FileLock
    from labkit.backends.ovs.names import lab_prefix
    from labkit.backends.ovs.sweep import SweepReport, kill_state_dir_processes, lock_path, registered, sweep

    lock = FileLock(lock_path(lab), what=f"reaper of ovs lab {lab} (its owner pid {owner_pid} died)")
    if not lock.acquire(timeout_s=10):
        print(f"{lab}: a new owner holds the name; it swept the leftovers when it started", file=sys.stderr)
        return
    try:
        entry = registered(lab)
        if entry is not None and entry.get("owner_pid") != owner_pid:
            print(f"{lab}: registered to pid {entry.get('owner_pid')} now, not ours to sweep", file=sys.stderr)
            return
        report = SweepReport()
        kill_state_dir_processes(state_dir, report)  # even if the registry entry is gone already
        report = sweep(lab_prefix(lab), include_running=True)
        if (state_dir / "ovs").is_dir() and not os.environ.get("LABKIT_KEEP_OVS_STATE"):
            import shutil

            shutil.rmtree(state_dir / "ovs", ignore_errors=True)
        print(f"{time.strftime('%H:%M:%S')} {lab}: owner pid {owner_pid} died; swept {len(report)} leftovers",
              file=sys.stderr)
    finally:
        lock.release()


def main(argv: list[str]) -> int:
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        sys.path.pop(0)  # run as a script: this directory's modules must not shadow anything
    lab, owner_pid, state_dir = argv[1], int(argv[2]), Path(argv[3])
    if wait_for_owner(owner_pid):
        reap(lab, owner_pid, state_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
