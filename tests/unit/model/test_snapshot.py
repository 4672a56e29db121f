"""A real cluster's objects, offline: kubectl's List output (managedFields, status, uids ...) loads
into a lab with every Pod on its node and IP, and everything labkit does not model is counted."""

import json

import pytest
import yaml

from labkit import Lab
from labkit.errors import ManifestError, NotFoundError
from labkit.model.snapshot import load_snapshot
from labkit.policy.reachability import Reachability

from pathlib import Path

SNAPSHOT = Path(__file__).parent / "data" / "cluster-snapshot.yaml"


def test_the_snapshot_report_says_what_was_loaded_and_why_the_rest_was_not():
    report = load_snapshot(SNAPSHOT).report
    assert report.loaded == {"Namespace": 4, "Node": 2, "Pod": 4, "Service": 1, "K8s NetworkPolicy": 2,
                             "ClusterNetworkPolicy": 1, "Antrea NetworkPolicy": 1, "Tier": 1, "ClusterGroup": 1,
                             "Group": 1}
    assert report.skipped_kinds == {"v1 Endpoints": 1}
    pods = {reason.split(" ")[0]: keys for reason, keys in report.skipped_pods.items()}
    assert pods == {"hostNetwork:": ["kube-system/kube-proxy-q8r7s"], "terminated": ["shop/migrate-5h2kx"],
                    "no": ["shop/frontend-7d9c5b8f4-pend1", "shop/backend-1"]}
    # a field from a newer API (not in labkit's schema) is dropped and counted, not an error
    assert report.dropped_fields["ClusterNetworkPolicy spec.ingress[].priority"] == 1
    assert report.dropped_fields["Group spec.sortOrder"] == 1
    assert report.dropped_fields["Pod spec.volumes"] == 1 and report.dropped_fields["Node status.images"] == 1
    assert report.not_modelled == ["NetworkPolicy shop/l7-frontend: spec.ingress[0].l7Protocols: L7 (HTTP/TLS) "
                                   "rules are not modelled by labkit"]
    assert report.built_in == ["application", "baseline"]
    text = str(report)
    assert "skipped 2 pods (no IP yet (Pending)" in text and "v1 Endpoints (1)" in text


def test_pods_keep_their_nodes_and_ips_and_nodes_are_the_clusters():
    with Lab.from_snapshot(SNAPSHOT) as lab:
        pods = {p.key: (p.node_name, p.pod_ip) for p in lab.state.pods}
        assert pods == {"shop/frontend-7d9c5b8f4-x2v9q": ("worker-a", "10.10.1.14"),
                        "shop/backend-0": ("worker-a", "192.168.240.10"),  # outside the node's podCIDR: kept
                        "shop/db-0": ("worker-a", "10.10.1.3"),
                        "monitoring/prometheus-0": ("cp-1", "10.10.0.7")}  # on the tainted control plane
        nodes = {n.name: (n.pod_cidr, n.internal_ip, n.schedulable) for n in lab.state.nodes}
        assert nodes == {"cp-1": ("10.10.0.0/24", "192.168.10.11", False),
                         "worker-a": ("10.10.1.0/24", "192.168.10.21", True)}
        assert lab.state.namespace("shop").labels["team"] == "shop"
        assert lab.pod("shop/backend-0").service_account == "backend"
        # what the lab keeps of an object is what labkit models, not the server's bookkeeping
        raw = lab.pod("shop/frontend-7d9c5b8f4-x2v9q").raw
        assert "managedFields" not in raw["metadata"] and "volumes" not in raw["spec"]
        assert raw["spec"]["containers"][0]["ports"][0]["name"] == "http"


def test_the_snapshot_clusters_policies_decide_as_in_antrea():
    with Lab.from_snapshot(SNAPSHOT) as lab:
        m = lab.reachability(port=9000)
        # shop is default-deny; web -> api on the named port "api" (9000); db rejects all but the
        # Group "backends" on "pg"; monitoring allows its own namespace on 9090 in tier "security"
        # and drops the rest.
        want = Reachability.from_text("""
                                          monitoring/prometheus-0 shop/backend-0 shop/db-0 shop/frontend-7d9c5b8f4-x2v9q
            monitoring/prometheus-0       .                       X              R         X
            shop/backend-0                X                       .              R         X
            shop/db-0                     X                       X              .         X
            shop/frontend-7d9c5b8f4-x2v9q X                       .              R         .
        """)
        assert m.same_as(want), m.text()
        assert lab.reachability(port=5432)["shop/backend-0", "shop/db-0"] == "allow"  # Group member, named port pg
        assert lab.reachability(port=5432)["shop/frontend-7d9c5b8f4-x2v9q", "shop/db-0"] == "reject"
        explained = lab.explain("shop/frontend-7d9c5b8f4-x2v9q", "monitoring/prometheus-0", port=9090)
        assert explained.verdict == "drop" and "isolate-monitoring" in explained.ingress.reason
        assert "tier security" in explained.ingress.reason
        # lint and diff work on the real cluster's objects
        assert isinstance(lab.lint(), list)
        d = lab.diff(delete=["netpol/shop/default-deny"], probes=[("TCP", 9000)])
        assert d.counts()["opened"] == 3


def test_a_json_snapshot_loads_the_same(tmp_path):
    path = tmp_path / "cluster.json"
    path.write_text(json.dumps(yaml.safe_load(SNAPSHOT.read_text())))
    a, b = load_snapshot(SNAPSHOT), load_snapshot(path)
    assert [o for o, _ in a.items] == [o for o, _ in b.items] and a.allocations == b.allocations


def test_nodes_and_namespaces_pods_need_are_created(tmp_path):
    data = yaml.safe_load(SNAPSHOT.read_text())
    data["items"] = [i for i in data["items"] if i["kind"] not in ("Node", "Namespace")]
    path = tmp_path / "partial.yaml"
    path.write_text(yaml.safe_dump(data))
    snapshot = load_snapshot(path)
    assert sorted(snapshot.report.created) == ["namespace/monitoring", "namespace/shop", "node/cp-1", "node/worker-a"]
    with Lab.from_snapshot(path) as lab:
        assert {n.name: n.internal_ip for n in lab.state.nodes} == {"cp-1": "192.168.10.11",
                                                                     "worker-a": "192.168.10.21"}
        assert lab.pod("shop/backend-0").pod_ip == "192.168.240.10"


def test_a_saved_snapshot_lab_resumes_with_the_same_pods(tmp_path):
    lab = Lab.from_snapshot(SNAPSHOT, state_dir=tmp_path / "lab")
    lab.save()
    again = Lab.resume("lab", tmp_path / "lab")
    assert [(p.key, p.node_name, p.pod_ip) for p in again.state.pods] == \
        [(p.key, p.node_name, p.pod_ip) for p in lab.state.pods]
    assert [n.name for n in again.state.nodes] == ["cp-1", "worker-a"]  # no kind nodes appear
    assert again.reachability(port=9000).same_as(lab.reachability(port=9000))


def test_bad_snapshot_files_say_what_to_do(tmp_path):
    with pytest.raises(NotFoundError, match="kubectl get namespaces,nodes,pods"):
        load_snapshot(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nitems:\n- kind: Pod\n  metadata: {name: [\n")
    with pytest.raises(ManifestError, match="bad.yaml:"):
        load_snapshot(bad)
