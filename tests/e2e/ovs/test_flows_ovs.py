"""Flow visibility on the ovs backend: records from Open vSwitch's own IPFIX export.

Real connections between pod namespaces, real OVS flow sampling (``sample`` actions whose
observation point ids name the rule), a labkit IPFIX collector inside each node's namespace, and
conntrack: the records must carry the pods, namespaces, nodes and deciding rules, denied
connections must appear with Drop or Reject, and the counts must agree with OVS's own counters.
Runtime: about 85 s on the 2-core machine (three labs, one of them the notebook's: ~50 s).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from labkit import Lab
from labkit.flows.records import RuleAction
from labkit.flows.traffic import TrafficProfile, TrafficRule

from ovs_support import assert_no_leaks, require_ovs

pytestmark = [pytest.mark.root, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]

# Drop: K8s isolation of data/redis (only cart may connect). Reject: an ACNP rejecting what the
# frontend sends to the data namespace on 5432, at egress (decided on the web pod's node).
POLICIES = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: redis-from-cart, namespace: data}
spec:
  podSelector: {matchLabels: {app: redis}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: backend}}
      podSelector: {matchLabels: {app: cart}}
    ports: [{protocol: TCP, port: 6379}]
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: no-web-to-db}
spec:
  priority: 5
  tier: securityops
  appliedTo: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: frontend}}}]
  egress:
  - action: Reject
    name: reject-db
    to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: data}}}]
    ports: [{protocol: TCP, port: 5432}]
"""

TRAFFIC = TrafficProfile("flows-e2e", (
    TrafficRule("cart-to-redis", "backend/app=cart", "data/app=redis", 6379, connections_per_minute=30),
    TrafficRule("web-to-redis", "frontend/app=web", "data/app=redis", 6379, connections_per_minute=6, probe=True),
    TrafficRule("web-to-postgres", "frontend/app=web", "svc/data/postgres", 5432, connections_per_minute=6,
                probe=True),
    TrafficRule("web-to-api", "frontend/app=web", "svc/backend/api", 8080, connections_per_minute=30),
))


@pytest.fixture(scope="module")
def flows_lab(tmp_path_factory):
    require_ovs()
    name = f"flw{os.getpid() % 10000}"
    state_dir = tmp_path_factory.mktemp("flows-ovs")
    lab = Lab(backend="ovs", profile="shop", name=name, state_dir=state_dir)
    try:
        lab.apply(POLICIES)
        yield lab
    finally:
        lab.stop()
        assert_no_leaks(name, state_dir)


@pytest.fixture(scope="module")
def run(flows_lab):
    return flows_lab.generate_traffic(TRAFFIC, duration_s=20, seed=7)


def test_every_planned_connection_has_records_with_pod_and_policy_metadata(flows_lab, run):
    frame = run.frame()
    # Exported while the traffic ran: a connection may have several records per node (totals and
    # deltas, flowEndSeconds growing); the last one of each node carries the final totals.
    assert (frame.groupby(["exporter", "sourceIP", "sourceTransportPort"]).packetDeltaCount.sum()
            == frame.groupby(["exporter", "sourceIP", "sourceTransportPort"]).packetTotalCount.last()).all()
    frame = frame.groupby(["exporter", "sourceIP", "sourceTransportPort"], as_index=False).last()
    assert len(frame) > 0 and not frame.exporter.isin(["kind-control-plane"]).any()
    pods = {p.key: p for p in flows_lab.state.pods}
    for c in run.connections:  # every connection the clients opened shows up where its pods run
        key = c.planned.key
        mine = frame[(frame.sourceIP == key.source_ip) & (frame.sourceTransportPort == key.source_transport_port)]
        src, dst = pods[c.planned.source], pods[c.planned.destination]
        at_source = mine[mine.exporter == src.node_name]
        assert len(at_source) == 1, (c.planned.rule, key)
        row = at_source.iloc[0]
        assert (row.sourcePodNamespace, row.sourcePodName, row.sourceNodeName) == (src.namespace, src.name,
                                                                                    src.node_name)
        assert row.packetTotalCount >= 1 and row.octetTotalCount >= 60
        if c.verdict == "allow":
            assert row.reversePacketTotalCount >= 1 and row.tcpState == "TIME_WAIT"
            at_destination = mine[mine.exporter == dst.node_name].iloc[0]
            assert (at_destination.destinationPodNamespace, at_destination.destinationPodName,
                    at_destination.destinationNodeName) == (dst.namespace, dst.name, dst.node_name)
        if c.planned.service:  # the source node names the Service the client addressed
            assert row.destinationServicePortName == c.planned.service_port_name


