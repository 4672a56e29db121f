"""Least-privilege recommendation end to end on sim: generate traffic on the shop, recommend,
apply, and check that every observed allowed flow is still allowed and nothing else is."""

from __future__ import annotations

import itertools

import pytest
import yaml

from labkit import Lab
from labkit.flows.recommend import RecommendationError, Workload, observed_flows, recommend_policies
from labkit.flows.summary import workload_of
from labkit.flows.traffic import SHOP_TRAFFIC, TrafficProfile, TrafficRule

PORTS = (8080, 5432, 6379, 9090)


@pytest.fixture(scope="module")
def learned():
    lab = Lab(profile="shop", name="flows-learn")
    flows = lab.generate_traffic(SHOP_TRAFFIC.apps(), duration_s=300, seed=2).aggregate().flows()
    lab.stop()
    return flows


def observed_triples(flows) -> set[tuple[str, str, int]]:
    allowed = flows[flows.verdict == "allow"]
    return {(workload_of(s), workload_of(d), int(p))
            for s, d, p in zip(allowed.source, allowed.destination, allowed.destinationTransportPort)}


@pytest.mark.parametrize("mode,isolation", list(itertools.product(["k8s", "antrea"], ["namespaces", "workloads"])))
def test_recommended_policies_allow_exactly_what_was_observed(learned, mode, isolation):
    lab = Lab(profile="shop", name="flows-rec")
    rec = recommend_policies(learned, lab.state, mode=mode, isolation=isolation)
    lab.apply(rec.manifests)  # the manifests are valid: apply checks them as the API server would
    observed = observed_triples(learned)
    assert len(observed) == 6  # the shop's five intended flows, prometheus counted per workload
    denied = "drop" if mode == "k8s" else "reject"
    pods = [p.key for p in lab.state.pods]
    for port in PORTS:
        matrix = lab.expected_reachability(port=port)
        assert matrix.same_as(lab.reachability(port=port))
        for s, d in itertools.product(pods, pods):
            if s == d:
                continue
            want = "allow" if (workload_of(s), workload_of(d), port) in observed else denied
            assert matrix[s, d] == want, f"{mode}/{isolation}: {s} -> {d} :{port} is {matrix[s, d]}"
    lab.stop()


def test_the_probes_are_denied_after_the_recommendation(learned):
    lab = Lab(profile="shop", name="flows-rec")
    lab.apply(recommend_policies(learned, lab.state).manifests)
    run = lab.generate_traffic(SHOP_TRAFFIC, duration_s=120, seed=3)
    after = run.aggregate().flows()
    denied = after[after.verdict != "allow"]
    probes = {r.name for r in SHOP_TRAFFIC.probes().rules}
    assert {c.planned.rule for c in run.connections if c.verdict != "allow"} == probes
    # K8s isolation: type 1, Drop, no policy name, at the source (egress isolated by the default deny).
    assert set(denied.egressNetworkPolicyType) == {1} and set(denied.egressNetworkPolicyRuleAction) == {2}
    assert set(denied.egressNetworkPolicyName) == {""}
    lab.stop()


def test_manifests_are_yaml_a_cluster_accepts_and_names_are_stable(learned):
    lab = Lab(profile="shop", name="flows-rec")
    one = recommend_policies(learned, lab.state, mode="antrea")
    two = recommend_policies(learned, lab.state, mode="antrea")
    assert one.manifests == two.manifests and one.names() == two.names()
    docs = list(yaml.safe_load_all(one.yaml()))
    assert docs == one.manifests
    lab.apply(one.yaml())
    kinds = {(m["kind"], m["spec"].get("tier")) for m in one.manifests}
    assert kinds == {("NetworkPolicy", "application"), ("ClusterNetworkPolicy", "application"),
                     ("ClusterNetworkPolicy", "baseline")}
    assert "annp/backend/recommend-allow-anp-api-" in str(one)
    frame = one.frame()
    assert list(frame.columns) == ["source", "destination", "protocol", "port", "pod_pairs"]
    assert ("frontend/app=web,role=frontend", "backend/app=api,role=backend", 8080) in set(
        zip(frame.source, frame.destination, frame.port))
    lab.stop()


def test_workloads_drop_the_labels_controllers_add():
    lab = Lab(profile="shop", name="flows-rec")
    web = [p for p in lab.state.pods if p.labels.get("app") == "web"]
    assert len({Workload.of(p) for p in web}) == 1 and "pod-template-hash" in web[0].labels
    assert Workload.of(web[0]).match_labels == {"app": "web", "role": "frontend"}
    assert len({Workload.of(p, remove_auto_labels=False) for p in web}) == 1  # same hash, same ReplicaSet
    lab.stop()


SYSTEM = """
apiVersion: v1
kind: Namespace
metadata: {name: kube-system}
---
apiVersion: v1
kind: Pod
metadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec: {containers: [{name: c, image: i, ports: [{containerPort: 53, protocol: UDP, name: dns}]}]}
"""


def test_allow_listed_namespaces_and_dns():
    lab = Lab(profile="shop", name="flows-rec")
    lab.apply(SYSTEM)
    profile = TrafficProfile("dns", SHOP_TRAFFIC.apps().rules + (
        TrafficRule("dns", "*/*", "kube-system/coredns", 53, protocol="UDP", connections_per_minute=2,
                    request_bytes=60, response_bytes=120),))
    flows = lab.generate_traffic(profile, duration_s=120, seed=1).aggregate().flows()
    assert (flows.destinationTransportPort == 53).any()
    assert all(f.destination.namespace != "kube-system" for f in observed_flows(flows, lab.state))
    rec = recommend_policies(flows, lab.state, mode="antrea")
    assert "acnp/recommend-allow-acnp-kube-system" in rec.names()
    lab.apply(rec.manifests)
    web = next(p.key for p in lab.state.pods if p.labels.get("app") == "web")
    assert lab.expected_reachability(port=53, protocol="UDP")[web, "kube-system/coredns"] == "allow"
    k8s = recommend_policies(flows, lab.state, mode="k8s")
    deny = next(m for m in k8s.manifests if m["metadata"]["name"] == "recommend-k8s-np-default-deny")
    assert deny["spec"]["egress"][0]["ports"] == [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    assert all(m["metadata"].get("namespace") != "kube-system" for m in k8s.manifests)
    lab.stop()


def test_bad_options_and_inputs():
    lab = Lab(profile="shop", name="flows-rec")
    with pytest.raises(RecommendationError, match="mode"):
        recommend_policies([], lab.state, mode="cilium")  # type: ignore[arg-type]
    with pytest.raises(RecommendationError, match="isolation"):
        recommend_policies([], lab.state, isolation="pods")  # type: ignore[arg-type]
    with pytest.raises(RecommendationError, match="records_to_frame"):
        import pandas as pd

        recommend_policies(pd.DataFrame({"a": [1]}), lab.state)
    with pytest.raises(RecommendationError, match="FlowRecords"):
        recommend_policies([1, 2], lab.state)
    empty = recommend_policies([], lab.state)
    assert empty.flows == [] and {m["metadata"]["name"] for m in empty.manifests} == {"recommend-k8s-np-default-deny"}
    lab.stop()
