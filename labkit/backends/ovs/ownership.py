"""One owner per ovs lab, and what happens when the owner goes away.

An ovs lab (namespaces, a private ovsdb-server/ovs-vswitchd per node, pod servers) belongs to the
process that started it: a notebook kernel, a ``labkit`` command, or a long-running owner process
(``labkit up --kube-api``). This module is the one place that decides who owns a lab name:

* **lock**: the owner holds an exclusive ``flock`` on ``/run/labkit/ovs/<lab>.lock`` for the lab's
  whole life (:class:`Ownership`). Two processes starting the same name at the same instant race
  for it; the loser gets :class:`LabAlreadyRunning` ("already running, owner pid N") before it
  has touched anything. The kernel drops the lock when the owner dies, so "running" can never
  outlive the owner.
* **reaper**: the owner starts a tiny watcher process (``reaper.py``) that waits on the owner's
  pid (``pidfd_open``) and on a pipe from it. When the owner dies (SIGKILL included) the reaper
  takes the lock and sweeps the lab (daemons by pidfile, namespaces, state) within about a
  second; when the owner stops the lab normally it tells the reaper to exit first.
* **revocation**: ``labkit down --force`` (:func:`revoke`) never kills a live owner's lab behind
  its back: it writes ``<lab>.revoked`` naming the owner, the owner's watchdog notices it within a
  second and tears its lab down itself (so nothing leaks), releases the lock, and its next
  operation raises :class:`LabTakenDown` saying who took it down. If the owner does not answer in
  time, :func:`revoke` reports it and the caller sweeps.

Interface for an owner process (the CLI, a notebook's Lab, the background owner of
``labkit up --kube-api``)::

    own = Ownership(lab, state_dir)
    own.acquire()            # LabAlreadyRunning if a live process owns the name
    own.start_reaper()       # the lab dies with this process, however it dies
    ...                      # own.revocation() is not None once `labkit down --force` asked for the lab
    own.release()            # after tearing the lab down: reaper told to exit, lock dropped

and for a process that wants to know or take a lab: :func:`owner` (registry entry of the live
owner, or None) and :func:`revoke`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..._util import proc as cmd
from ..._util.locks import FileLock, holder
from ...errors import LabStateError
from .daemons import pid_alive
from .sweep import REGISTRY_DIR, lab_is_running, lock_path, register, registered, unregister

REAPER = Path(__file__).with_name("reaper.py")
REAPER_WAIT_S = 15.0


class LabAlreadyRunning(LabStateError):
    """Another live process owns an ovs lab of this name."""


class LabTakenDown(LabStateError):
    """This process's ovs lab was taken down from outside (``labkit down --force``)."""


@dataclass(frozen=True)
class Revocation:
    """``labkit down --force`` asked the owner ``owner_pid`` to give its lab up."""

    owner_pid: int
    by_pid: int
    at: float
    reason: str

    def message(self, lab: str) -> str:
        when = time.strftime("%H:%M:%S", time.localtime(self.at))
        return (f"ovs lab {lab!r} was taken down at {when} by {self.reason} (pid {self.by_pid}): its namespaces "
                "and OVS daemons are gone; start a new Lab (or run the notebook's lab cell again)")


def revocation_path(lab: str) -> Path:
    return REGISTRY_DIR / f"{lab}.revoked"


def owner(lab: str, wait_for_reaper_s: float = REAPER_WAIT_S) -> dict | None:
    """The registry entry (lab, state_dir, owner_pid, ...) of the live process owning ``lab``, or None.

    A lab whose owner just died is being swept by its reaper (which holds the lock meanwhile): that
    is no owner; this waits up to ``wait_for_reaper_s`` for the sweep to finish."""
    deadline = time.monotonic() + wait_for_reaper_s
    while lab_is_running(lab) and _reaping(lab) and time.monotonic() < deadline:
        time.sleep(0.05)
    if not lab_is_running(lab):
        return None
    entry = registered(lab)
    if entry is None:  # the winner of a start race has not written its entry yet
        info = holder(lock_path(lab)) or {}
        entry = {"lab": lab, "owner_pid": info.get("pid"), "state_dir": None}
    return entry


def _reaping(lab: str) -> bool:
    return str((holder(lock_path(lab)) or {}).get("what", "")).startswith("reaper")


