"""The interworking adapter end to end: a sim Lab and the real NSX mock on 127.0.0.1 (HTTPS).

Every NSX-side assertion reads through the NSX API as the admin (what the NSX UI would show);
every cluster-side assertion reads the lab (``lab.reachability``, ``lab.state``).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from labkit import Lab
from labkit.nsx import AdapterError, NSXAdapter, NSXClient, NSXManagerServer, start_nsx
from labkit.nsx.interworking.realize import MANAGED_BY_LABEL, is_managed

from .conftest import CCPS, GROUPS, POLICIES, cond, nested

P = "/policy/api/v1"
FABRIC = "/api/v1/fabric"
G = "/infra/domains/default/groups/"
PROTECT_X = f"{POLICIES}/protect-x"

# x accepts HTTP from y only (the notebook's policy)
EXPECTED = """
     x/a x/b x/c
x/a   .   X   X
y/a   .   .   .
z/a   X   X   X
"""


@pytest.fixture
def lab(tmp_path: Path):
    with Lab(profile="workshop", name="nsxlab", state_dir=tmp_path / "lab") as lab:
        yield lab


@pytest.fixture
def adapter(lab: Lab, nsx: NSXManagerServer, admin: NSXClient, tmp_path: Path):
    with NSXAdapter(lab, admin, ca_path=nsx.ca_path, cert_dir=tmp_path / "cert", key_type="ec") as adapter:
        adapter.register()
        yield adapter


def namespace_groups(admin: NSXClient) -> None:
    for ns in "xyz":
        admin.patch(f"{GROUPS}/ns-{ns}", {"group_type": ["ANTREA"], "expression": [cond("Namespace", "Name", ns)]})


def protect_x(admin: NSXClient, adapter: NSXAdapter, **drop: Any) -> dict[str, Any]:
    namespace_groups(admin)
    return admin.patch(PROTECT_X, {"category": "Application", "scope": [adapter.ccp_path], "rules": [
        {"id": "allow-y-http", "sequence_number": 10, "source_groups": [G + "ns-y"], "scope": [G + "ns-x"],
         "services": ["/infra/services/HTTP"], "action": "ALLOW", "direction": "IN"},
        {"id": "drop-rest", "sequence_number": 20, "scope": [G + "ns-x"], "action": "DROP", "direction": "IN",
         **drop}]})


def realized_status(admin: NSXClient, path: str) -> str:
    return admin.get(f"{P}/infra/realized-state/status", intent_path=path)["consolidated_status"]["consolidated_status"]


def matrix_text(lab: Lab) -> str:
    return lab.reachability(port=80, sources=["x/a", "y/a", "z/a"], destinations=["x/a", "x/b", "x/c"]).text()


def expected_text() -> str:
    from labkit.policy.reachability import Reachability

    return Reachability.from_text(EXPECTED).text()


# ---------------------------------------------------------------------------- registration

def test_register_as_the_procedure_says_then_only_the_certificate(adapter: NSXAdapter, admin: NSXClient):
    name = adapter.cluster_name
    pi = next(p for p in admin.list_all("/api/v1/trust-management/principal-identities") if p["name"] == name)
    assert pi["_create_user"] == "admin"  # step B: the admin created the PI
    ccp = admin.get(f"{CCPS}/{name}")
    # step C and everything after: written by the principal identity, over client-certificate TLS
    assert ccp["_create_user"] == name and ccp["_protection"] == "PROTECTED"
    assert ccp["node_id"] == adapter.cluster_id
    assert "Authorization" not in adapter.pi._headers  # no password on the PI's connection
    cluster = admin.get(f"{FABRIC}/container-clusters/{adapter.cluster_id}")
    assert (cluster["cni_type"], cluster["_create_user"]) == ("ANTREA", name)
    status = admin.get(f"{CCPS}/{name}/status")
    assert status["status"] == "HEALTHY"
    assert status["agent_info"]["healthy_agent_num"] == 3 and status["mp_adapter_status"]["status"] == "HEALTHY"


def test_a_restarted_adapter_is_the_same_cluster_and_a_stranger_is_refused(
        lab: Lab, adapter: NSXAdapter, nsx: NSXManagerServer, admin: NSXClient, tmp_path: Path):
    again = NSXAdapter(lab, admin, ca_path=nsx.ca_path, cert_dir=tmp_path / "cert", key_type="ec")
    assert again.register() == adapter.cluster_id  # same certificate -> same PI, same CCP, same UUID
    again.close()
    stranger = NSXAdapter(lab, admin, ca_path=nsx.ca_path, cert_dir=tmp_path / "other", key_type="ec")
    with pytest.raises(AdapterError, match="already has a principal identity"):
        stranger.register()
    with pytest.raises(AdapterError, match="not registered"):
        stranger.sync()


# ---------------------------------------------------------------------------- inventory

def test_inventory_is_visible_in_nsx_and_follows_the_lab(lab: Lab, adapter: NSXAdapter, admin: NSXClient):
    mine = {"container_cluster_id": adapter.cluster_id}
    nodes = admin.list_all(f"{FABRIC}/container-cluster-nodes", **mine)
    projects = {p["id"]: p["display_name"] for p in admin.list_all(f"{FABRIC}/container-projects", **mine)}
    pods = admin.list_all(f"{FABRIC}/container-application-instances", **mine)
    assert sorted(n["display_name"] for n in nodes) == ["kind-control-plane", "kind-worker", "kind-worker2"]
    assert sorted(projects.values()) == ["x", "y", "z"]
    by_key = {f"{projects[p['container_project_id']]}/{p['display_name']}": p for p in pods}
    assert sorted(by_key) == sorted(p.key for p in lab.state.pods)
    xa = by_key["x/a"]
    assert {"scope": "dis:k8s:pod", "tag": "a"} in xa["tags"]
    assert xa["origin_properties"] == [{"key": "ip", "value": lab.pod_ip("x/a")}]
    assert xa["cluster_node_id"] in {n["id"] for n in nodes}

    lab.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "x"},
               "spec": {"selector": {"pod": "a"}, "ports": [{"port": 80}]}})
    lab.label("x/a", role="web")
    lab.delete("pod/z/c")
    assert adapter.sync().inventory_updates == 3  # one CREATE, one UPDATE, one DELETE
    svc = admin.list_all(f"{FABRIC}/container-applications", **mine)
    assert [s["display_name"] for s in svc] == ["web"]
    xa = admin.get(f"{FABRIC}/container-application-instances/{xa['id']}")
    assert xa["container_application_ids"] == [svc[0]["id"]] and {"scope": "dis:k8s:role", "tag": "web"} in xa["tags"]
    assert len(admin.list_all(f"{FABRIC}/container-application-instances", **mine)) == 8
    # the same group criteria NSX evaluates on this inventory select the same pods
    admin.patch(f"{GROUPS}/web", {"group_type": ["ANTREA"], "expression": [cond("Pod", "Tag", "role|web")]})
    admin.patch(f"{POLICIES}/uses-web", {"scope": [adapter.ccp_path], "rules": [
        {"id": "r", "source_groups": [G + "web"], "action": "ALLOW"}]})
    members = admin.get(f"{GROUPS}/web/members/pods", cluster_id=adapter.cluster_id)["results"]
    assert [m["display_name"] for m in members] == ["a"]


def test_inventory_goes_in_batches_of_the_configured_size(lab: Lab, nsx: NSXManagerServer, admin: NSXClient,
                                                          tmp_path: Path):
    adapter = NSXAdapter(lab, admin, ca_path=nsx.ca_path, cert_dir=tmp_path / "c", key_type="ec", batch_size=4)
    calls: list[int] = []
    real = NSXClient.post

    def counting(client: NSXClient, path: str, body: Any = None, **query: Any) -> Any:
        if "/inventory/container/" in path:
            calls.append(len(body["container_inventory_objects"]))
        return real(client, path, body, **query)

    try:
        NSXClient.post = counting  # type: ignore[method-assign]
        adapter.register()
    finally:
        NSXClient.post = real  # type: ignore[method-assign]
    assert calls[:4] == [4, 4, 4, 3] and sum(calls[:4]) == 15  # 3 nodes + 3 namespaces + 9 pods
    adapter.close()


# ---------------------------------------------------------------------------- realization

def test_an_nsx_policy_is_realized_and_changes_reachability(lab: Lab, adapter: NSXAdapter, admin: NSXClient):
    assert lab.reachability(port=80).counts()["drop"] == 0
    protect_x(admin, adapter)
    assert matrix_text(lab) != expected_text()  # nothing before the adapter syncs
    report = adapter.sync()
    assert matrix_text(lab) == expected_text()
    assert len(report.applied) == 5 and not report.errors  # 2 groups x (parent + child) + 1 ACNP

    acnp = next(p for p in lab.state.antrea_policies if is_managed(p.raw))
    policy = admin.get(PROTECT_X)
    assert acnp.name == policy["unique_id"] and acnp.tier == "nsx-category-application"
    assert acnp.raw["metadata"]["labels"] == {MANAGED_BY_LABEL: "ccp-adapter"}
    assert [r.name for r in acnp.ingress] == [str(r["rule_id"]) for r in policy["rules"]]
    assert {t.name: t.priority for t in lab.state.tiers}["nsx-category-application"] == 4
    assert realized_status(admin, PROTECT_X.removeprefix(P)) == "SUCCESS"
    assert realized_status(admin, (G + "ns-x")) == "SUCCESS"
    nps = admin.list_all(f"{FABRIC}/container-network-policies", container_cluster_id=adapter.cluster_id)
    assert [(n["policy_type"], n["display_name"]) for n in nps] == [("ACNP", acnp.name)]


def test_nsx_changes_and_deletions_reach_the_lab(lab: Lab, adapter: NSXAdapter, admin: NSXClient):
    protect_x(admin, adapter)
    adapter.sync()
    admin.patch(f"{PROTECT_X}/rules/drop-rest", {"action": "REJECT"})
    adapter.sync()
    assert lab.reachability(port=80)["z/a", "x/b"] == "reject"
    assert realized_status(admin, PROTECT_X.removeprefix(P)) == "SUCCESS"  # for the new _revision
    assert [e.kind for e in adapter.events][-2:] == ["updated", "inventory"]
    admin.delete(PROTECT_X)
    report = adapter.sync()
    assert len(report.deleted) == 5  # the ACNP and both ClusterGroups (parents and children)
    assert lab.reachability(port=80).counts()["drop"] == 0
    assert [t.name for t in lab.state.tiers if t.name.startswith("nsx-")]  # tiers stay while registered


def test_what_the_cluster_cannot_realize_is_an_nsx_realization_error(lab: Lab, adapter: NSXAdapter, admin: NSXClient):
    # NSX accepts a tag condition without scope; Antrea selects by label key, so the adapter cannot
    admin.patch(f"{GROUPS}/any-a", {"group_type": ["ANTREA"], "expression": [cond("Pod", "Tag", "a")]})
    admin.patch(f"{POLICIES}/broken", {"scope": [adapter.ccp_path], "rules": [
        {"id": "r", "source_groups": [G + "any-a"], "action": "DROP"}]})
    report = adapter.sync()
    assert f"{G}any-a" in report.errors
    assert realized_status(admin, "/infra/domains/default/security-policies/broken") == "ERROR"
    entities = admin.get(f"{P}/infra/realized-state/realized-entities", intent_path=f"{G}any-a")["results"]
    assert "has no scope" in entities[0]["alarms"][0]["message"]
    status = admin.get(f"{CCPS}/{adapter.cluster_name}/status")
    assert (status["ccp_adapter_status"]["status"], status["status"]) == ("DEGRADED", "DEGRADED")
    assert lab.reachability(port=80).counts()["drop"] == 0  # nothing half-applied


def test_nsx_is_the_source_of_truth(lab: Lab, adapter: NSXAdapter, admin: NSXClient):
    protect_x(admin, adapter)
    adapter.sync()
    name = adapter.acnp_name("protect-x")
    edited = dict(next(m for m in lab.manifests() if m["metadata"]["name"] == name))
    edited["spec"] = {**edited["spec"], "ingress": [edited["spec"]["ingress"][0],
                                                    {**edited["spec"]["ingress"][1], "action": "Allow"}]}
    lab.apply(edited)  # a cluster admin opens x up
    assert lab.reachability(port=80)["z/a", "x/a"] == "allow"
    report = adapter.sync()
    assert report.overwritten == [f"ClusterNetworkPolicy/{name}"]
    assert matrix_text(lab) == expected_text()
    event = next(e for e in adapter.events if e.kind == "overwritten")
    assert "spec.ingress[1].action" in event.message

    lab.delete(f"acnp/{name}")  # ... or deletes it
    assert adapter.sync().restored == [f"ClusterNetworkPolicy/{name}"]
    assert matrix_text(lab) == expected_text()
    assert adapter.sync().applied == []  # in sync: nothing to do


def test_rule_statistics_are_reported_per_rule(adapter: NSXAdapter, admin: NSXClient):
    protect_x(admin, adapter)
    adapter.sync()
    stats = admin.get(f"{PROTECT_X}/statistics", container_cluster_path=adapter.ccp_path)
    hits = {r["rule"].rsplit("/", 1)[-1]: r["hit_count"] for r in stats["results"][0]["statistics"]["results"]}
    # One probe round (workshop probes TCP/80, TCP/81, UDP/80, SCTP/80; a pod never probes itself):
    # allow-y-http: y -> x on TCP/80, 3 x 3 = 9. drop-rest: the other 6 sources -> x on TCP/80
    # (18 - 3 self = 15), plus all 9 sources -> x on the 3 other probes (3 x (27 - 3) = 72) = 87.
    assert hits == {"allow-y-http": 9, "drop-rest": 87}
    assert adapter.statistics[PROTECT_X.removeprefix(P)][0]["session_count"] == 9


# ---------------------------------------------------------------------------- traceflow

def test_traceflow_requested_in_nsx_round_trip(lab: Lab, adapter: NSXAdapter, admin: NSXClient):
    protect_x(admin, adapter)
    lab.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "y"},
               "spec": {"selector": {"pod": "b"}, "ports": [{"port": 8080, "targetPort": 80}]}})
    adapter.sync()
    mine = {"container_cluster_id": adapter.cluster_id}
    ns = {p["id"]: p["display_name"] for p in admin.list_all(f"{FABRIC}/container-projects", **mine)}
    ids = {f"{ns[p['container_project_id']]}/{p['display_name']}": p["id"]
           for p in admin.list_all(f"{FABRIC}/container-application-instances", **mine)}
    svc = admin.list_all(f"{FABRIC}/container-applications", **mine)[0]["id"]

    def request(tf_id: str, src: str, dst: str, port: int = 80, **extra: Any) -> None:
        admin.put(f"{P}/infra/antrea/traceflows/{tf_id}", {
            "container_cluster_id": adapter.cluster_id, "source_external_id": ids[src], "destination_external_id": dst,
            "packet": {"ip_header": {"protocol": 6, **extra},
                       "transport_header": {"tcp_header": {"dst_port": port, "tcp_flags": 2}}}})

    request("z-to-x", "z/a", ids["x/b"])
    request("to-service", "x/a", svc, port=8080)
    request("by-ip", "y/a", "", dst_ip=lab.pod_ip("x/c"))
    request("self", "x/a", ids["x/a"])
    assert admin.get(f"{P}/infra/antrea/traceflows/z-to-x/status")["phase"] == "RUNNING"
    assert sorted(adapter.sync().traceflows) == ["by-ip", "self", "to-service", "z-to-x"]

    def result(tf_id: str) -> tuple[str, list[dict[str, Any]]]:
        base = f"{P}/infra/antrea/traceflows/{tf_id}"
        return admin.get(f"{base}/status")["phase"], admin.get(f"{base}/observations")["results"]

    phase, found = result("z-to-x")
    assert phase == "SUCCEEDED" and found[0]["component_type"] == "ANTREA_SPOOFGUARD"
    dfw = found[-1]
    assert dfw["component_type"] == "ANTREA_DFW" and dfw["observation_type"] == "AntreaTraceflowObservationDropped"
    assert dfw["network_policy"] == f"AntreaClusterNetworkPolicy:{adapter.acnp_name('protect-x')}"
    assert dfw["network_policy_rule"] == str(admin.get(f"{PROTECT_X}/rules/drop-rest")["rule_id"])
    phase, found = result("to-service")
    assert phase == "SUCCEEDED" and found[-1]["observation_type"] == "AntreaTraceflowObservationDelivered"
    assert admin.get(f"{P}/infra/antrea/traceflows/to-service/status")["reason"] == \
        "service y/web -> endpoint y/b:80"
    assert result("by-ip")[1][-1]["observation_type"] == "AntreaTraceflowObservationDelivered"
    phase, found = result("self")
    assert phase == "FAILED" and found == []
    admin.post(f"{P}/infra/antrea/traceflows/z-to-x", action="rerun")  # runs again on the next pass
    assert adapter.sync().traceflows == ["z-to-x"]


# ---------------------------------------------------------------------------- deregistration, threads

def test_deregister_cascades_in_nsx_and_cleans_the_lab(lab: Lab, adapter: NSXAdapter, admin: NSXClient):
    protect_x(admin, adapter)
    adapter.sync()
    cluster_id = adapter.cluster_id
    adapter.deregister()
    assert admin.list_all(CCPS) == []
    assert admin.list_all(f"{FABRIC}/container-application-instances") == []
    assert admin.list_all(f"{FABRIC}/container-clusters") == []
    assert admin.get(PROTECT_X)["scope"] == ["ANY"]  # cascade took the cluster out of the policy
    assert admin.list_all("/api/v1/trust-management/principal-identities") == []
    assert admin.list_all("/api/v1/trust-management/certificates") == []
    assert not [o for o in lab.state.objects.values() if is_managed(getattr(o, "raw", None))]
    assert lab.reachability(port=80).counts()["drop"] == 0
    assert not adapter.registered and cluster_id
    with pytest.raises(AdapterError, match="register"):
        adapter.sync()


def test_background_loop_realizes_on_its_own_and_stops(lab: Lab, adapter: NSXAdapter, admin: NSXClient):
    adapter.start(interval_s=0.05)
    protect_x(admin, adapter)
    deadline = time.monotonic() + 5
    while matrix_text(lab) != expected_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    adapter.stop()
    assert matrix_text(lab) == expected_text()
    assert not adapter.running
    assert not [t for t in threading.enumerate() if t.name.startswith("nsx-adapter:")]
    adapter.stop()  # idempotent


def test_start_nsx_is_one_call_and_cleans_up(lab: Lab):
    with start_nsx(lab, key_type="ec", register=True) as (server, adapter):
        state_dir = server.state_dir
        assert server.url.startswith("https://127.0.0.1:") and adapter.registered
        adapter.start(interval_s=0.05)
        assert state_dir.exists()
    assert not server.running and not adapter.running and not state_dir.parent.exists()
    handle = start_nsx(lab, key_type="ec")
    handle.stop()
    handle.stop()  # idempotent
    assert not handle.server.running


def test_adapter_needs_a_way_to_trust_nsx(lab: Lab, nsx: NSXManagerServer, admin: NSXClient):
    with pytest.raises(AdapterError, match="ca_path"):
        NSXAdapter(lab, admin)
    with pytest.raises(AdapterError, match="admin_password"):
        NSXAdapter(lab, nsx.url, ca_path=nsx.ca_path)


def test_nested_criteria_realize_like_nsx_computes_members(lab: Lab, adapter: NSXAdapter, admin: NSXClient):
    # Namespace x AND pod tag pod|a: NSX's effective members and the realized ClusterGroup agree
    admin.patch(f"{GROUPS}/x-a", {"group_type": ["ANTREA"], "expression": [
        nested(cond("Namespace", "Name", "x"), cond("Pod", "Tag", "pod|a"))]})
    admin.patch(f"{POLICIES}/isolate-x-a", {"scope": [adapter.ccp_path], "category": "Emergency", "rules": [
        {"id": "drop-in", "scope": [G + "x-a"], "action": "DROP", "direction": "IN"}]})
    adapter.sync()
    members = admin.get(f"{GROUPS}/x-a/members/pods", cluster_id=adapter.cluster_id)["results"]
    dropped = {d for s, d, v in lab.reachability(port=80).cells() if v == "drop"}
    assert [m["display_name"] for m in members] == ["a"] and dropped == {"x/a"}
    assert next(p for p in lab.state.antrea_policies if is_managed(p.raw)).tier == "nsx-category-emergency"
