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

from ..._util.proc import pid_alive, run
from ...errors import CommandError

SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")
OVSDB, VSWITCHD = "ovsdb-server", "ovs-vswitchd"


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
        return [self.pidfile(VSWITCHD), self.pidfile(OVSDB)]

    def pidfile(self, daemon: str) -> Path:
        return self.rundir / f"{daemon}.pid"

    @property
    def db_file(self) -> Path:
        return self.base / "db" / "conf.db"

    def log_file(self, daemon: str) -> Path:
        return self.base / "log" / f"{daemon}.log"

    def log_tail(self, daemon: str, lines: int = 5) -> str:
        """The last lines of a daemon's log (what a repair failure quotes)."""
        try:
            return "\n".join(self.log_file(daemon).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def pid(self, daemon: str) -> int | None:
        """The pid of this instance's ``daemon`` if it runs (its pidfile names a live process whose
        command line is that daemon with this instance's run directory), else None."""
        try:
            pid = int(self.pidfile(daemon).read_text().strip())
        except (OSError, ValueError):
            return None
        cmd = cmdline(pid)
        if daemon not in cmd or str(self.rundir) not in cmd or not pid_alive(pid):
            return None
        return pid

    # ------------------------------------------------------------------ lifecycle

    def _nsexec(self) -> list[str]:
        return ["ip", "netns", "exec", self.netns, "env"] + [f"{k}={v}" for k, v in self.env.items()]

    def start(self, timeout_s: float = 20.0) -> None:
        """A fresh database, then both daemons."""
        for sub in ("run", "db", "log"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        if self.db_file.exists():
            self.db_file.unlink()
        run(["ovsdb-tool", "create", self.db_file, SCHEMA], timeout_s=timeout_s)
        self.start_ovsdb(timeout_s)
        self.vsctl(["--no-wait", "init"], timeout_s=timeout_s)
        self.start_vswitchd(timeout_s=timeout_s)

    def _clean_run_files(self, daemon: str) -> None:
        # As Antrea's start_ovs does before (re)starting a daemon (cleanup_ovs_run_files, issue #870):
        # a stale pidfile or control socket of a killed daemon can make the new one refuse to start.
        for path in (self.pidfile(daemon), self.rundir / f"{daemon}.ctl"):
            try:
                path.unlink()
            except FileNotFoundError:
                pass
        if daemon == OVSDB:
            for lock in (self.base / "db").glob(".conf.db.*~lock~"):
                lock.unlink(missing_ok=True)

    def start_ovsdb(self, timeout_s: float = 20.0) -> None:
        """Start ovsdb-server on the existing database (a restart keeps every bridge and port)."""
        self._clean_run_files(OVSDB)
        run(self._nsexec() + [OVSDB, self.db_file, f"--remote=punix:{self.rundir / 'db.sock'}",
                              f"--pidfile={self.pidfile(OVSDB)}", f"--log-file={self.log_file(OVSDB)}",
                              f"--unixctl={self.rundir / 'ovsdb-server.ctl'}", "--detach", "--no-chdir",
                              "-vconsole:off"], timeout_s=timeout_s)

    def start_vswitchd(self, flow_restore_wait: bool = False, timeout_s: float = 20.0) -> None:
        """Start ovs-vswitchd. ``flow_restore_wait``: as Antrea's start_ovs does when it restarts OVS,
        set ``other_config:flow-restore-wait=true`` first, so the new daemon neither forwards nor
        drops a packet until the flows are back (:meth:`flow_restore_complete`)."""
        self._clean_run_files(VSWITCHD)
        if flow_restore_wait:
            self.vsctl(["--no-wait", "set", "Open_vSwitch", ".", "other_config:flow-restore-wait=true"],
                       timeout_s=timeout_s)
        run(self._nsexec() + [VSWITCHD, self.db_sock, f"--pidfile={self.pidfile(VSWITCHD)}",
                              f"--log-file={self.log_file(VSWITCHD)}", f"--unixctl={self.vswitchd_ctl}",
                              "--detach", "--no-chdir", "-vconsole:off"], timeout_s=timeout_s)

    def flow_restore_complete(self, timeout_s: float = 10.0) -> None:
        """Remove ``flow-restore-wait`` once the flows are replayed (Antrea: FlowRestoreComplete in
        pkg/agent/agent.go); vswitchd then starts forwarding with the restored tables."""
        self.vsctl(["remove", "Open_vSwitch", ".", "other_config", "flow-restore-wait"], timeout_s=timeout_s)

    def kill(self, daemon: str) -> None:
        """Kill this instance's ``daemon`` (by its pidfile, only if it really is that daemon)."""
        kill_pidfile(self.pidfile(daemon), expect=f"{daemon}")

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask both daemons to exit, then kill whatever is left (idempotent)."""
        for daemon, ctl in ((VSWITCHD, self.vswitchd_ctl), (OVSDB, self.rundir / "ovsdb-server.ctl")):
            if ctl.exists() and self.pid(daemon) is not None:
                try:
                    args = ["exit", "--cleanup"] if daemon == VSWITCHD else ["exit"]
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


__all__ = ["OvsInstance", "OVSDB", "VSWITCHD", "kill_pid", "kill_pidfile", "pid_alive", "cmdline"]