class Ownership:
    """This process's claim on one lab name (see the module docstring)."""

    def __init__(self, lab: str, state_dir: str | os.PathLike) -> None:
        self.lab = lab
        self.state_dir = Path(state_dir)
        self._lock = FileLock(lock_path(lab), what=f"owner of ovs lab {lab}")
        self._reaper: subprocess.Popen | None = None
        self.acquired_at = 0.0
        self.previous: dict | None = None

    @property
    def held(self) -> bool:
        return self._lock.held

    def acquire(self, wait_s: float = 0.5) -> None:
        """Own the lab name or raise :class:`LabAlreadyRunning`. ``wait_s`` covers a probe that holds
        the lock for an instant (:func:`labkit._util.locks.is_locked`), never a live owner."""
        acquired = self._lock.acquire(wait_s)
        if not acquired and _reaping(self.lab):
            acquired = self._lock.acquire(REAPER_WAIT_S)  # a dead owner's lab being swept: a second or two
        if not acquired:
            entry = registered(self.lab) or {}
            pid = entry.get("owner_pid") or (holder(self._lock.path) or {}).get("pid", "unknown")
            who = f"owner pid {pid}" + (f", state in {entry['state_dir']}" if entry.get("state_dir") else "")
            raise LabAlreadyRunning(
                f"an ovs lab named {self.lab!r} is already running ({who}); stop it there (lab.stop() or "
                f"'labkit down --name {self.lab}'), take it down with 'labkit down --name {self.lab} --force', "
                "or pick another name")
        previous = registered(self.lab)  # a dead owner's entry: where its leftovers are
        if previous and "acquired_at" not in previous and pid_alive(int(previous.get("owner_pid") or 0)):
            # Registered by a labkit without ownership locks, and its owner still runs: not ours.
            self._lock.release()
            raise LabAlreadyRunning(f"an ovs lab named {self.lab!r} is already running (owner pid "
                                    f"{previous['owner_pid']}, started by an older labkit); stop it or pick "
                                    "another name")
        self.acquired_at = time.time()
        self.previous = previous
        try:
            revocation_path(self.lab).unlink()  # addressed to an earlier owner of this name
        except FileNotFoundError:
            pass
        self.register()

    def register(self) -> None:
        """(Re)write the registry entry naming this process as the owner (and its reaper)."""
        reaper = self._reaper.pid if self._reaper is not None else None
        register(self.lab, self.state_dir, acquired_at=self.acquired_at, reaper_pid=reaper)

    def revocation(self) -> Revocation | None:
        """The request to give the lab up, if ``labkit down --force`` made one for this owner."""
        if not self.held:
            return None
        try:
            data = json.loads(revocation_path(self.lab).read_text())
        except (OSError, ValueError):
            return None
        if data.get("owner_pid") != os.getpid() or float(data.get("at", 0)) < self.acquired_at:
            return None
        return Revocation(int(data["owner_pid"]), int(data.get("by_pid", 0)), float(data["at"]),
                          str(data.get("reason", "another process")))

    def start_reaper(self) -> None:
        """Start the process that sweeps this lab if this process dies without stopping it."""
        if self._reaper is not None and self._reaper.poll() is None:
            return
        REGISTRY_DIR.mkdir(parents=True, exist_ok=True)
        with open(REGISTRY_DIR / f"{self.lab}.reaper.log", "w") as log:
            # Started as a script, not `-m labkit...`: while it waits it imports only the standard
            # library (a few MiB), and loads labkit's sweep only if it has to reap. Its stdin is a
            # pipe from this process: end of file there means this process is gone, however it went
            # (the write end is close-on-exec, so no daemon started later inherits it).
            self._reaper = cmd.spawn([sys.executable, str(REAPER), self.lab, str(os.getpid()), str(self.state_dir)],
                                     stdin=subprocess.PIPE, stderr=log, cwd=str(Path(__file__).resolve().parents[3]))
        self.register()

    def release(self) -> None:
        """Tell the reaper the lab was stopped on purpose, unregister, drop the lock (idempotent)."""
        self.stop_reaper()
        if self.held:
            entry = registered(self.lab)
            if entry is not None and entry.get("owner_pid") == os.getpid():
                unregister(self.lab)
            (REGISTRY_DIR / f"{self.lab}.reaper.log").unlink(missing_ok=True)
        self._lock.release()

    def stop_reaper(self) -> None:
        reaper, self._reaper = self._reaper, None
        if reaper is None:
            return
        try:
            reaper.stdin.write(b"stop\n")
            reaper.stdin.close()
            reaper.wait(timeout=2)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            cmd.terminate(reaper)


def revoke(lab: str, reason: str, wait_s: float = 10.0) -> str:
    """Ask the live owner of ``lab`` to take it down and wait until it has.

    Returns ``"not-owned"`` (nobody owns it), ``"released"`` (the owner tore its lab down and let
    go) or ``"timeout"`` (the owner did not react within ``wait_s``: the caller may sweep).
    """
    entry = owner(lab)
    if entry is None or not entry.get("owner_pid"):
        return "not-owned"
    REGISTRY_DIR.mkdir(parents=True, exist_ok=True)
    path = revocation_path(lab)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"owner_pid": int(entry["owner_pid"]), "by_pid": os.getpid(), "at": time.time(),
                               "reason": reason}))
    tmp.replace(path)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if not lab_is_running(lab):
            return "released"
        time.sleep(0.05)
    return "timeout"


__all__ = ["Ownership", "LabAlreadyRunning", "LabTakenDown", "Revocation", "owner", "revoke", "revocation_path"]
