"""The ovs backend beyond matrices: Traceflow, flow counters, stateful enforcement, atomic updates,
pods added at run time, SCTP on this kernel, and cleanup after a crash."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from labkit import Lab
from labkit.backends.ovs import sweep
from labkit.backends.ovs.names import lab_prefix
from labkit.backends.ovs.sweep import REGISTRY_DIR
from labkit.errors import UnsupportedOperation
from labkit.backends.sim import predict_traceflow

from ovs_support import assert_no_leaks, kill_lab_process, lab_namespaces, live_processes, require_ovs

pytestmark = [pytest.mark.root]

MIXED = """
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: reject-y-to-x}
spec:
  priority: 5
  appliedTo: [{namespaceSelector: {matchLabels: {ns: x}}}]
  ingress:
  - {action: Reject, name: reject-y, from: [{namespaceSelector: {matchLabels: {ns: y}}}]}
  egress:
  - {action: Allow, name: to-z, to: [{namespaceSelector: {matchLabels: {ns: z}}}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: only-from-x, namespace: z}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress: [{from: [{namespaceSelector: {matchLabels: {ns: x}}}]}]
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: baseline-y}
spec:
  priority: 1
  tier: baseline
  appliedTo: [{namespaceSelector: {matchLabels: {ns: y}}}]
  ingress: [{action: Drop, name: no-z, from: [{namespaceSelector: {matchLabels: {ns: z}}}]}]
"""


def test_traceflow_matches_the_engines_prediction(workshop_lab, reset_lab):
    lab = workshop_lab
    reset_lab(lab)
    lab.apply(MIXED)
    pods = [p.key for p in lab.state.pods]
    checked = 0
    for src in pods:
        for dst in pods:
            if src == dst:
                continue
            real = lab.traceflow(src, dst, port=80)
            predicted = predict_traceflow(lab.state, lab.explain(src, dst, 80))
            assert real.source_kind == "ovs"
            assert [(n, o.to_dict()) for n, o in real.observations] == \
                   [(n, o.to_dict()) for n, o in predicted.observations], f"{src} -> {dst}:\n{real}\n{predicted}"
            checked += 1
    assert checked == len(pods) * (len(pods) - 1)
    assert lab.backend.last_traces and "ofproto" not in lab.backend.last_traces[0].flow


def test_dump_flows_counts_packets_per_rule(workshop_lab, reset_lab):
    lab = workshop_lab
    reset_lab(lab)
    lab.apply(MIXED)
    lab.reachability(port=80)
    frames = [lab.dump_flows(n.name) for n in lab.state.nodes]
    import pandas as pd

    flows = pd.concat(frames)
    assert {"table", "priority", "n_packets", "policy", "rule"} <= set(flows.columns)
    reject = flows[(flows.table == "IngressMetric") & (flows.rule == "reject-y")]
    assert int(reject.n_packets.sum()) >= 9, "every y -> x SYN reached the Reject rule's metric flow"
    # The Allow rule's metric flow counts the first packet of each connection it allowed (x -> z:
    # 9 connections), as Antrea's EgressMetric flows do.
    allowed = flows[(flows.table == "EgressMetric") & (flows.rule == "to-z") & flows.match.str.contains("+new", regex=False)]
    assert len(allowed) and int(allowed.n_packets.sum()) >= 9, allowed
    isolation = flows[(flows.table == "IngressDefaultRule") & (flows.category == "isolation")]
    assert int(isolation.n_packets.sum()) >= 1  # y/* -> z/a dropped by K8s isolation
    assert set(flows.table) >= {"Classifier", "SpoofGuard", "L3Forwarding", "Output"}
    one_table = lab.dump_flows("kind-worker", table="IngressMetric")
    assert len(one_table) and set(one_table.table) == {"IngressMetric"}
    assert "recirc_id" in lab.backend.dump_megaflows("kind-worker")  # the megaflow cache (smartnic reads it)


def test_established_connections_survive_a_new_deny(workshop_lab, reset_lab):
    """Antrea evaluates policy on the first packet only: a Drop added later does not cut a live connection."""
    lab = workshop_lab
    reset_lab(lab)
    from labkit._util.netns import socket_in
    from labkit.backends.ovs.names import pod_netns
    import socket

    sock = socket_in(pod_netns(lab.name, "y/a"), socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(2)
    sock.connect((lab.pod_ip("x/b"), 80))
    try:
        lab.apply("""
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: late-deny}
spec:
  priority: 1
  appliedTo: [{podSelector: {matchLabels: {pod: b}}, namespaceSelector: {matchLabels: {ns: x}}}]
  ingress: [{action: Drop, from: [{namespaceSelector: {matchLabels: {ns: y}}}]}]
