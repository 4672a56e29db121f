"""Cluster registration, health, inventory batches and cascade deregistration."""

from __future__ import annotations

import time

import pytest

from labkit.nsx.manager import NSXApiError

from .conftest import CCPS, GROUPS, POLICIES, antrea_group, cond, creates, namespace, pod

FABRIC = "/api/v1/fabric"


def test_registration_assigns_a_node_id_and_protects_the_ccp(cluster, admin):
    ccp = admin.get(f"{CCPS}/{cluster.name}")
    assert ccp["node_id"] == cluster.node_id and len(cluster.node_id) == 36
    assert ccp["path"] == cluster.ccp_path and ccp["node_type"] == "ANTREA_NODE"
    assert ccp["_create_user"] == cluster.name and ccp["_protection"] == "PROTECTED"
    assert "_labkit_fingerprint" not in ccp
    assert admin.get(CCPS)["result_count"] == 1
    again = cluster.client.register_cluster(cluster.name, cluster.cert.cert_pem)  # re-run of the Job
    assert again["node_id"] == cluster.node_id and again["_revision"] == 1
    with pytest.raises(NSXApiError) as exc:
        admin.patch(f"{CCPS}/{cluster.name}", {})
    assert exc.value.status == 405


def test_registration_checks_identity_rules(cluster, nsx, admin):
    someone = nsx.issue_client_cert("someone", key_type="ec")
    with pytest.raises(NSXApiError) as exc:  # the cert CN must equal the CCP id
        admin.put(f"{CCPS}/other", {"certificate": someone.cert_pem})
    assert "certificate CN 'someone' must equal" in exc.value.error_message
    with pytest.raises(NSXApiError) as exc:  # a PI registers only its own cluster
        cluster.client.put(f"{CCPS}/other", {"certificate": cluster.cert.cert_pem})
    assert exc.value.status == 403
    with pytest.raises(NSXApiError) as exc:
        admin.put(f"{CCPS}/nocert", {"display_name": "x"})
    assert "certificate is required" in exc.value.error_message


def test_shared_certificate_is_a_conflict(cluster, admin):
    # Broadcom KB 345885: a second cluster registered with the same certificate.
    with pytest.raises(NSXApiError) as exc:
        admin.put(f"{CCPS}/lab-cluster-1-copy", {"certificate": cluster.cert.cert_pem,
                                                 "resource_type": "AntreaClusterControlPlane"})
    assert exc.value.status == 400
    expected = f"certificate conflict with clusterControlPlane node id {cluster.node_id}"
    assert expected in exc.value.error_message


def test_heartbeat_status_and_staleness(cluster, admin, nsx):
    status = admin.get(f"{CCPS}/{cluster.name}/status")
    assert status["status"] == "UNKNOWN"
    healthy = {"status": "HEALTHY", "conditions": []}
    cluster.client.report_cluster_status(cluster.name, {
        "controller_status": {**healthy, "connected_agent_num": 2}, "mp_adapter_status": healthy,
        "ccp_adapter_status": healthy,
        "agent_info": {"healthy_agent_num": 2, "degraded_agent_num": 0, "failed_agent_num": 0}})
    status = admin.get(f"{CCPS}/{cluster.name}/status")
    assert status["status"] == "HEALTHY" and status["controller_status"]["connected_agent_num"] == 2
    assert admin.get(f"{CCPS}-status")["results"][0]["status"] == "HEALTHY"
    cluster.client.report_cluster_status(cluster.name, {"ccp_adapter_status": {"status": "FAILED"},
                                                         "mp_adapter_status": healthy,
                                                         "controller_status": healthy})
    assert admin.get(f"{CCPS}/{cluster.name}/status")["status"] == "FAILED"
    config = admin.get(f"{CCPS}/{cluster.name}/heartbeat-config")
    assert config["report_interval"] == 60
    admin.put(f"{CCPS}/{cluster.name}/heartbeat-config", {"report_interval": 120, "_revision": 0})
    with pytest.raises(NSXApiError):
        admin.patch(f"{CCPS}/{cluster.name}/heartbeat-config", {"report_interval": 30})
    state = nsx.api.state
    state.clock = lambda: time.time() + 3 * 120 + 5  # no heartbeat for 3 x report_interval
    assert admin.get(f"{CCPS}/{cluster.name}/status")["status"] == "UNKNOWN"


def test_a_pi_reports_only_its_own_cluster(cluster, register):
    other = register("lab-cluster-2")
    with pytest.raises(NSXApiError) as exc:
        cluster.client.push_inventory(other.node_id, creates(namespace("ns", "x")))
    assert exc.value.status == 403
    with pytest.raises(NSXApiError) as exc:
        cluster.client.report_cluster_status(other.name, {})
    assert exc.value.status == 403


