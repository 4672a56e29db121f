"""Helpers for the ovs backend's end-to-end tests (a plain module: test files import it by name,
which ``from conftest import ...`` cannot do safely once another test directory has a conftest).

Tests here need root and Open vSwitch. Without them they skip and say what is missing; with
``CI=true`` they fail instead, so CI can never go green by skipping the datapath.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REQUIRED = ("ovs-vswitchd", "ovsdb-server", "ovsdb-tool", "ovs-vsctl", "ovs-ofctl", "ovs-appctl", "ip")


def ovs_missing() -> str:
    """Why the ovs backend cannot run here ('' when it can)."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, veth, OVS): run the tests as root"
    for tool in REQUIRED:
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            return f"{tool} is missing: apt-get install openvswitch-switch iproute2"
    return ""


def require_ovs() -> None:
    why = ovs_missing()
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and the ovs backend cannot run: {why}")
        pytest.skip(f"ovs backend unavailable: {why}")


def lab_namespaces(lab_name: str) -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(f"lk-{lab_name}.")]


def live_processes(pattern: str) -> list[str]:
    """Processes whose command line contains ``pattern``, zombies excluded (init reaps those)."""
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if pattern in cmd and state not in ("Z", "X"):
            out.append(f"{proc.name} {cmd}")
    return out


def assert_no_leaks(lab_name: str, state_dir: Path, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        leaks = lab_namespaces(lab_name) + live_processes(str(state_dir))
        if not leaks or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert not leaks, f"lab {lab_name} leaked: {leaks}"


CHILD = textwrap.dedent("""
    import sys, time
    from labkit import Lab
    lab = Lab(backend="ovs", profile="workshop", name=sys.argv[1], state_dir=sys.argv[2])
    print("ready", flush=True)
    time.sleep(600)
""")
REPO = Path(__file__).resolve().parents[3]


def reaper_pid(name: str) -> int:
    """The pid of lab ``name``'s reaper (the process that sweeps the lab when its owner dies)."""
    from labkit.backends.ovs.sweep import REGISTRY_DIR

    pid = int(json.loads((REGISTRY_DIR / f"{name}.json").read_text())["reaper_pid"])
    assert "reaper.py" in Path(f"/proc/{pid}/cmdline").read_text()
    return pid


def kill_lab_process(name: str, state_dir, while_running=lambda: None, with_reaper: bool = True) -> None:
    """Start lab ``name`` in a child process, call ``while_running()`` once it is up, then SIGKILL
    the child. ``with_reaper`` also SIGKILLs the lab's reaper first (the watcher that would sweep
    the lab when its owner dies), so the namespaces and daemons stay behind, as after a crash that
    took both (what `sweep` and `labkit down --all` are for)."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, name, str(state_dir)], stdout=subprocess.PIPE, text=True,
                             cwd=REPO)
    try:
        assert child.stdout.readline().strip() == "ready"
        while_running()
        if with_reaper:
            os.kill(reaper_pid(name), signal.SIGKILL)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
