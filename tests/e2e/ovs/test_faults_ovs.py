"""Faults injected into a running ovs lab (issue 13): every test breaks something real (kills a
daemon of *this* lab by its pidfile, deletes flows, unconfigures a pod) and then checks that the
lab either repaired itself (the measured matrix equals sim's, cell by cell, rejects included) or
said exactly what is broken (a labkit error naming the node and the daemon, ``error`` cells with
their reason) -- never a silently wrong matrix, never a 30 s hang.

Processes are only ever killed through the pidfiles under this lab's own state directory, so no
other lab on the machine is touched.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from labkit import Lab
from labkit.backends.ovs import ApplyFailed, NodeUnavailable
from labkit.backends.ovs.daemons import OVSDB, VSWITCHD
from labkit.backends.ovs.names import pod_netns
from labkit.backends.ovs.ofclient import table_counts
from labkit.datapath.pipeline import table_id

from ovs_support import REPO, assert_no_leaks, require_ovs

pytestmark = [pytest.mark.root]

GUARD = str(REPO / "policies" / "guard-x.yaml")  # x guarded on TCP/80: y dropped, z rejected
ISOLATE_X = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: only-x, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress: [{from: [{podSelector: {}}]}]
"""
LATER = """
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: later}
spec:
  priority: 3
  appliedTo: [{namespaceSelector: {matchLabels: {ns: y}}}]
  ingress: [{action: Drop, name: no-x, from: [{namespaceSelector: {matchLabels: {ns: x}}}]}]
"""
NEW_POD = """
apiVersion: v1
kind: Pod
metadata: {name: late, namespace: y, labels: {pod: late}}
spec:
  containers: [{name: c, image: agnhost, ports: [{containerPort: 80}]}]
"""


@pytest.fixture
def make_lab(tmp_path):
    """``make_lab(watchdog_s=0, **options)``: a workshop ovs lab of this test, stopped (and checked
    for leaks) at the end."""
    require_ovs()
    made: list[Lab] = []

    def make(watchdog_s: float = 0.0, **options) -> Lab:
        name = f"flt{os.getpid() % 10000}{len(made)}"
        lab = Lab(backend="ovs", profile="workshop", name=name, state_dir=tmp_path / name,
                  backend_options={"watchdog_s": watchdog_s, **options})
        made.append(lab)
        return lab

    yield make
    for lab in made:
        lab.stop()
        assert_no_leaks(lab.name, lab.state_dir)


def same_as_sim(lab: Lab, port: int = 80):
    observed = lab.reachability(port=port)
    expected = lab.expected_reachability(port=port)
    assert observed.to_frame().equals(expected.to_frame()), (
        f"observed differs from sim: {observed.diff(expected)}\n{observed}\nwarnings: {observed.warnings}")
    return observed


def instance(lab: Lab, node: str):
    return lab.backend.realization.instance(lab.backend.topology.node(node))


def kill(lab: Lab, node: str, daemon: str) -> int:
    """SIGKILL one daemon of this lab's node, found through the lab's own pidfile."""
    inst = instance(lab, node)
    pid = inst.pid(daemon)
    assert pid is not None, f"{daemon} of {node} is not running"
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while inst.pid(daemon) == pid and time.monotonic() < deadline:
        time.sleep(0.02)
    return pid


def node_of(lab: Lab, pod: str) -> str:
    return lab.pod(pod).node_name


def flows_text(lab: Lab, node: str) -> str:
    out = instance(lab, node).ofctl(["dump-flows", "--no-stats", "br-int"]).stdout
    return "\n".join(sorted(line.strip() for line in out.splitlines() if "actions=" in line))


# ------------------------------------------------------------------------------ 1. a dead ovs-vswitchd


def test_killed_vswitchd_is_restarted_and_its_flows_replayed(make_lab):
    lab = make_lab()
    lab.apply(GUARD)
    before = same_as_sim(lab)
    assert before.counts()["reject"] and before.counts()["drop"]
    node = node_of(lab, "x/a")
    old = kill(lab, node, VSWITCHD)
    after = same_as_sim(lab)  # rejects included: the Reject agent is back too
    assert after.counts() == before.counts()
    assert any(f"node {node}" in w and "restarted ovs-vswitchd" in w and "replayed" in w for w in after.warnings), \
        after.warnings
    assert instance(lab, node).pid(VSWITCHD) not in (None, old)
    assert lab.backend.agent.connected(node)
    assert len(lab.dump_flows(node)) > 50  # the flows are back


