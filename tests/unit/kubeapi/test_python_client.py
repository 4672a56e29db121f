"""The official Kubernetes Python client (what labkit's k8s backend uses) against a lab's API."""

import threading

import pytest

kubernetes = pytest.importorskip("kubernetes")
from kubernetes import client, config, watch  # noqa: E402

ACNP = {"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy", "metadata": {"name": "py"},
        "spec": {"priority": 3, "appliedTo": [{"podSelector": {"matchLabels": {"pod": "a"}}}],
                 "ingress": [{"action": "Drop", "name": "all"}]}}


@pytest.fixture()
def api(lab):
    api = config.new_client_from_config(config_file=str(lab.kubeconfig))
    yield api
    api.close()


def test_typed_reads(lab, api):
    assert client.VersionApi(api).get_code().git_version == "v1.37.0"
    pods = client.CoreV1Api(api).list_pod_for_all_namespaces()
    assert {f"{p.metadata.namespace}/{p.metadata.name}": p.status.pod_ip for p in pods.items} == \
        {p.key: p.pod_ip for p in lab.state.pods}
    node = client.CoreV1Api(api).read_node("kind-worker")
    assert node.status.node_info.kubelet_version == "v1.37.0"
    assert [g.name for g in client.ApisApi(api).get_api_versions().groups] == [
        "discovery.k8s.io", "apps", "networking.k8s.io", "crd.antrea.io"]


def test_custom_objects_create_patch_delete(lab, api):
    custom = client.CustomObjectsApi(api)
    custom.create_cluster_custom_object("crd.antrea.io", "v1beta1", "clusternetworkpolicies", ACNP)
    assert lab.reachability(port=80)["y/b", "x/a"] == "drop"
    custom.patch_cluster_custom_object("crd.antrea.io", "v1beta1", "clusternetworkpolicies", "py",
                                       {"spec": {"ingress": [{"action": "Reject", "name": "all"}]}})
    assert lab.reachability(port=80)["y/b", "x/a"] == "reject"
    got = custom.get_cluster_custom_object("crd.antrea.io", "v1beta1", "clusternetworkpolicies", "py")
    assert got["metadata"]["generation"] == 2 and got["status"]["observedGeneration"] == 2
    with pytest.raises(client.ApiException) as err:
        custom.create_cluster_custom_object("crd.antrea.io", "v1beta1", "clusternetworkpolicies", ACNP)
    assert err.value.status == 409
    custom.delete_cluster_custom_object("crd.antrea.io", "v1beta1", "clusternetworkpolicies", "py")
    assert lab.reachability(port=80)["y/b", "x/a"] == "allow"


def test_invalid_object_gives_422_with_causes(lab, api):
    bad = {**ACNP, "spec": {**ACNP["spec"], "priority": 20000}}
    with pytest.raises(client.ApiException) as err:
        client.CustomObjectsApi(api).create_cluster_custom_object("crd.antrea.io", "v1beta1",
                                                                  "clusternetworkpolicies", bad)
    import json

    body = json.loads(err.value.body)
    assert err.value.status == 422 and body["reason"] == "Invalid"
    assert body["details"]["causes"] == [{"reason": "FieldValueInvalid", "field": "spec.priority",
                                          "message": "must be between 1 and 10000, got 20000"}]
    assert not lab.state.antrea_policies


def test_watch_from_a_resource_version(lab, api):
    v1 = client.CoreV1Api(api)
    rv = v1.list_namespaced_pod("x").metadata.resource_version
    events = []

    def consume():
        for event in watch.Watch().stream(v1.list_namespaced_pod, "x", resource_version=rv, timeout_seconds=5):
            events.append((event["type"], event["object"].metadata.name, event["object"].metadata.labels))
            if len(events) == 2:
                break

    thread = threading.Thread(target=consume)
    thread.start()
    lab.label("x/a", tier="fe")
    lab.label("y/a", tier="fe")  # another namespace: not in this watch
    lab.label("x/b", tier="be")
    thread.join(15)
    assert [(t, n) for t, n, _ in events] == [("MODIFIED", "a"), ("MODIFIED", "b")]
    assert events[0][2]["tier"] == "fe"