""")
        assert lab.reachability(port=80, sources=["y/a"], destinations=["x/b"])["y/a", "x/b"] == "drop"
        sock.sendall(b"still here")
        assert sock.recv(64) == b"still here"
    finally:
        sock.close()


def test_policy_updates_open_no_window(workshop_lab, reset_lab):
    """While policies are replaced 15 times (one OpenFlow bundle per node each time), a pair that
    every version denies is never reachable and a pair every version allows never fails."""
    lab = workshop_lab
    reset_lab(lab)
    deny = """
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: keep-deny}
spec:
  priority: 1
  appliedTo: [{podSelector: {matchLabels: {pod: c}}, namespaceSelector: {matchLabels: {ns: z}}}]
  ingress: [{action: Drop, from: [{podSelector: {matchLabels: {pod: a}}, namespaceSelector: {matchLabels: {ns: x}}}]}]
"""
    lab.apply(deny)
    results: list[tuple[str, str]] = []
    stop = threading.Event()

    def probe_loop() -> None:
        while not stop.is_set():
            m = lab.backend.reachability(lab.state, lab.policy_set, __import__("labkit").policy.probe.Probe("TCP", 80),
                                         ["x/a"], ["z/c", "z/b"])
            results.append((m["x/a", "z/c"], m["x/a", "z/b"]))

    worker = threading.Thread(target=probe_loop)
    worker.start()
    try:
        for i in range(15):
            lab.apply(f"""
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {{name: churn}}
spec:
  priority: {2 + i % 3}
  appliedTo: [{{namespaceSelector: {{matchLabels: {{ns: z}}}}}}]
  ingress: [{{action: {'Allow' if i % 2 else 'Pass'}, from: [{{namespaceSelector: {{matchLabels: {{ns: y}}}}}}]}}]
""")
    finally:
        stop.set()
        worker.join()
    assert results, "the prober ran"
    assert all(r == ("drop", "allow") for r in results), results


def test_pods_added_and_removed_at_run_time(workshop_lab, reset_lab):
    lab = workshop_lab
    reset_lab(lab)
    lab.apply("""
apiVersion: v1
kind: Pod
metadata: {name: late, namespace: y, labels: {pod: late}}
spec:
  containers: [{name: c, image: agnhost, ports: [{containerPort: 8080}]}]
""")
    m = lab.reachability(port=8080, sources=["x/a", "z/b"], destinations=["y/late"])
    assert m.counts()["allow"] == 2
    lab.delete("pod/y/late")
    assert f"{lab_prefix(lab.name)}y.late" not in lab_namespaces(lab.name)


def test_sctp_needs_kernel_support(workshop_lab, reset_lab):
    lab = workshop_lab
    if lab.backend.supports_sctp():
        assert lab.reachability(port=80, protocol="SCTP", sources=["x/a"], destinations=["x/b"]).counts()["allow"] == 1
    else:
        with pytest.raises(UnsupportedOperation, match="SCTP"):
            lab.reachability(port=80, protocol="SCTP")


def test_sweep_removes_a_killed_lab(tmp_path):
    require_ovs()
    name = f"crash{os.getpid() % 10000}"
    state_dir = tmp_path / "state"

    def not_swept_while_running() -> None:
        assert lab_namespaces(name) and live_processes(str(state_dir))
        report = sweep(lab_prefix(name))
        assert report.skipped_running == [name], "a live lab is not swept by default"

    kill_lab_process(name, state_dir, not_swept_while_running)
    leftovers = lab_namespaces(name)
    assert leftovers, "SIGKILL leaves the namespaces behind: that is what sweep is for"
    report = sweep(lab_prefix(name))
    assert set(report.namespaces) == set(leftovers)
    assert_no_leaks(name, state_dir)
    assert not sweep(lab_prefix(name)), "a second sweep finds nothing"


def test_labkit_down_all_removes_a_lab_that_crashed_while_stopping(tmp_path):
    """The worst crash: the owner died half-way through stop(), after the node namespaces were
    deleted but before their daemons were killed. Nothing names those daemons any more (no
    namespace, and the registry entry may be gone too); `labkit down --all` still finds them."""
    require_ovs()
    name = f"half{os.getpid() % 10000}"
    state_dir = tmp_path / "state"
    kill_lab_process(name, state_dir)
    daemons = live_processes(str(state_dir))
    assert daemons, "the killed lab's ovsdb-server/ovs-vswitchd/pod servers are still running"
    subprocess.run(["ip", "-force", "-batch", "-"], input="".join(f"netns del {ns}\n" for ns in lab_namespaces(name)),
                   text=True, check=True)
    (REGISTRY_DIR / f"{name}.json").unlink(missing_ok=True)
    assert live_processes(str(state_dir)), "deleting the namespaces does not end the processes inside them"
    cli = subprocess.run([sys.executable, "-m", "labkit.cli", "down", "--all"], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "LABKIT_STATE_DIR": str(tmp_path / "cli")})
    assert cli.returncode == 0, cli.stderr
    assert "swept" in cli.stdout, cli.stdout
    assert_no_leaks(name, state_dir)


def test_stop_is_idempotent_and_leak_free(tmp_path):
    require_ovs()
    name = f"idem{os.getpid() % 10000}"
    lab = Lab(backend="ovs", profile="workshop", name=name, state_dir=tmp_path)
    assert lab.reachability(port=80, sources=["x/a"], destinations=["y/b"])["x/a", "y/b"] == "allow"
    lab.stop()
    lab.stop()
    assert_no_leaks(name, tmp_path)