def test_watchdog_restarts_vswitchd_and_reconnects_the_reject_agent(make_lab):
    """Item 2: without any operation, the watchdog brings the daemon, the flows and the Reject
    agent back; a reject then still reads reject (it used to become drop forever)."""
    lab = make_lab(watchdog_s=0.2)
    lab.apply(GUARD)
    node = node_of(lab, "x/a")
    inst = instance(lab, node)
    t0 = time.monotonic()
    kill(lab, node, VSWITCHD)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        events = [e for e in lab.backend.health_events if e.node == node and e.at >= t0]
        if any("reconnected the Reject agent" in e.what for e in events):
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"the watchdog did not repair {node}: {lab.backend.health_events[-5:]}")
    assert sum(table_counts(inst.mgmt_socket("br-int")).values()) > 50, "flows replayed before any operation"
    m = same_as_sim(lab)
    assert m["z/a", "x/a"] == "reject" and not m.warnings, m.warnings  # nothing left to repair


def test_vswitchd_restarted_by_hand_gets_its_flows_back(make_lab):
    """Someone restarts ovs-vswitchd themselves: it comes back with no flows; labkit notices (a new
    pid), replays the flows and reconnects the agent before the next matrix."""
    lab = make_lab()
    lab.apply(GUARD)
    node = node_of(lab, "x/b")
    inst = instance(lab, node)
    kill(lab, node, VSWITCHD)
    env = [f"{k}={v}" for k, v in inst.env.items()]
    subprocess.run(["ip", "netns", "exec", inst.netns, "env", *env, "ovs-vswitchd", inst.db_sock,
                    f"--pidfile={inst.pidfile(VSWITCHD)}", f"--log-file={inst.log_file(VSWITCHD)}",
                    f"--unixctl={inst.vswitchd_ctl}", "--detach", "--no-chdir", "-vconsole:off"], check=True)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            assert table_counts(inst.mgmt_socket("br-int"), 0.5) == {}  # 0 flows: the fault is real
            break
        except OSError:
            time.sleep(0.05)
    m = same_as_sim(lab)
    assert any("restarted outside labkit" in w for w in m.warnings), m.warnings


def test_killed_ovsdb_server_is_restarted_without_a_hang(make_lab):
    lab = make_lab()
    lab.apply(GUARD)
    node = node_of(lab, "x/c")
    kill(lab, node, OVSDB)
    t0 = time.monotonic()
    lab.apply(LATER)  # used to hang 30 s in ovs-ofctl and then blame it
    assert time.monotonic() - t0 < 15
    assert instance(lab, node).pid(OVSDB) is not None
    same_as_sim(lab)
    kill(lab, node, OVSDB)
    trace = lab.traceflow("y/a", "x/c")  # checked first: no verdict from a dead switch
    assert trace.final_action == "Dropped"
    assert not lab.verify().findings


def test_unrepairable_node_is_named_and_nothing_is_half_applied(make_lab):
    """A node whose ovsdb-server cannot come back (its database is gone): apply refuses before
    touching any node, names the node and the daemon, and changes nothing; matrices mark that
    node's cells as errors and measure the rest; once the database is back, everything heals."""
    lab = make_lab()
    lab.apply(GUARD)
    node = node_of(lab, "y/a")
    others = [n.name for n in lab.state.nodes if n.name != node]
    inst = instance(lab, node)
    before = {n: flows_text(lab, n) for n in others}
    policies = len(lab.policies())
    shutil.move(inst.db_file, inst.db_file.with_suffix(".away"))
    kill(lab, node, OVSDB)
    kill(lab, node, VSWITCHD)
    t0 = time.monotonic()
    with pytest.raises(NodeUnavailable) as info:
        lab.apply(LATER)
    assert time.monotonic() - t0 < 15
    message = str(info.value)
    assert f"node {node}" in message and "ovsdb-server" in message and "database" in message, message
    assert len(lab.policies()) == policies, "the model did not take the policy either"
    assert {n: flows_text(lab, n) for n in others} == before, "no other node took the new flows"
    m = lab.reachability(port=80)
    expected = lab.expected_reachability(port=80)
    on_node = {p.key for p in lab.state.pods if p.node_name == node}
    for src, dst, verdict in m.cells():
        if src in on_node or dst in on_node:
            assert verdict == "error" and f"node {node}" in m.errors[(src, dst)], (src, dst, verdict)
        else:
            assert verdict == expected[src, dst], (src, dst, verdict)
    assert any(f"node {node}" in w for w in m.warnings)
    with pytest.raises(NodeUnavailable, match=node):
        lab.dump_flows(node)
    shutil.move(inst.db_file.with_suffix(".away"), inst.db_file)
    same_as_sim(lab)  # repaired on the way in
    lab.apply(LATER)
    same_as_sim(lab)


