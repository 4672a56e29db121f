"""Traffic profiles, planning, and the per-Node records the sim's Flow Exporters produce."""

from __future__ import annotations

from collections import defaultdict

import pytest

from labkit import Lab
from labkit.flows.records import PolicyType, RuleAction
from labkit.flows.traffic import (
    SHOP_TRAFFIC,
    FlowSource,
    SimFlowSource,
    TrafficError,
    TrafficProfile,
    TrafficRule,
    decide,
    plan_connections,
    traffic_profile,
)

PODS = """
apiVersion: v1
kind: Namespace
metadata: {name: x, labels: {ns: x}}
---
apiVersion: v1
kind: Namespace
metadata: {name: y, labels: {ns: y}}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {app: a}}
spec: {nodeName: kind-worker, containers: [{name: c, image: i, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: c, namespace: x, labels: {app: c}}
spec: {nodeName: kind-worker, containers: [{name: c, image: i, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: y, labels: {app: b}}
spec: {nodeName: kind-worker2, containers: [{name: c, image: i, ports: [{containerPort: 80}]}]}
"""
A_TO_B = TrafficRule("a-to-b", "x/a", "y/b", 80, connections_per_minute=1, duration_s=1.0)
A_TO_C = TrafficRule("a-to-c", "x/a", "x/c", 80, connections_per_minute=1, duration_s=1.0)
PROFILE = TrafficProfile("xy", (A_TO_B, A_TO_C))


@pytest.fixture
def xy():
    lab = Lab(profile=None, name="flows-xy")
    lab.apply(PODS)
    yield lab
    lab.stop()


@pytest.fixture(scope="module")
def shop():
    lab = Lab(profile="shop", name="flows-shop")
    yield lab
    lab.stop()


def by_exporter(run):
    out = defaultdict(list)
    for e in run.exports:
        out[(e.record.key.destination_ip, e.exporter)].append(e.record)
    return out


def test_each_agent_fills_only_what_it_knows(xy):
    run = xy.generate_traffic(PROFILE, duration_s=60)
    b_ip, c_ip = xy.pod_ip("y/b"), xy.pod_ip("x/c")
    records = by_exporter(run)
    assert set(records) == {(b_ip, "kind-worker"), (b_ip, "kind-worker2"), (c_ip, "kind-worker")}
    src = records[(b_ip, "kind-worker")][-1]
    dst = records[(b_ip, "kind-worker2")][-1]
    assert (src.source_pod_name, src.source_node_name, src.destination_pod_name) == ("a", "kind-worker", "")
    assert (dst.source_pod_name, dst.destination_pod_name, dst.destination_node_name) == ("", "b", "kind-worker2")
    assert src.flow_type == dst.flow_type == 2
    intra = records[(c_ip, "kind-worker")][-1]  # one Node knows both Pods (1 or 2 exports)
    assert (intra.source_pod_name, intra.destination_pod_name, intra.flow_type) == ("a", "c", 1)
    # No policy: action 0 and no names on both sides.
    assert (src.egress_network_policy_rule_action, dst.ingress_network_policy_rule_action) == (0, 0)
    assert src.verdict == dst.verdict == "allow" and src.tcp_state == "TIME_WAIT"


K8S_ALLOW = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b-from-x, namespace: y}
spec:
  podSelector: {matchLabels: {app: b}}
  policyTypes: [Ingress]
  ingress: [{from: [{namespaceSelector: {matchLabels: {ns: x}}}], ports: [{port: 80}]}]
"""
K8S_ISOLATE = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: isolate-b, namespace: y}
spec: {podSelector: {matchLabels: {app: b}}, policyTypes: [Ingress]}
"""
ACNP_REJECT = """
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: reject-x-to-y}
spec:
  tier: securityops
  priority: 5
  appliedTo: [{namespaceSelector: {matchLabels: {ns: x}}}]
  egress: [{action: Reject, name: no-y, to: [{namespaceSelector: {matchLabels: {ns: y}}}]}]
"""
ANNP_ALLOW = """
apiVersion: crd.antrea.io/v1beta1
kind: NetworkPolicy
metadata: {name: a-out, namespace: x}
spec:
  priority: 5
  appliedTo: [{podSelector: {matchLabels: {app: a}}}]
  egress: [{action: Allow, name: to-b, to: [{namespaceSelector: {matchLabels: {ns: y}}}]}]
"""


