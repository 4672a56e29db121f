"""Find and remove what crashed labs left behind: namespaces, processes, state directories.

A running lab registers itself in ``/run/labkit/ovs/<lab>.json`` (its state directory and the pid
of the process that owns it) and holds an exclusive lock on ``/run/labkit/ovs/<lab>.lock`` for
its whole life (:mod:`.ownership`): a lab is running exactly while that lock is held, since the
kernel drops it when the owner dies. ``/run`` is a tmpfs, so the registry lives exactly as long
as the namespaces it describes. :func:`sweep` removes every namespace whose name starts with ``prefix``
(``lk-`` = every labkit lab, ``lk-<lab>.`` = one lab) **unless its owner is still alive** (pass
``include_running=True`` to remove running labs too): it kills the processes inside those
namespaces (``ip netns pids``) and those named by the pidfiles under the lab's state directory
(ovsdb-server, ovs-vswitchd, the pod servers), deletes the namespaces (their veths and OVS ports
go with them) and the lab's ``ovs/`` state directory. Sweeping every lab (the default prefix)
also kills lab daemons left in namespaces that no longer have a name (a crash half-way through
stop), which nothing else could find.

It never touches the system OVS, other bridges or namespaces without the prefix.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..._util.locks import is_locked
from ..._util.proc import run
from ...errors import CommandError
from . import names
from .daemons import cmdline, kill_pid, kill_pidfile, pid_alive

REGISTRY_DIR = Path(os.environ.get("LABKIT_OVS_REGISTRY", "/run/labkit/ovs"))


@dataclass
class SweepReport:
    namespaces: list[str] = field(default_factory=list)
    processes: list[int] = field(default_factory=list)
    directories: list[str] = field(default_factory=list)
    skipped_running: list[str] = field(default_factory=list)

    @property
    def removed(self) -> list[str]:
        """Everything removed, as one list (namespaces, ``pid N``, directories)."""
        return self.namespaces + [f"pid {p}" for p in self.processes] + self.directories

    def __len__(self) -> int:
        return len(self.removed)

    def __iter__(self):
        return iter(self.removed)

    def __getitem__(self, index):
        return self.removed[index]


def lock_path(lab: str) -> Path:
    """The lab's ownership lock (held by its owner for the lab's whole life)."""
    return REGISTRY_DIR / f"{lab}.lock"


def register(lab: str, state_dir: Path, owner_pid: int | None = None, **extra) -> None:
    REGISTRY_DIR.mkdir(parents=True, exist_ok=True)
    path = REGISTRY_DIR / f"{lab}.json"
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"lab": lab, "state_dir": str(state_dir), "owner_pid": owner_pid or os.getpid(),
                               **extra}))
    tmp.replace(path)  # atomic: a reader never sees half an entry


def unregister(lab: str) -> None:
    try:
        (REGISTRY_DIR / f"{lab}.json").unlink()
    except FileNotFoundError:
        pass


def registered(lab: str) -> dict | None:
    try:
        return json.loads((REGISTRY_DIR / f"{lab}.json").read_text())
    except (OSError, ValueError):
        return None


def lab_is_running(lab: str) -> bool:
    """Is some live process responsible for this lab? (Its ownership lock is held; a lab started by
    a labkit without locks counts as running while its recorded owner pid lives.)"""
    if lock_path(lab).exists():
        return is_locked(lock_path(lab))
    entry = registered(lab)
    return entry is not None and pid_alive(int(entry.get("owner_pid", 0)))


def _netns_list() -> list[str]:
    out = run(["ip", "netns", "list"], timeout_s=10).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _netns_pids(netns: str) -> list[int]:
    try:
        out = run(["ip", "netns", "pids", netns], timeout_s=10, check=False).stdout
    except CommandError:
        return []
    return [int(p) for p in out.split() if p.isdigit()]


def kill_state_dir_processes(state_dir: Path, report: SweepReport) -> None:
    base = state_dir / "ovs"
    if not base.is_dir():
        return
    for pidfile in base.glob("*/run/*.pid"):
        try:
            report.processes.append(int(pidfile.read_text().strip()))
        except (OSError, ValueError):
            pass
        expect = "labkit.backends.ovs.podserver" if pidfile.stem == "podserver" else pidfile.stem
        kill_pidfile(pidfile, expect=expect)


def _is_lab_daemon(cmd: str) -> bool:
    """A process a lab starts: a private ovsdb-server/ovs-vswitchd (its sockets live under
    ``<state_dir>/ovs/<node>/run/``, never the system OVS's /var/run/openvswitch) or a pod server."""
    if "labkit.backends.ovs.podserver" in cmd:
        return True
    return ("ovs-vswitchd" in cmd or "ovsdb-server" in cmd) and "/ovs/" in cmd and "/run/db.sock" in cmd


def _orphaned_daemons() -> list[int]:
    """Lab daemons whose network namespace no longer has a name: the lab's namespaces were deleted
    (a crash half-way through stop) but the processes inside them live on, invisible to
    ``ip netns pids``. Only such processes are orphans: a daemon in a named namespace belongs to a
    lab the namespace pass handles, one in the root namespace is not ours to judge."""
    def inode(path: str) -> int | None:
        try:
            return os.stat(path).st_ino
        except OSError:
            return None

    netns_dir = Path("/run/netns")
    named = {inode(str(p)) for p in netns_dir.iterdir()} if netns_dir.is_dir() else set()
    named.add(inode("/proc/1/ns/net"))
    orphans = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        pid = int(proc.name)
        if not _is_lab_daemon(cmdline(pid)):
            continue
        ino = inode(f"/proc/{pid}/ns/net")
        if ino is not None and ino not in named and pid_alive(pid):
            orphans.append(pid)
    return orphans


def sweep(prefix: str = names.PREFIX, include_running: bool = False) -> SweepReport:
    """Remove leftovers of labs whose namespaces start with ``prefix``; returns what was removed."""
    if not prefix.startswith(names.PREFIX):
        raise ValueError(f"sweep only removes labkit objects: the prefix must start with {names.PREFIX!r}")
    report = SweepReport()
    doomed: list[str] = []
    labs: set[str] = set()
    for netns in _netns_list():
        lab = names.lab_of_netns(netns)
        if lab is None or not netns.startswith(prefix):
            continue
        if not include_running and lab_is_running(lab):
            if lab not in report.skipped_running:
                report.skipped_running.append(lab)
            continue
        doomed.append(netns)
        labs.add(lab)
    # Labs registered but without namespaces left (crash after the namespaces went) still have state.
    if REGISTRY_DIR.is_dir():
        for entry_path in REGISTRY_DIR.glob("*.json"):
            lab = entry_path.stem
            if names.lab_prefix(lab).startswith(prefix) and (include_running or not lab_is_running(lab)):
                labs.add(lab)
    for lab in sorted(labs):
        entry = registered(lab)
        if entry is not None:
            kill_state_dir_processes(Path(entry["state_dir"]), report)
            reaper = int(entry.get("reaper_pid") or 0)
            if reaper and reaper != os.getpid() and "reaper.py" in cmdline(reaper):
                kill_pid(reaper)  # it would wait for an owner that is gone or giving up
                report.processes.append(reaper)
    for netns in doomed:
        for pid in _netns_pids(netns):
            if pid != os.getpid():
                kill_pid(pid)
                report.processes.append(pid)
    if doomed:
        doomed.sort(key=lambda ns: ns.count("."), reverse=True)
        run(["ip", "-force", "-batch", "-"], input="".join(f"netns del {ns}\n" for ns in doomed),
            timeout_s=120, check=False)
        report.namespaces += doomed
    for lab in sorted(labs):
        entry = registered(lab)
        if entry is not None:
            base = Path(entry["state_dir"]) / "ovs"
            if base.is_dir():
                shutil.rmtree(base, ignore_errors=True)
                report.directories.append(str(base))
        unregister(lab)
    if prefix == names.PREFIX:  # every lab: also daemons whose namespaces are already gone
        for pid in _orphaned_daemons():
            kill_pid(pid)
            report.processes.append(pid)
    report.processes = sorted(set(report.processes))
    return report


__all__ = ["sweep", "SweepReport", "kill_state_dir_processes", "register", "unregister", "registered",
           "lab_is_running", "lock_path", "REGISTRY_DIR"]