def test_a_commit_that_fails_on_one_node_is_rolled_back_everywhere(make_lab, monkeypatch):
    """The worst moment: a node's vswitchd dies while the new flows are being committed. The nodes
    that took them are rolled back, the model is unchanged, and the next matrix is the old policy's."""
    lab = make_lab()
    lab.apply(GUARD)
    victim = node_of(lab, "z/a")
    before = {n.name: flows_text(lab, n.name) for n in lab.state.nodes}
    expected_before = lab.expected_reachability(port=80)
    realization = lab.backend.realization
    real_install = realization.install_flows

    def dying_install(node, flows):
        if node.name == victim:
            kill(lab, victim, VSWITCHD)  # a real death, at the worst moment
        return real_install(node, flows)

    monkeypatch.setattr(realization, "install_flows", dying_install)
    with pytest.raises(ApplyFailed) as info:
        lab.apply(LATER)
    monkeypatch.setattr(realization, "install_flows", real_install)
    message = str(info.value)
    assert f"node {victim}" in message and "nothing was applied" in message and "rolled back" in message, message
    assert all(flows_text(lab, n) == text for n, text in before.items() if n != victim)
    assert "later" not in {p.name for p in lab.state.antrea_policies}
    m = same_as_sim(lab)  # the victim is restarted and gets the *old* flows
    assert m.to_frame().equals(expected_before.to_frame())
    assert flows_text(lab, victim) == before[victim]


def test_flow_export_comes_back_with_a_restarted_vswitchd(make_lab):
    """The IPFIX exporter lives in the node's database and vswitchd; after a restart the records of a
    traffic run still name the rules."""
    from labkit.flows import TrafficProfile, TrafficRule

    lab = make_lab()
    lab.apply(GUARD)
    profile = TrafficProfile("after-restart", (
        TrafficRule("x-to-y", "x/a", "y/b", 80, connections_per_minute=6, duration_s=1.0),
        TrafficRule("y-to-x", "y/a", "x/a", 80, connections_per_minute=6, duration_s=1.0, probe=True),
    ))
    lab.generate_traffic(profile, duration_s=20, seed=1)
    kill(lab, node_of(lab, "x/a"), VSWITCHD)
    flows = lab.flows(lab.generate_traffic(profile, duration_s=20, seed=2))
    denied = flows[(flows.sourcePodNamespace == "y") & (flows.destinationPodName == "a")
                   & (flows.destinationPodNamespace == "x")]
    assert len(denied) and set(denied.ingressNetworkPolicyRuleName) == {"no-y"}, flows


# ------------------------------------------------------------------------------ 3. drift


def test_deleted_flows_are_found_and_a_no_op_apply_reinstalls_them(make_lab):
    """Item 3: the isolation flows of x/b deleted by hand used to leave x/b reachable while explain
    said drop, and a no-op apply skipped every node."""
    lab = make_lab(on_drift="warn")
    lab.apply(ISOLATE_X)
    node = node_of(lab, "x/b")
    ofport = lab.backend.topology.pods["x/b"].ofport
    instance(lab, node).ofctl(["del-flows", "br-int", f"table={table_id('IngressDefaultRule')},reg1={ofport:#x},ip"])
    report = lab.verify()
    assert not report.ok
    found = [f for f in report.findings if f.component == "flows"]
    assert found and all(f.node == node for f in found)
    assert "IngressDefaultRule" in found[0].problem and "K8sNetworkPolicy" in found[0].problem, found
    assert "1 missing" in found[0].problem
    warned = lab.reachability(port=80)  # on_drift="warn": measured as is, and said so
    assert any("differ from the compiled policy" in w and node in w for w in warned.warnings), warned.warnings
    with pytest.warns(RuntimeWarning, match="drifted"):
        lab.apply(ISOLATE_X)  # unchanged: used to skip every node
    assert lab.verify().ok
    same_as_sim(lab)
    assert lab.traceflow("y/a", "x/b").final_action == "Dropped"