def test_k8s_allow_names_the_policy_but_not_the_rule(xy):
    xy.apply(K8S_ALLOW)
    records = by_exporter(xy.generate_traffic(PROFILE.only("a-to-b")))
    dst = records[(xy.pod_ip("y/b"), "kind-worker2")][-1]
    assert (dst.ingress_network_policy_name, dst.ingress_network_policy_namespace,
            dst.ingress_network_policy_type, dst.ingress_network_policy_rule_name,
            dst.ingress_network_policy_rule_action) == ("b-from-x", "y", PolicyType.K8S, "", RuleAction.ALLOW)


def test_k8s_isolation_drop_is_type_1_drop_without_name(xy):
    xy.apply(K8S_ISOLATE)
    run = xy.generate_traffic(PROFILE.only("a-to-b"))
    records = by_exporter(run)
    src, = records[(xy.pod_ip("y/b"), "kind-worker")]
    dst, = records[(xy.pod_ip("y/b"), "kind-worker2")]
    assert (dst.ingress_network_policy_name, dst.ingress_network_policy_type,
            dst.ingress_network_policy_rule_action) == ("", PolicyType.K8S, RuleAction.DROP)
    # The denied client retransmitted its SYN; the source Node's conntrack saw the same packets.
    assert dst.packet_total_count == src.packet_total_count == 3 and dst.reverse_packet_total_count == 0
    assert src.tcp_state == "SYN_SENT" and src.verdict == "allow" and dst.verdict == "drop"
    assert run.connections[0].verdict == "drop"


def test_egress_reject_is_known_only_at_the_source(xy):
    xy.apply(ACNP_REJECT)
    records = by_exporter(xy.generate_traffic(PROFILE.only("a-to-b")))
    assert set(records) == {(xy.pod_ip("y/b"), "kind-worker")}
    src, = records[(xy.pod_ip("y/b"), "kind-worker")]
    assert (src.egress_network_policy_name, src.egress_network_policy_namespace, src.egress_network_policy_type,
            src.egress_network_policy_rule_name, src.egress_network_policy_rule_action) == (
        "reject-x-to-y", "", PolicyType.ACNP, "no-y", RuleAction.REJECT)
    assert src.ingress_network_policy_rule_action == 0  # the ingress side was never evaluated
    assert src.packet_total_count == 1 and src.verdict == "reject"


def test_annp_allow_is_type_2_with_rule_name(xy):
    xy.apply(ANNP_ALLOW)
    records = by_exporter(xy.generate_traffic(PROFILE.only("a-to-b")))
    src = records[(xy.pod_ip("y/b"), "kind-worker")][-1]
    assert (src.egress_network_policy_name, src.egress_network_policy_namespace, src.egress_network_policy_type,
            src.egress_network_policy_rule_name, src.egress_network_policy_rule_action) == (
        "a-out", "x", PolicyType.ANNP, "to-b", RuleAction.ALLOW)


def test_services_are_seen_by_the_source_node_only(shop):
    run = shop.generate_traffic(SHOP_TRAFFIC.only("web-to-api"), duration_s=30)
    api = next(s for s in shop.state.services if s.name == "api")
    for e in run.exports:
        r = e.record
        if r.source_pod_name:  # exported by the client's Node
            assert (r.destination_service_port_name, r.destination_cluster_ip, r.destination_service_port) == (
                "backend/api:http", api.cluster_ip, 8080)
        else:
            assert (r.destination_service_port_name, r.destination_cluster_ip) == ("", "")
        assert r.destination_transport_port == 8080 and r.destination_pod_name in ("", *[
            p.name for p in shop.state.pods if p.labels.get("app") == "api"])
    endpoints = {c.planned.destination for c in run.connections}
    assert len(endpoints) == 2  # Antrea Proxy spreads the connections over both api Pods


def test_counters_are_monotonic_and_deltas_add_up(shop):
    run = shop.generate_traffic(SHOP_TRAFFIC, duration_s=60, seed=3)
    series = defaultdict(list)
    for e in run.exports:
        series[(e.exporter, e.record.key)].append(e)
    long_lived = [s for s in series.values() if len(s) > 2]
    assert long_lived, "api-to-postgres connections last 25 s: several exports each"
    for exports in series.values():
        records = [e.record for e in exports]
        assert [e.export_time_s for e in exports] == sorted(e.export_time_s for e in exports)
        assert all(a.flow_end_seconds < b.flow_end_seconds for a, b in zip(records, records[1:]))
        assert all(a.octet_total_count <= b.octet_total_count for a, b in zip(records, records[1:]))
        assert sum(r.octet_delta_count for r in records) == records[-1].octet_total_count
        assert sum(r.reverse_packet_delta_count for r in records) == records[-1].reverse_packet_total_count
        assert records[-1].flow_end_reason in (1, 3) and all(r.flow_end_reason == 2 for r in records[:-1])


