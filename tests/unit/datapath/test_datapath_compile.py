"""The flow compiler: table numbering, flow text round trip, port masks, conjunction cost, cookies."""

from __future__ import annotations

import random

import pytest

from labkit import Lab
from labkit.backends.ovs.topology import build_topology, load_topology
from labkit.datapath import FlowEntry, PIPELINE, compile_flows, decode_cookie, parse_dump, render_flows, table_id
from labkit.datapath.compile import cookie_for_rule
from labkit.datapath.openflow import parse_flow
from labkit.datapath.ports import range_to_masks
from labkit.errors import ManifestError, NotFoundError


def test_table_ids_follow_the_declared_order():
    assert [t.id for t in PIPELINE] == list(range(len(PIPELINE)))
    names = [t.name for t in PIPELINE]
    # Antrea's order (antrea.md §3.1) for the tables labkit keeps.
    expected = ["PipelineRootClassifier", "Classifier", "SpoofGuard", "ConntrackZone", "ConntrackState",
                "AntreaPolicyEgressRule", "EgressRule", "EgressDefaultRule", "EgressMetric", "L3Forwarding",
                "L3DecTTL", "L2ForwardingCalc", "IngressSecurityClassifier", "AntreaPolicyIngressRule",
                "IngressRule", "IngressDefaultRule", "IngressMetric", "ConntrackCommit", "Output"]
    assert [n for n in names if n in expected] == expected
    assert table_id("PipelineRootClassifier") == 0


@pytest.mark.parametrize("lo,hi", [(0, 65535), (80, 80), (1000, 2000), (32768, 65535), (1, 65534), (5, 6)])
def test_port_range_masks_cover_exactly(lo, hi):
    covered = set()
    for value, mask in range_to_masks(lo, hi):
        assert value & ~mask & 0xFFFF == 0, "value must be aligned to its mask"
        size = (~mask & 0xFFFF) + 1
        covered |= set(range(value, value + size))
    assert covered == set(range(lo, hi + 1))


def test_port_range_masks_random_and_minimal():
    rng = random.Random(7)
    for _ in range(300):
        lo = rng.randrange(0, 65536)
        hi = rng.randrange(lo, min(65536, lo + rng.choice([2, 100, 5000, 70000])))
        masks = range_to_masks(lo, hi)
        assert len(masks) <= 2 * 16  # at most two blocks per bit position
        assert sum((~m & 0xFFFF) + 1 for _, m in masks) == hi - lo + 1
    assert range_to_masks(32768, 65535) == [(0x8000, 0x8000)]
    with pytest.raises(ValueError):
        range_to_masks(10, 5)


def test_flow_text_round_trip_and_dump_parsing():
    flow = FlowEntry("AntreaPolicyIngressRule", 64000, "conj_id=3,ip",
                     "set_field:0x3->reg3,goto_table:IngressMetric", cookie=0x2000000000003)
    assert parse_flow(flow.text()) == flow
    assert parse_flow(flow.text(names=False)) == flow  # table ids map back to names
    assert "table=16" in flow.text(names=False) or f"table={table_id('AntreaPolicyIngressRule')}" in flow.text(names=False)
    dump = (" cookie=0x2000000000003, duration=1.2s, table=15, n_packets=7, n_bytes=518, priority=64000,"
            "conj_id=3,ip actions=set_field:0x3->reg3,goto_table:18\n")
    (parsed,) = parse_dump("NXST_FLOW reply (xid=0x4):\n" + dump)
    assert parsed.table == "AntreaPolicyIngressRule" and parsed.n_packets == 7 and parsed.priority == 64000
    assert parsed.actions.endswith("goto_table:IngressMetric")


def _lab(policy: str | None = None, profile: str = "workshop") -> Lab:
    lab = Lab(backend="sim", profile=profile)
    if policy:
        lab.apply(policy)
    return lab


def test_every_node_compiles_and_renders():
    lab = _lab()
    topology = build_topology(load_topology(), lab.state)
    for node in topology.nodes:
        flows = compile_flows(lab.policy_set, topology, node.name)
        text = render_flows(flows, names=False)
        assert len(parse_dump(text)) == len(flows)
        assert len({f.key for f in flows}) == len(flows), "one flow per (table, priority, match)"


def _many_pods(n: int, ns: str) -> str:
    docs = [f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}, labels: {{role: {ns}}}}}"]
    for i in range(n):
        docs.append(f"apiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}, namespace: {ns}, labels: {{app: {ns}}}}}\n"
                    "spec: {containers: [{name: c, image: x, ports: [{containerPort: 80}]}]}")
    return "\n---\n".join(docs)