def test_drift_is_repaired_before_a_matrix_and_by_verify(make_lab):
    lab = make_lab()  # on_drift="repair" (the default)
    lab.apply(ISOLATE_X)
    lab.apply(GUARD)
    node = node_of(lab, "x/b")
    inst = instance(lab, node)
    ofport = lab.backend.topology.pods["x/b"].ofport
    inst.ofctl(["del-flows", "br-int", f"table={table_id('IngressDefaultRule')},reg1={ofport:#x},ip"])
    m = same_as_sim(lab)
    assert any("drifted" in w and "re-installed" in w for w in m.warnings), m.warnings
    inst.ofctl(["add-flow", "br-int", f"table={table_id('IngressRule')},priority=65000,ip,reg1=0x3 "
                                      f"actions=goto_table:{table_id('IngressMetric')}"])
    inst.ofctl(["del-flows", "br-int", f"table={table_id('IngressMetric')}"])
    repaired = lab.verify(repair=True)
    assert repaired.drifted and repaired.ok and not repaired.remaining, str(repaired)
    assert {f.component for f in repaired.findings} == {"flows"}
    assert all(f.repaired for f in repaired.findings)
    assert any("not compiled" in f.problem for f in repaired.findings)
    same_as_sim(lab)


# ------------------------------------------------------------------------------ 4. half-made pods


def test_pod_added_while_ovsdb_is_down_is_made_whole(make_lab):
    lab = make_lab()
    lab.apply(GUARD)
    for node in lab.state.nodes:
        if node.name != "kind-control-plane":
            kill(lab, node.name, OVSDB)
    lab.apply(NEW_POD)
    assert lab.verify().ok
    m = same_as_sim(lab)
    assert m["x/a", "y/late"] == "allow"


def test_pod_creation_rolls_back_when_its_node_cannot_be_repaired(make_lab):
    lab = make_lab()
    node = "kind-worker"
    inst = instance(lab, node)
    shutil.move(inst.db_file, inst.db_file.with_suffix(".away"))
    kill(lab, node, OVSDB)
    with pytest.raises(NodeUnavailable, match="ovsdb-server"):
        lab.apply(NEW_POD.replace("spec:\n", "spec:\n  nodeName: kind-worker\n"))
    assert "y/late" not in {p.key for p in lab.state.pods}
    assert not Path(f"/run/netns/{pod_netns(lab.name, 'y/late')}").exists(), "no half-made pod left behind"
    shutil.move(inst.db_file.with_suffix(".away"), inst.db_file)
    lab.apply(NEW_POD)
    same_as_sim(lab)


def test_an_unconfigured_pod_reads_error_and_the_next_apply_rebuilds_it(make_lab):
    """Item 4: a pod without address and route used to read reject (the kernel's no-route graded
    as a policy reject); now its cells are errors with the reason, and the next apply rebuilds it."""
    lab = make_lab()
    lab.apply(GUARD)
    subprocess.run(["ip", "-n", pod_netns(lab.name, "y/b"), "addr", "flush", "dev", "eth0"], check=True)
    m = lab.reachability(port=80)
    assert m.counts().get("error"), m
    for src, dst, verdict in m.cells():
        if "y/b" in (src, dst) and src != dst:
            assert verdict == "error", (src, dst, verdict)
            assert "y/b" in m.errors[(src, dst)] and ("address" in m.errors[(src, dst)]
                                                      or "route" in m.errors[(src, dst)]), m.errors[(src, dst)]
        elif "y/b" not in (src, dst):
            assert verdict == lab.expected_reachability(port=80)[src, dst]
    assert "error" in m.to_frame().values and "E" in m.text()
    report = lab.verify()
    assert any(f.component == "pod y/b" and "no address" in f.problem for f in report.findings), str(report)
    lab.apply(LATER)
    same_as_sim(lab)
    assert lab.verify().ok