def test_inventory_batches_and_read_lists(shop, admin):
    pods = admin.get(f"{FABRIC}/container-application-instances", container_cluster_id=shop.node_id)
    assert pods["result_count"] == 4
    web = admin.get(f"{FABRIC}/container-application-instances", container_application_id="svc-web")
    assert sorted(p["display_name"] for p in web["results"]) == ["web-1", "web-2"]
    one = admin.get(f"{FABRIC}/container-application-instances/pod-web-1")
    assert one["id"] == one["external_id"] == "pod-web-1" and one["container_cluster_id"] == shop.node_id
    assert one["_protection"] == "PROTECTED" and one["_last_sync_time"] > 0
    shop.client.push_inventory(shop.node_id, [
        {"object_update_type": "UPDATE", "container_object": {
            "resource_type": "ContainerApplicationInstance", "external_id": "pod-web-1", "status": "DOWN"}},
        {"object_update_type": "DELETE", "container_object": {
            "resource_type": "ContainerApplicationInstance", "external_id": "pod-db-1"}},
    ])
    updated = admin.get(f"{FABRIC}/container-application-instances/pod-web-1")
    assert updated["status"] == "DOWN" and updated["display_name"] == "web-1" and updated["_revision"] == 1
    assert admin.get(f"{FABRIC}/container-projects")["result_count"] == 2
    assert admin.get(f"{FABRIC}/container-clusters/{shop.node_id}")["cni_type"] == "ANTREA"
    assert admin.get(f"{FABRIC}/container-clusters", cluster_type="Kubernetes")["result_count"] == 1


def test_invalid_batch_applies_nothing_and_lists_every_problem(cluster, admin):
    with pytest.raises(NSXApiError) as exc:
        cluster.client.push_inventory(cluster.node_id, [
            {"object_update_type": "CREATE", "container_object": namespace("ok", "ok")},
            {"object_update_type": "UPSERT", "container_object": namespace("ns2", "b")},
            {"object_update_type": "CREATE", "container_object": {"resource_type": "ContainerPod"}},
            {"object_update_type": "CREATE", "container_object": {
                **pod("p", "p", "ok", {}), "container_cluster_id": "someone-else"}},
        ])
    messages = [e.error_message for e in exc.value.related_errors]
    assert len(messages) == 3
    assert any("object_update_type 'UPSERT'" in m for m in messages)
    assert any("resource_type 'ContainerPod'" in m for m in messages)
    assert any("does not match the cluster in the URL" in m for m in messages)
    assert admin.get(f"{FABRIC}/container-projects")["result_count"] == 0


def test_inventory_for_an_unknown_cluster_is_refused(admin):
    with pytest.raises(NSXApiError) as exc:
        admin.push_inventory("no-such-cluster", creates(namespace("ns", "x")))
    assert "does not exist" in exc.value.error_message


def test_delete_without_cascade_refuses_while_policies_use_the_cluster(shop, admin):
    admin.patch(f"{POLICIES}/p", {"scope": [shop.ccp_path], "rules": [{"id": "r"}]})
    with pytest.raises(NSXApiError) as exc:
        admin.request("DELETE", f"{CCPS}/{shop.name}", headers={"X-Allow-Overwrite": "true"})
    assert exc.value.error_code == 500030


def test_cascade_delete_removes_the_cluster_everywhere(shop, admin, nsx):
    admin.patch(f"{GROUPS}/web", antrea_group(cond("Pod", "Tag", "app|web")))
    admin.patch(f"{POLICIES}/p", {"scope": [shop.ccp_path], "rules": [
        {"id": "r", "scope": ["/infra/domains/default/groups/web"]}]})
    path = "/infra/domains/default/security-policies/p"
    shop.client.report_realization(path, "SUCCESS")
    with pytest.raises(NSXApiError) as exc:  # PROTECTED: the PI registered it
        admin.delete(f"{CCPS}/{shop.name}", cascade=True)
    assert exc.value.status == 403
    nsx.client(allow_overwrite=True).delete(f"{CCPS}/{shop.name}", cascade=True)
    assert admin.get(CCPS)["result_count"] == 0
    for collection in ("container-clusters", "container-projects", "container-application-instances",
                       "container-applications"):
        assert admin.get(f"{FABRIC}/{collection}")["result_count"] == 0, collection
    policy = admin.get(f"{POLICIES}/p")
    assert policy["scope"] == ["ANY"]
    status = admin.get("/policy/api/v1/infra/realized-state/status", intent_path=path)
    assert status["consolidated_status_per_enforcement_point"] == []
    assert admin.get(f"{GROUPS}/web/members/pods")["result_count"] == 0