def test_denied_connections_are_reported_with_drop_and_reject(run):
    flows = run.aggregate().flows()
    assert set(flows.verdict) == {"allow", "drop", "reject"}
    assert len(flows) == len(run.connections)
    predicted = {(c.planned.key.source_ip, c.planned.key.source_transport_port): c.verdict for c in run.connections}
    observed = {(ip, port): v for ip, port, v in zip(flows.sourceIP, flows.sourceTransportPort, flows.verdict)}
    assert observed == predicted  # the datapath's records agree with the policy engine, flow by flow
    rejected = flows[flows.verdict == "reject"]
    assert set(rejected.egressNetworkPolicyName) == {"no-web-to-db"}
    assert set(rejected.egressNetworkPolicyRuleName) == {"reject-db"}
    assert set(rejected.egressNetworkPolicyType) == {3}
    assert set(rejected.egressNetworkPolicyRuleAction) == {int(RuleAction.REJECT)}
    dropped = flows[flows.verdict == "drop"]  # K8s isolation: type 1, Drop, no policy name (as Antrea)
    assert set(dropped.destination) == {"data/redis"} and set(dropped.source.str.split("/").str[0]) == {"frontend"}
    assert set(dropped.ingressNetworkPolicyType) == {1} and set(dropped.ingressNetworkPolicyName) == {""}
    assert set(dropped.ingressNetworkPolicyRuleAction) == {int(RuleAction.DROP)}
    allowed = flows[(flows.verdict == "allow") & (flows.destination == "data/redis")]
    assert set(allowed.ingressNetworkPolicyName) == {"redis-from-cart"} and len(allowed) > 0
    # What the clients saw: a refused connect (the reject agent's RST) or silence until the timeout.
    seen = {o.planned.key.source_transport_port: o.result for o in run.outcomes}
    assert {seen[p] for p in rejected.sourceTransportPort} == {"refused"}
    assert {seen[p] for p in dropped.sourceTransportPort} == {"timeout"}


def test_counts_agree_with_ovs_counters(flows_lab, run):
    for node, c in run.datapath.items():  # per node: dump-flows n_packets and dump-ipfix-flow vs records
        assert c.accounting_flow_packets == c.accounting_ipfix_packets, c
        assert c.ovs_sampled_packets == c.ipfix_sampled_packets and c.lost_packets == 0, c
        assert c.collector_errors == 0, c
    frame = run.frame()
    # Every packet sampled at a node is counted once in that node's records (deltas, both directions).
    for node, c in run.datapath.items():
        mine = frame[frame.exporter == node]
        assert int(mine.packetDeltaCount.sum() + mine.reversePacketDeltaCount.sum()) == c.accounting_ipfix_packets
    # The Reject rule's Metric flow counted exactly the packets the Reject records carry.
    for node in {n for n in frame.exporter}:
        flows = flows_lab.dump_flows(node, "EgressMetric")
        reject_flow = flows[(flows.rule == "reject-db") & flows.actions.str.contains("controller", case=False)]
        records = frame[(frame.exporter == node) & (frame.egressNetworkPolicyRuleAction == int(RuleAction.REJECT))]
        assert int(reject_flow.n_packets.sum()) == int(records.packetDeltaCount.sum())


def test_sampling_changes_no_verdict_and_no_traceflow(flows_lab, run):
    """With the sampling flows installed, packets still go where the engine says, and Traceflow
    reads the same observations (the sample actions are invisible to both)."""
    from labkit.backends.sim import predict_traceflow

    assert flows_lab.backend.flow_export is not None
    assert "sample(" in flows_lab.dump_flows("kind-worker", "ConntrackState").actions.str.cat()
    for port in (5432, 6379):
        observed, expected = flows_lab.reachability(port=port), flows_lab.expected_reachability(port=port)
        assert (observed.codes == expected.codes).all(), f"TCP/{port}"
    pods = [p.key for p in flows_lab.state.pods]
    for src in pods:
        for dst in pods:
            if src != dst:
                real = flows_lab.traceflow(src, dst, port=6379)
                predicted = predict_traceflow(flows_lab.state, flows_lab.explain(src, dst, 6379))
                assert [(n, o.to_dict()) for n, o in real.observations] == \
                       [(n, o.to_dict()) for n, o in predicted.observations], f"{src} -> {dst}"


def test_benchmark_loses_nothing_small(tmp_path):
    """bench/bench_flows_ovs.py at 2 x 3 pods: every connection's record arrives, none lost."""
    require_ovs()
    import sys

    sys.path.insert(0, str(ROOT / "bench"))
    import bench_flows_ovs

    name = f"flb{os.getpid() % 10000}"
    result = bench_flows_ovs.bench(pods_per_node=3, name=name)
    assert result["missing"] == 0 and result["lost"] == 0 and result["agree"] == result["connections"] == 30
    assert all(a == b for a, b in result["accounting"].values())
    assert result["latency_max_s"] < 5.0  # within Antrea's activeFlowExportTimeout
    assert_no_leaks(name, tmp_path)
