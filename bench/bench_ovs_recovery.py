"""Benchmark how fast an ovs lab recovers from a dead OVS daemon (needs root and Open vSwitch; run
under `flock /tmp/labkit-ovs.lock`). Prints figures; asserts nothing but that every matrix after a
kill equals sim's.

For ``ovs-vswitchd`` and ``ovsdb-server`` of one node (killed with SIGKILL through the lab's own
pidfile), two ways back:

* **next matrix**: the watchdog is off; the time from the kill to a matrix equal to sim's is the
  next ``lab.reachability()`` call itself (it finds the dead daemon, restarts it, replays the
  flows, reconnects the Reject agent, then measures);
* **watchdog**: nothing is called; the time from the kill until the watchdog has repaired the node
  (its "reconnected the Reject agent" event), then one matrix to check.

Baseline, measured in the same run: the same matrix on a healthy lab. The matrix has drop cells,
so it costs at least one probe timeout (1 s); the repair's share is printed apart.

    sudo flock /tmp/labkit-ovs.lock .venv/bin/python bench/bench_ovs_recovery.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labkit import Lab
from labkit.backends.ovs.daemons import OVSDB, VSWITCHD
from labkit.backends.ovs.health import REPAIRED

GUARD = str(Path(__file__).resolve().parents[1] / "policies" / "guard-x.yaml")  # y dropped, z rejected on TCP/80


def correct_matrix(lab: Lab) -> float:
    t0 = time.perf_counter()
    observed = lab.reachability(port=80)
    elapsed = time.perf_counter() - t0
    expected = lab.expected_reachability(port=80)
    if not observed.to_frame().equals(expected.to_frame()):
        raise SystemExit(f"a matrix differs from sim: {observed.diff(expected)}\n{observed.warnings}")
    return elapsed


def kill(lab: Lab, node: str, daemon: str) -> float:
    inst = lab.backend.realization.instance(lab.backend.topology.node(node))
    pid = inst.pid(daemon)
    os.kill(pid, signal.SIGKILL)
    while inst.pid(daemon) == pid:
        time.sleep(0.001)
    return time.monotonic()


def repair_share(lab: Lab, node: str, since: float) -> float:
    """Seconds from ``since`` to the end of the keeper's repair of ``node`` (nan: not repaired yet)."""
    done = [e.at for e in lab.backend.health_events if e.node == node and e.at >= since and e.what == REPAIRED]
    return (done[-1] - since) if done else float("nan")


def paths(lab: Lab, node: str, since: float) -> dict[str, int]:
    """How the repairs since ``since`` went: vswitchd kept (it reconnected) or restarted."""
    steps = [e.what for e in lab.backend.health_events if e.node == node and e.at >= since]
    return {"vswitchd kept": sum("reconnected to it" in w for w in steps),
            "vswitchd restarted": sum(w == "restarted ovs-vswitchd" for w in steps)}


def summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} s, max {max(values):.2f} s"


def bench(runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="lkrec") as tmp:
        lab = Lab(backend="ovs", profile="workshop", name="benchrec", state_dir=tmp,
                  backend_options={"watchdog_s": 0})
        try:
            lab.apply(GUARD)
            node = lab.pod("x/a").node_name
            correct_matrix(lab)  # warm
            healthy = [correct_matrix(lab) for _ in range(runs)]
            print(f"baseline: healthy workshop matrix (81 cells, drops included): {summary(healthy)}")
            for daemon in (VSWITCHD, OVSDB):
                total, repair = [], []
                start = time.monotonic()
                for _ in range(runs):
                    killed = kill(lab, node, daemon)
                    correct_matrix(lab)
                    total.append(time.monotonic() - killed)
                    repair.append(repair_share(lab, node, killed))
                print(f"kill -9 {daemon} -> next matrix equal to sim (watchdog off): {summary(total)} "
                      f"({statistics.median(total) / statistics.median(healthy):.2f}x the healthy matrix); "
                      f"repair share {summary(repair)}; {paths(lab, node, start)}")
        finally:
            lab.stop()
        lab = Lab(backend="ovs", profile="workshop", name="benchrec", state_dir=tmp,
                  backend_options={"watchdog_s": 1.0})
        try:
            lab.apply(GUARD)
            node = lab.pod("x/a").node_name
            correct_matrix(lab)
            for daemon in (VSWITCHD, OVSDB):
                waits = []
                start = time.monotonic()
                for _ in range(runs):
                    killed = kill(lab, node, daemon)
                    while repair_share(lab, node, killed) != repair_share(lab, node, killed):  # nan until repaired
                        if time.monotonic() - killed > 30:
                            raise SystemExit(f"the watchdog did not repair {daemon} within 30 s")
                        time.sleep(0.01)
                    waits.append(repair_share(lab, node, killed))
                    correct_matrix(lab)
                print(f"kill -9 {daemon} -> repaired by the watchdog (1 s period), no call made: {summary(waits)}; "
                      f"{paths(lab, node, start)}")
        finally:
            lab.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    bench(parser.parse_args().runs)


if __name__ == "__main__":
    main()
