"""One owner per ovs lab (issue 13, item 6): same-name races, `labkit down --all` next to a live
lab, `--force` telling the owner, a SIGKILLed owner leaking nothing, two CLI commands on one lab."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from labkit import Lab
from labkit.backends.ovs import LabTakenDown
from labkit.backends.ovs.sweep import lab_is_running

from ovs_support import REPO, assert_no_leaks, kill_lab_process, lab_namespaces, live_processes, require_ovs

pytestmark = [pytest.mark.root]

RACER = textwrap.dedent("""
    import sys, time
    from labkit import Lab
    name, state_dir, at = sys.argv[1], sys.argv[2], float(sys.argv[3])
    while time.time() < at:
        pass
    try:
        lab = Lab(backend="ovs", profile="workshop", name=name, state_dir=state_dir)
    except Exception as exc:
        print("ERR", type(exc).__name__, str(exc).replace("\\n", " "), flush=True)
        sys.exit(0)
    print("OK", flush=True)
    sys.stdin.readline()
    lab.stop()
""")


def cli(*args: str, state_root, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "labkit.cli", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=timeout, env={**os.environ, "LABKIT_STATE_DIR": str(state_root)})


def test_two_processes_starting_one_name_at_once_one_wins(tmp_path):
    """Both start within the same millisecond: one lab runs, the other is told it is already running
    (it used to be two raw `ip` errors and no lab)."""
    require_ovs()
    name = f"race{os.getpid() % 10000}"
    at = time.time() + 4  # both children have imported labkit by then
    racers = [subprocess.Popen([sys.executable, "-c", RACER, name, str(tmp_path / str(i)), str(at)], cwd=REPO,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for i in range(2)]
    try:
        lines = [r.stdout.readline().strip() for r in racers]
        assert sorted(line.split()[0] for line in lines) == ["ERR", "OK"], lines
        loser = next(line for line in lines if line.startswith("ERR"))
        assert "LabAlreadyRunning" in loser and "already running" in loser and "owner pid" in loser, loser
        assert lab_is_running(name)
    finally:
        for r in racers:
            if r.poll() is None:
                r.stdin.write("\n")
                r.stdin.flush()
            r.wait(60)
    for r in racers:
        assert "Traceback" not in r.stderr, r.stderr
    assert_no_leaks(name, tmp_path)


def test_down_all_leaves_a_live_lab_alone_and_force_tells_its_owner(tmp_path):
    require_ovs()
    name = f"own{os.getpid() % 10000}"
    root = tmp_path / "state"
    lab = Lab(backend="ovs", profile="workshop", name=name, state_dir=root / name)
    try:
        lab.save()
        down = cli("down", "--all", state_root=root)
        assert down.returncode == 0, down.stderr
        assert f"lab {name!r} is in use by pid {os.getpid()}" in down.stderr and "--force" in down.stderr, down.stderr
        assert (root / name).is_dir(), "a live lab's state is not removed"
        assert lab.reachability(port=80).to_frame().equals(lab.expected_reachability(port=80).to_frame())
        assert not lab.verify().findings
        down = cli("down", "--name", name, state_root=root)
        assert down.returncode == 1 and "in use by pid" in down.stderr
        forced = cli("down", "--name", name, "--force", state_root=root)
        assert forced.returncode == 0, forced.stderr
        assert "taken down from its owner" in forced.stdout, forced.stdout + forced.stderr
        assert not (root / name).exists()
        with pytest.raises(LabTakenDown, match="taken down .* by 'labkit down --force'"):
            lab.reachability(port=80)
        with pytest.raises(LabTakenDown):
            lab.apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: late}")
        assert_no_leaks(name, root / name)  # the owner tore its own lab down: no daemon left behind
    finally:
        lab.stop()  # touches nothing any more
    assert_no_leaks(name, root / name)
    again = Lab(backend="ovs", profile="workshop", name=name, state_dir=tmp_path / "again")
    try:  # the name is free again, and the new lab is not born taken down
        assert again.reachability(port=80, sources=["x/a"], destinations=["y/b"])["x/a", "y/b"] == "allow"
    finally:
        again.stop()
    assert_no_leaks(name, tmp_path / "again")


def test_a_sigkilled_owner_leaks_nothing(tmp_path):
    """A notebook kernel SIGKILLed with its lab: the reaper sweeps the lab within seconds, without
    anyone running `labkit down --all`."""
    require_ovs()
    name = f"reap{os.getpid() % 10000}"
    state_dir = tmp_path / "state"
    kill_lab_process(name, state_dir, lambda: None, with_reaper=False)
    deadline = time.monotonic() + 10
    while (lab_namespaces(name) or live_processes(str(state_dir))) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert_no_leaks(name, state_dir, timeout_s=0.5)
    assert not lab_is_running(name)


def vswitchd_pids(state_dir) -> dict[str, str]:
    return {p.parent.parent.name: p.read_text().strip() for p in state_dir.glob("ovs/*/run/ovs-vswitchd.pid")}


def test_labkit_commands_share_one_live_ovs_lab(tmp_path):
    """`labkit up --backend ovs` leaves the lab in a background owner (issue 13, item 7): later
    commands run there, none rebuilds the lab (the same OVS daemons answer every one), and two
    commands at once used to collide (both rebuilt it: `ovsdb-tool: failed to lock lockfile`)."""
    require_ovs()
    name = f"cli{os.getpid() % 10000}"
    root = tmp_path / "state"
    up = cli("up", "--backend", "ovs", "--profile", "workshop", "--name", name, state_root=root)
    assert up.returncode == 0, up.stderr
    assert "owner pid" in up.stdout, up.stdout
    try:
        before = vswitchd_pids(root / name)
        assert len(before) == 3, before
        both = [subprocess.Popen([sys.executable, "-m", "labkit.cli", "matrix", "--name", name], cwd=REPO, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 env={**os.environ, "LABKIT_STATE_DIR": str(root)}) for _ in range(2)]
        outs = [p.communicate(timeout=180) for p in both]
        assert [p.returncode for p in both] == [0, 0], outs
        assert outs[0][0] == outs[1][0] and "81 allow" in outs[0][0], outs
        applied = cli("apply", "--name", name, "-f", str(REPO / "policies" / "deny-all.yaml"), state_root=root)
        assert applied.returncode == 0, applied.stderr
        after = cli("matrix", "--name", name, state_root=root)
        assert after.returncode == 0 and "81 allow" not in after.stdout, after.stdout
        assert vswitchd_pids(root / name) == before  # one lab all along: nothing was rebuilt
    finally:
        down = cli("down", "--name", name, state_root=root)
        assert down.returncode == 0, down.stderr
    assert_no_leaks(name, root / name)
