"""One private Open vSwitch per emulated node: ovsdb-server + ovs-vswitchd inside the node's netns.

Each instance has its own OVS_RUNDIR/DBDIR/LOGDIR under the lab's state directory, so it never
touches the machine's system OVS (feasibility.md §2): commands reach it through its own database
socket (``ovs-vsctl --db``), its bridge management socket (``ovs-ofctl`` with ``OVS_RUNDIR``) and
its unixctl socket (``ovs-appctl -t``). The daemons run ``--detach`` with pidfiles, so a crashed
lab's processes can be found and killed (:mod:`.sweep`).
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from ..._util.proc import run
from ...errors import CommandError

SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")


@dataclass(frozen=True)
class OvsInstance:
    netns: str
    base: Path  # <state_dir>/ovs/<node>

    @property
    def rundir(self) -> Path:
        return self.base / "run"

    @property
    def env(self) -> dict[str, str]:
        return {"OVS_RUNDIR": str(self.rundir), "OVS_DBDIR": str(self.base / "db"),
                "OVS_LOGDIR": str(self.base / "log")}

    @property
    def db_sock(self) -> str:
        return f"unix:{self.rundir / 'db.sock'}"

    @property
    def vswitchd_ctl(self) -> Path:
        return self.rundir / "ovs-vswitchd.ctl"

    def mgmt_socket(self, bridge: str) -> Path:
        """The bridge's OpenFlow management socket (ovs-ofctl and the reject agent connect here)."""
        return self.rundir / f"{bridge}.mgmt"

    def pidfiles(self) -> list[Path]:
        return [self.rundir / "ovs-vswitchd.pid", self.rundir / "ovsdb-server.pid"]

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout_s: float = 20.0) -> None:
        for sub in ("run", "db", "log"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        db = self.base / "db" / "conf.db"
        if db.exists():
            db.unlink()
        run(["ovsdb-tool", "create", db, SCHEMA], timeout_s=timeout_s)
        nsexec = ["ip", "netns", "exec", self.netns, "env"] + [f"{k}={v}" for k, v in self.env.items()]
        run(nsexec + ["ovsdb-server", db, f"--remote=punix:{self.rundir / 'db.sock'}",
                      f"--pidfile={self.rundir / 'ovsdb-server.pid'}", f"--log-file={self.base / 'log' / 'ovsdb-server.log'}",
                      f"--unixctl={self.rundir / 'ovsdb-server.ctl'}", "--detach", "--no-chdir", "-vconsole:off"],
            timeout_s=timeout_s)
        self.vsctl(["--no-wait", "init"], timeout_s=timeout_s)
        run(nsexec + ["ovs-vswitchd", self.db_sock, f"--pidfile={self.rundir / 'ovs-vswitchd.pid'}",
                      f"--log-file={self.base / 'log' / 'ovs-vswitchd.log'}", f"--unixctl={self.vswitchd_ctl}",
                      "--detach", "--no-chdir", "-vconsole:off"], timeout_s=timeout_s)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask both daemons to exit, then kill whatever is left (idempotent)."""
        for ctl in (self.vswitchd_ctl, self.rundir / "ovsdb-server.ctl"):
            if ctl.exists():
                try:
                    args = ["exit", "--cleanup"] if ctl == self.vswitchd_ctl else ["exit"]
                    run(["ovs-appctl", "-t", ctl, *args], timeout_s=timeout_s, check=False)
                except CommandError:
                    pass
        for pidfile in self.pidfiles():
            kill_pidfile(pidfile)

    # ------------------------------------------------------------------ commands

    def vsctl(self, args: list[str], timeout_s: float = 30.0) -> str:
        return run(["ovs-vsctl", f"--db={self.db_sock}", "--timeout", str(int(timeout_s)), *args],
                   timeout_s=timeout_s + 5, env=self.env).stdout

    def ofctl(self, args: list[str], timeout_s: float = 30.0, check: bool = True):
        return run(["ovs-ofctl", "-O", "OpenFlow15", *args], timeout_s=timeout_s, env=self.env, check=check)

    def appctl(self, args: list[str], timeout_s: float = 30.0) -> str:
        return run(["ovs-appctl", "-t", self.vswitchd_ctl, *args], timeout_s=timeout_s, env=self.env).stdout


def pid_alive(pid: int) -> bool:
    """True if ``pid`` runs; a zombie (exited, not yet reaped by its parent) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def kill_pid(pid: int, grace_s: float = 2.0) -> None:
    """SIGTERM, wait up to ``grace_s``, then SIGKILL."""
    if pid <= 1 or not pid_alive(pid):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        try:  # reap it if it is our child
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.02)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def kill_pidfile(pidfile: Path, expect: str | None = None) -> None:
    """Kill the process a pidfile names, if its command line still contains ``expect`` (default:
    the pidfile's stem), so a recycled pid of an unrelated process is never killed."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    if (expect or pidfile.stem) in cmdline(pid):
        kill_pid(pid)
    try:
        pidfile.unlink()
    except OSError:
        pass


__all__ = ["OvsInstance", "kill_pid", "kill_pidfile", "pid_alive", "cmdline"]