def test_conjunction_costs_n_plus_m_not_n_times_m():
    """A rule with N source pods and M destination pods costs N + M + ports + const flows."""
    n, m = 60, 40
    lab = _lab(profile=None)
    lab.apply(_many_pods(n, "src") + "\n---\n" + _many_pods(m, "dst"))
    lab.apply("""
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: big}
spec:
  priority: 1
  appliedTo: [{namespaceSelector: {matchLabels: {role: dst}}}]
  ingress:
  - action: Allow
    from: [{namespaceSelector: {matchLabels: {role: src}}}]
    ports: [{protocol: TCP, port: 80}, {protocol: TCP, port: 443}]
""")
    topology = build_topology(load_topology(), lab.state)
    total = 0
    for node in topology.nodes:
        local_dst = sum(1 for p in topology.pods_on(node.name) if p.key.startswith("dst/"))
        flows = [f for f in compile_flows(lab.policy_set, topology, node.name)
                 if decode_cookie(f.cookie) == ("policy", 0)]
        if local_dst == 0:
            assert flows == []  # not programmed where no applied-to pod runs
            continue
        rule_table = [f for f in flows if f.table == "AntreaPolicyIngressRule"]
        # N source IPs + local applied-to ports + 2 services + 1 conj_id action flow
        assert len(rule_table) == n + local_dst + 2 + 1
        total += len(rule_table)
    assert total < n * m / 5


def test_cookies_map_flows_to_rules():
    lab = _lab("""
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: c}
spec:
  priority: 1
  appliedTo: [{podSelector: {}}]
  ingress: [{action: Drop, name: d, from: [{namespaceSelector: {matchLabels: {ns: y}}}]}]
""")
    topology = build_topology(load_topology(), lab.state)
    flows = compile_flows(lab.policy_set, topology, "kind-worker")
    policy_flows = [f for f in flows if decode_cookie(f.cookie)[0] == "policy"]
    assert policy_flows and all(f.cookie == cookie_for_rule(0) for f in policy_flows)
    assert lab.policy_set.rule(decode_cookie(policy_flows[0].cookie)[1]).rule_name == "d"


def test_named_ports_resolve_per_destination_pod():
    lab = _lab("""
apiVersion: v1
kind: Pod
metadata: {name: odd, namespace: x, labels: {pod: odd}}
spec:
  nodeName: kind-worker
  containers: [{name: c, image: x, ports: [{name: web, containerPort: 8080}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: even, namespace: x, labels: {pod: even}}
spec:
  nodeName: kind-worker
  containers: [{name: c, image: x, ports: [{name: web, containerPort: 9090}]}]
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: named}
spec:
  priority: 1
  appliedTo: [{podSelector: {matchExpressions: [{key: pod, operator: In, values: [odd, even]}]}}]
  ingress: [{action: Drop, ports: [{protocol: TCP, port: web}]}]
""")
    topology = build_topology(load_topology(), lab.state)
    flows = compile_flows(lab.policy_set, topology, "kind-worker")
    text = render_flows(flows)
    odd, even = topology.pods["x/odd"], topology.pods["x/even"]
    assert "tcp,tp_dst=8080" in text and "tcp,tp_dst=9090" in text
    conj_actions = [f for f in flows if f.match.startswith("conj_id=")]
    assert len(conj_actions) == 2  # one conjunction per distinct resolution
    for pod, port in ((odd, 8080), (even, 9090)):
        reg = next(f for f in flows if f.match == f"ip,reg1={pod.ofport:#x}")
        svc = next(f for f in flows if f.match == f"tcp,tp_dst={port}")
        assert reg.actions.split(",")[0].split("(")[1] == svc.actions.split(",")[0].split("(")[1]


def test_topology_yaml_errors_are_reported_together(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: labkit.io/v1alpha1\nkind: Topology\nmetadata: {name: bad}\n"
                   "spec: {underlay: {cidr: nope, mtu: 1500}, tunnel: {type: gre}, pods: {mtu: 1490}}\n")
    with pytest.raises(ManifestError) as info:
        load_topology(str(bad))
    assert len(info.value.problems) == 3
    with pytest.raises(NotFoundError):
        load_topology("does-not-exist")


def test_ofports_stay_stable_when_pods_come_and_go():
    lab = _lab()
    spec = load_topology()
    first = build_topology(spec, lab.state)
    lab.delete("pod/x/a")
    second = build_topology(spec, lab.state, previous=first)
    for key, pod in second.pods.items():
        assert pod.ofport == first.pods[key].ofport
