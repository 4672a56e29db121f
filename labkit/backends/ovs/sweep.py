"""Find and remove what crashed labs left behind: namespaces, processes, state directories.

A running lab registers itself in ``/run/labkit/ovs/<lab>.json`` (its state directory and the pid
of the process that owns it); ``/run`` is a tmpfs, so the registry lives exactly as long as the
namespaces it describes. :func:`sweep` removes every namespace whose name starts with ``prefix``
(``lk-`` = every labkit lab, ``lk-<lab>.`` = one lab) **unless its owner is still alive** (pass
``include_running=True`` to remove running labs too): it kills the processes inside those
namespaces (``ip netns pids``) and those named by the pidfiles under the lab's state directory
(ovsdb-server, ovs-vswitchd, the pod servers), deletes the namespaces (their veths and OVS ports
go with them) and the lab's ``ovs/`` state directory.

It never touches the system OVS, other bridges or namespaces without the prefix.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..._util.proc import run
from ...errors import CommandError
from . import names
from .daemons import kill_pid, kill_pidfile, pid_alive

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


def register(lab: str, state_dir: Path, owner_pid: int | None = None) -> None:
    REGISTRY_DIR.mkdir(parents=True, exist_ok=True)
    (REGISTRY_DIR / f"{lab}.json").write_text(json.dumps(
        {"lab": lab, "state_dir": str(state_dir), "owner_pid": owner_pid or os.getpid()}))


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
    """Is some live process (other than a dead owner) still responsible for this lab?"""
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


def _kill_state_dir_processes(state_dir: Path, report: SweepReport) -> None:
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
            _kill_state_dir_processes(Path(entry["state_dir"]), report)
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
    report.processes = sorted(set(report.processes))
    return report


__all__ = ["sweep", "SweepReport", "register", "unregister", "registered", "lab_is_running", "REGISTRY_DIR"]
