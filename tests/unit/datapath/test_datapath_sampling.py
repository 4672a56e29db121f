"""The IPFIX sampling transform (labkit.datapath.sampling): which flows sample, and point ids that
name the rule. Pure; the e2e test tests/e2e/ovs/test_flows_ovs.py runs it through real OVS."""

from __future__ import annotations

from labkit import Lab
from labkit.backends.ovs.topology import build_topology, load_topology
from labkit.datapath import compile_flows, decode_cookie
from labkit.datapath.compile import CONNTRACK_COOKIE, ISOLATION_VALUE, cookie_for_rule
from labkit.datapath.sampling import cookie_of_point, observation_point_id, with_sampling

POLICIES = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: redis-from-cart, namespace: data}
spec:
  podSelector: {matchLabels: {app: redis}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: cart}}, namespaceSelector: {}}]
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: no-web-to-db}
spec:
  priority: 5
  tier: securityops
  appliedTo: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: frontend}}}]
  egress:
  - {action: Reject, name: reject-db, to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: data}}}]}
  - {action: Drop, name: drop-monitoring, to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}}]}
"""


def test_point_ids_round_trip_to_the_flow_cookie():
    for cookie in (CONNTRACK_COOKIE, cookie_for_rule(0), cookie_for_rule(4242), (3 << 48) | ISOLATION_VALUE["Ingress"]):
        assert cookie_of_point(observation_point_id(cookie)) == cookie
        assert observation_point_id(cookie) < 1 << 32
    assert decode_cookie(cookie_of_point(observation_point_id(cookie_for_rule(7)))) == ("policy", 7)


def test_sampling_flows_name_every_decision():
    lab = Lab(profile="shop")
    lab.apply(POLICIES)
    topology = build_topology(load_topology(None), lab.state)
    node = lab.state.pod("frontend/web-z7x94qhlsx-hqj7z").node_name
    plain = compile_flows(lab.policy_set, topology, node)
    sampled = with_sampling(plain, domain=1234)
    assert len(sampled) == len(plain) + 1  # the ConntrackState accounting flow; the rest only gain an action
    accounting = [f for f in sampled if f.table == "ConntrackState" and "sample(" in f.actions]
    assert [f.actions for f in accounting] == [
        f"sample(probability=65535,collector_set_id=1,obs_domain_id=1234,obs_point_id={4 << 24}),"
        "goto_table:AntreaPolicyEgressRule"]
    changed = {(f.table, f.match): f for f in sampled if "sample(" in f.actions and f.table != "ConntrackState"}
    for flow in changed.values():
        point = int(flow.actions.split("obs_point_id=")[1].split(")")[0])
        assert cookie_of_point(point) == flow.cookie  # the point id names the flow's rule
        assert "obs_domain_id=1234" in flow.actions
    reject = [f for f in changed.values() if "controller(" in f.actions]
    drop = [f for f in changed.values() if f.table == "EgressMetric" and f.actions.startswith("sample(")
            and "," not in f.actions.split(")", 1)[1]]
    allow = [f for f in changed.values() if "ct_state=+new" in f.match and "ct(commit" in f.actions]
    assert reject and drop and reject[0].actions.endswith("controller(max_len=65535)")
    # A sampled drop is the sample action alone (OVS does not combine drop with other actions).
    assert all(f.actions.count("sample(") == 1 for f in changed.values())
    assert not allow or all(f.actions.startswith("sample(") for f in allow)
    assert not any("drop" in f.actions for f in changed.values())
    # Established packets are never sampled by a rule (they bypass the rule tables): one per connection.
    assert not any("ct_state=-new" in f.match for f in changed.values())


def test_isolation_and_allow_flows_sample_on_the_destination_node():
    lab = Lab(profile="shop")
    lab.apply(POLICIES)
    topology = build_topology(load_topology(None), lab.state)
    node = lab.state.pod("data/redis").node_name
    sampled = with_sampling(compile_flows(lab.policy_set, topology, node))
    isolation = [f for f in sampled if decode_cookie(f.cookie)[0] == "isolation"]
    assert isolation and all(f.actions.startswith("sample(") and "drop" not in f.actions for f in isolation)
    policy = [f for f in sampled if decode_cookie(f.cookie)[0] == "policy"]
    allow = [f for f in policy if "ct_state=+new" in f.match and "ct(commit" in f.actions]
    assert allow and all(f.actions.startswith("sample(") and f.table.endswith("Metric") for f in allow)
    # A rule's conj_id flow only marks the packet: its Metric flow samples it, once.
    assert all("sample(" not in f.actions for f in policy if f.match.startswith("conj_id="))