def test_runs_are_deterministic(shop):
    one = shop.generate_traffic(SHOP_TRAFFIC, duration_s=60, seed=7)
    two = shop.generate_traffic(SHOP_TRAFFIC, duration_s=60, seed=7)
    other = shop.generate_traffic(SHOP_TRAFFIC, duration_s=60, seed=8)
    assert one.exports == two.exports and one.exports != other.exports
    assert len({(e.exporter, e.record.key) for e in one.exports}) > 50
    ports = [c.planned.key.source_transport_port for c in one.connections]
    assert all(32768 <= p <= 60999 for p in ports)
    pairs = {(c.planned.key.source_ip, c.planned.key.source_transport_port) for c in one.connections}
    assert len(pairs) == len(one.connections)  # no 5-tuple reused


def test_rates_follow_the_profile(shop):
    planned = plan_connections(shop.state, SHOP_TRAFFIC.only("web-to-api", "prometheus-scrapes-backend"),
                               duration_s=120)
    counts = defaultdict(int)
    for c in planned:
        counts[c.rule] += 1
    assert counts["web-to-api"] == 2 * 30 * 2  # per web Pod, 30 a minute, 2 minutes
    assert counts["prometheus-scrapes-backend"] == 3 * 4 * 2  # per (Prometheus, backend Pod) pair


def test_flow_source_protocol_polls_in_export_order(shop):
    planned = plan_connections(shop.state, SHOP_TRAFFIC, duration_s=30)
    source = SimFlowSource(shop.state, decide(shop.state, shop.policy_set, planned))
    assert isinstance(source, FlowSource)
    start = planned[0].start_s
    first = source.poll(start + 10)
    rest = source.poll(float("inf"))
    assert first and rest and all(e.export_time_s <= start + 10 for e in first)
    assert first + rest == source.exports and source.poll(float("inf")) == []


def test_profile_errors_say_where_and_how(shop):
    bad = TrafficProfile("bad", (TrafficRule("ping", "frontend/app=web", "svc/backend/api", 8080, protocol="ICMP"),
                                 TrafficRule("nobody", "frontend/app=nope", "svc/backend/api", 8080),
                                 TrafficRule("nosvc", "frontend/app=web", "svc/backend/cartz", 8080),
                                 TrafficRule("noport", "frontend/app=web", "svc/backend/api", 9999)))
    with pytest.raises(TrafficError) as info:
        plan_connections(shop.state, bad)
    text = str(info.value)
    assert "protocolFilter" in text and "rule 0 (ping)" in text
    assert "matches no Pod" in text and "svc/backend/api" in text and "8080/TCP (http)" in text
    with pytest.raises(TrafficError, match="no traffic profile"):
        traffic_profile("nope")


def test_profiles_load_from_yaml(tmp_path, shop):
    path = tmp_path / "traffic.yaml"
    path.write_text("""
apiVersion: labkit.io/v1alpha1
kind: TrafficProfile
metadata: {name: mini}
spec:
  rules:
  - {name: scrape, from: monitoring/prometheus, to: "backend/*", port: 8080, connectionsPerMinute: 2}
  - {name: probe, from: frontend/app=web, to: data/app=redis, port: redis, probe: true}
""")
    profile = traffic_profile(str(path))
    assert [r.name for r in profile.rules] == ["scrape", "probe"] and profile.probes().rules[0].probe
    planned = plan_connections(shop.state, profile, duration_s=60)
    assert {c.key.destination_transport_port for c in planned if c.rule == "probe"} == {6379}  # named port
    assert list(SHOP_TRAFFIC.frame().columns[:4]) == ["name", "source", "destination", "port"]
    with pytest.raises(TrafficError, match="unknown field"):
        TrafficRule.from_dict({"name": "x", "from": "a/b", "to": "c/d", "port": 1, "rate": 3})
