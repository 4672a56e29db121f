"""The Lab API the notebooks and later work rely on (issue 2's names)."""

import re

import pytest

import labkit
from labkit import BackendUnavailable, Lab, LabStateError, NotFoundError


def test_public_api_is_exactly_all():
    assert sorted(labkit.__all__) == sorted(
        ["Lab", "BACKENDS", "ovs_available", "Reachability", "PolicyDiff", "Traceflow", "Explanation", "Decision", "Probe",
         "LabkitError", "ManifestError", "Problem",
         "NotFoundError", "ConflictError", "BackendUnavailable", "UnsupportedOperation", "LabStateError",
         "CommandError", "CheckFailed", "__version__"])
    for name in labkit.__all__:
        assert hasattr(labkit, name)


def test_workshop_lab_views():
    with Lab(backend="sim", profile="workshop") as lab:
        pods = lab.pods
        assert list(pods.columns) == ["namespace", "name", "node", "ip", "labels"]
        assert len(pods) == 9 and set(pods.node) == {"kind-worker", "kind-worker2"}
        assert lab.pod_ip("x/a") == "10.244.1.2"
        assert all(ip.startswith("10.244.") for ip in pods.ip)
        assert dict(pods.iloc[0].labels) == {"pod": "a"}
        assert set(lab.nodes.role) == {"control-plane", "worker"}
        frame = lab.reachability(port=80, protocol="TCP").to_frame()
        assert frame.shape == (9, 9) and set(frame.values.ravel()) == {"allow"}
        assert frame.index[0] == "x/a" and frame.columns[-1] == "z/c"


def test_apply_accepts_path_text_dict_and_list():
    policy = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
              "metadata": {"name": "d", "namespace": "y"}, "spec": {"podSelector": {}}}
    with Lab(profile="workshop") as lab:
        lab.apply("policies/deny-all.yaml")
        lab.apply(policy)
        lab.apply([dict(policy, metadata={"name": "e", "namespace": "z"})])
        lab.apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: w}\n")
        assert len(lab.get("netpol")) == 3 and "w" in set(lab.namespaces.name)
        assert lab.reachability()["y/a", "x/a"] == "drop"
        lab.delete("policies/deny-all.yaml")
        lab.delete(policy)
        lab.delete("netpol/z/e")
        assert lab.get("netpol").empty
        assert lab.reachability().counts()["drop"] == 0


def test_explain_no_rule_default_allow_and_deciding_side():
    with Lab(profile="workshop") as lab:
        e = lab.explain("x/a", "y/b")
        assert e.verdict == "allow" and "no rule: default allow" in str(e)
        lab.apply("""apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: reject-to-yb}
spec:
  tier: securityops
  priority: 3
  appliedTo: [{podSelector: {matchLabels: {pod: b}}, namespaceSelector: {matchLabels: {ns: y}}}]
  ingress:
  - {action: Reject, name: no-x, from: [{namespaceSelector: {matchLabels: {ns: x}}}]}
""")
        e = lab.explain("x/a", "y/b", port=80, protocol="TCP")
        d = e.ingress.to_dict()
        assert e.verdict == "reject" and e.deciding is e.ingress
        assert d["policy"] == "AntreaClusterNetworkPolicy:reject-to-yb" and d["tier"] == "securityops"
        assert d["rule_name"] == "no-x" and d["rule_index"] == 0 and d["action"] == "Reject"
        assert e.egress.to_dict()["reason"] == "no rule: default allow"
        assert lab.explain("y/b", "y/b").ingress.stage == "self"


def test_deployment_pods_and_services():
    with Lab(profile="shop") as lab:
        web = lab.pods[lab.pods.namespace == "frontend"]
        assert len(web) == 2
        for name, labels in zip(web.name, web.labels):
            assert re.fullmatch(r"web-[bcdfghjklmnpqrstvwxz2456789]{10}-[bcdfghjklmnpqrstvwxz2456789]{5}", name)
            assert labels["app"] == "web" and "pod-template-hash" in labels
        svc = lab.services.set_index("name").loc["api"]
        assert svc.cluster_ip.startswith("10.96.") and len(svc.endpoints) == 2
        lab.apply("""apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: frontend}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web, role: frontend}}
    spec: {containers: [{name: web, image: x, ports: [{name: http, containerPort: 8080}]}]}
""")
        assert (lab.pods.namespace == "frontend").sum() == 3
        lab.delete("deploy/frontend/web")
        assert (lab.pods.namespace == "frontend").sum() == 0


def test_namespace_delete_cascades_and_label_namespace():
    with Lab(profile="workshop") as lab:
        lab.apply("policies/deny-all.yaml")
        lab.delete("ns/x")
        assert "x" not in set(lab.pods.namespace) and lab.get("netpol").empty
        lab.label("ns:y", team="blue")
        assert lab.state.namespace("y").labels["team"] == "blue"


def test_errors_are_clear():
    with pytest.raises(BackendUnavailable, match="choose one of"):
        Lab(backend="vmware")
    with pytest.raises(NotFoundError, match="available: .*workshop"):
        Lab(profile="nope")
    with Lab(profile="workshop") as lab:
        with pytest.raises(NotFoundError, match="known: x/a"):
            lab.pod_ip("x/zz")
    with pytest.raises(LabStateError, match="not running"):
        lab.reachability()


def test_empty_lab_has_kind_like_nodes():
    with Lab() as lab:
        assert list(lab.nodes.name) == ["kind-control-plane", "kind-worker", "kind-worker2"]
        assert lab.pods.empty
        assert lab.reachability().to_frame().empty


def test_reachability_text_round_trip_and_diff():
    with Lab(profile="workshop") as lab:
        lab.apply("policies/deny-all.yaml")
        m = lab.reachability(namespaces=["x", "y"])
        again = labkit.Reachability.from_text(m.text())
        assert again.same_as(m)
        assert again.diff(m) == []
        lab.delete("policies/deny-all.yaml")
        assert ("x/a", "x/b", "drop", "allow") in m.diff(lab.reachability(namespaces=["x", "y"]))
        assert "<table>" in m._repr_html_()
        long = m.to_long_frame()
        assert set(long.columns) >= {"source", "destination", "verdict", "ingress_policy"}


def test_encryption_capture_on_sim():
    from labkit import UnsupportedOperation  # noqa: F401  (public)

    with Lab(profile="workshop") as lab:
        assert lab.encryption == "none"
        clear = lab.capture("x/a", "x/b")  # kind-worker -> kind-worker2
        assert b"GET" in b"".join(f.data for f in clear.frames)
        lab.set_encryption("wireGuard")
        secret = lab.capture("x/a", "x/b")
        assert b"GET" not in b"".join(f.data for f in secret.frames)
        with pytest.raises(ValueError, match="did you mean 'wireGuard'"):
            lab.set_encryption("wireguard")


def test_flows_and_recommendation_on_shop():
    with Lab(profile="shop") as lab:
        run = lab.generate_traffic("shop", duration_s=30, seed=1)
        flows = lab.flows(run)
        assert len(flows) > 0 and {"sourcePodName", "destinationPodName", "verdict"} <= set(flows.columns)
        recommendation = lab.recommend_policies(flows)
        lab.apply(recommendation.manifests)
        assert len(lab.policies()) >= 1


def test_dump_flows_needs_a_real_switch():
    from labkit import UnsupportedOperation

    with Lab(profile="workshop") as lab:
        with pytest.raises(UnsupportedOperation, match="backend='ovs'"):
            lab.dump_flows("kind-worker")
