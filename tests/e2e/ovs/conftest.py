"""Shared fixtures for the ovs backend's end-to-end tests.

Tests here need root and Open vSwitch. Without them they skip and say what is missing; with
``CI=true`` they fail instead, so CI can never go green by skipping the datapath.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from labkit import Lab

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


@pytest.fixture
def ovs_required() -> None:
    require_ovs()


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


@pytest.fixture(scope="session")
def workshop_lab(tmp_path_factory):
    """One ovs lab with the workshop profile, shared by the scenario tests (reset between them)."""
    require_ovs()
    name = f"e2e{os.getpid() % 100000}"
    state_dir = tmp_path_factory.mktemp("ovs-lab")
    lab = Lab(backend="ovs", profile="workshop", name=name, state_dir=state_dir)
    lab._baseline = baseline(lab)  # type: ignore[attr-defined]
    try:
        yield lab
    finally:
        lab.stop()
        assert_no_leaks(name, state_dir)


def baseline(lab: Lab) -> dict:
    """What reset() restores: the profile's objects and every pod's and namespace's labels."""
    return {"refs": set(lab.state.objects), "pods": {p.key: dict(p.labels) for p in lab.state.pods},
            "namespaces": {n.name: dict(n.labels) for n in lab.state.namespaces}}


_DELETE_ORDER = ("ClusterNetworkPolicy", "NetworkPolicy", "ClusterGroup", "Group", "Service", "Deployment",
                 "Pod", "Tier", "Namespace")


@pytest.fixture
def reset_lab():
    """``reset_lab(lab)``: bring a shared lab back to its profile."""
    return reset


def reset(lab: Lab) -> None:
    """Bring a shared lab back to its profile: delete what scenarios added, restore labels."""
    base = lab._baseline  # type: ignore[attr-defined]
    extra = [ref for ref in lab.state.objects if ref not in base["refs"]]
    extra.sort(key=lambda r: _DELETE_ORDER.index(r.kind) if r.kind in _DELETE_ORDER else len(_DELETE_ORDER))
    for ref in extra:
        lab.delete(ref, ignore_not_found=True)
    for key, labels in base["pods"].items():
        current = lab.state.pod(key).labels
        if current != labels:
            lab.label(key, **{**{k: None for k in current}, **labels})
    for name, labels in base["namespaces"].items():
        ns = lab.state.namespace(name)
        if ns is not None and ns.labels != labels:
            lab.label(f"ns:{name}", **{**{k: None for k in ns.labels if k != "kubernetes.io/metadata.name"},
                                      **{k: v for k, v in labels.items() if k != "kubernetes.io/metadata.name"}})
