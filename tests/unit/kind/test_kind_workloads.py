"""workloads.py: the lab's state as real manifests (golden dicts) and the sync diff."""

from labkit import Lab
from labkit.backends.kind.workloads import (Record, desired_objects, key_ref, not_ready, plan_sync, pod_ips,
                                            record_after, render_pod, stub)
from labkit.model.objects import ObjectRef, Pod

AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.53"
NODES = {"kind-worker": "labkit-lab-worker", "kind-worker2": "labkit-lab-worker2"}


def _container(port, proto):
    if proto == "SCTP":
        command, env = ["/agnhost", "porter"], [{"name": f"SERVE_SCTP_PORT_{port}", "value": "foo"}]
    else:
        command = ["/agnhost", "serve-hostname", f"--{proto.lower()}", "--http=false", "--port", str(port)]
        env = []
    return {"name": f"cont-{port}-{proto.lower()}", "image": AGNHOST, "imagePullPolicy": "IfNotPresent",
            "command": command, "env": env, "securityContext": {},
            "ports": [{"containerPort": port, "protocol": proto, "name": f"serve-{port}-{proto.lower()}"}]}


GOLDEN_X_A = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "a", "namespace": "x",
                 "labels": {"pod": "a", "app.kubernetes.io/managed-by": "labkit", "labkit.io/lab": "lab"}},
    "spec": {"terminationGracePeriodSeconds": 0,
             "containers": [_container(80, "TCP"), _container(80, "UDP"), _container(80, "SCTP"),
                            _container(81, "TCP"), _container(81, "UDP"), _container(81, "SCTP")],
             "nodeName": "labkit-lab-worker"},
}


def workshop() -> Lab:
    return Lab(backend="sim", profile="workshop", start=False)


def test_workshop_pod_renders_like_upstream_netpol_pods():
    lab = workshop()
    pod = lab.state.pod("x/a")
    assert pod.node_name == "kind-worker"
    assert render_pod(pod, AGNHOST, NODES, "lab") == GOLDEN_X_A


def test_pod_without_ports_gets_a_pause_container_and_no_pin_in_k8s_mode():
    m = render_pod(Pod("q", "idle", {"app": "idle"}, node_name="kind-worker"), AGNHOST, None)
    assert m["spec"] == {"terminationGracePeriodSeconds": 0, "containers": [
        {"name": "cont-pause", "image": AGNHOST, "imagePullPolicy": "IfNotPresent", "command": ["/agnhost", "pause"],
         "securityContext": {}}]}
    assert m["metadata"]["labels"] == {"app": "idle", "app.kubernetes.io/managed-by": "labkit"}


def test_desired_objects_for_workshop():
    lab = workshop()
    desired = desired_objects(lab.state, AGNHOST, NODES, lab="lab")
    keys = list(desired)
    assert keys[:3] == ["/Namespace//x", "/Namespace//y", "/Namespace//z"]
    assert len(keys) == 12 and all(k.startswith("/Pod/") for k in keys[3:])  # no Nodes, no static Tiers
    assert desired["/Namespace//x"] == {"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": "x", "labels": {"ns": "x", "app.kubernetes.io/managed-by": "labkit", "labkit.io/lab": "lab"}}}


def test_policies_are_applied_as_written_with_labels_and_v1beta1():
    lab = workshop()
    lab.apply({"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy",
               "metadata": {"name": "deny-x"},
               "spec": {"priority": 5, "tier": "securityops", "appliedTo": [{"namespaceSelector": {
                   "matchLabels": {"ns": "x"}}}], "ingress": [{"action": "Drop", "from": [{"namespaceSelector": {}}]}]}})
    desired = desired_objects(lab.state, AGNHOST, NODES, lab="lab")
    acnp = desired["crd.antrea.io/ClusterNetworkPolicy//deny-x"]
    assert list(desired)[-1] == "crd.antrea.io/ClusterNetworkPolicy//deny-x"  # after namespaces and pods
    assert acnp["apiVersion"] == "crd.antrea.io/v1beta1"
    assert acnp["spec"]["ingress"] == [{"action": "Drop", "from": [{"namespaceSelector": {}}]}]
    assert acnp["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "labkit", "labkit.io/lab": "lab"}


def test_sync_plan_diffs_against_the_record():
    lab = workshop()
    d1 = desired_objects(lab.state, AGNHOST, NODES)
    first = plan_sync(d1, Record())
    assert len(first.apply) == 12 and not first.delete and len(first.pods_created) == 9
    rec = record_after(Record(), d1)
    assert plan_sync(d1, rec).empty

    policy = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
              "metadata": {"name": "deny", "namespace": "y"}, "spec": {"podSelector": {}}}
    lab.apply(policy)
    lab.label("x/b", pod="b", role="web")  # labels only: an apply, not a replace
    d2 = desired_objects(lab.state, AGNHOST, NODES)
    plan = plan_sync(d2, rec)
    assert [m["metadata"]["name"] for m in plan.apply] == ["b", "deny"] and not plan.replace

    rec2 = record_after(rec, d2)
    lab.delete("netpol/y/deny")
    lab.delete("namespace/z")
    plan = plan_sync(desired_objects(lab.state, AGNHOST, NODES), rec2)
    assert [str(r) for r in plan.delete] == ["netpol/y/deny", "pod/z/a", "pod/z/b", "pod/z/c", "namespace/z"]


def test_pod_spec_change_is_delete_and_create():
    lab = workshop()
    d1 = desired_objects(lab.state, AGNHOST, NODES)
    rec = record_after(Record(), d1)
    d2 = desired_objects(lab.state, "registry.k8s.io/e2e-test-images/agnhost:2.54", NODES)
    plan = plan_sync(d2, rec)
    assert len(plan.replace) == 9 and not plan.apply


def test_system_and_preexisting_namespaces_are_never_deleted():
    rec = Record({"/Namespace//default": {"digest": "1"}, "/Namespace//team": {"digest": "2"},
                  "/Namespace//mine": {"digest": "3"}}, unmanaged_namespaces=["team"])
    assert [str(r) for r in plan_sync({}, rec).delete] == ["namespace/mine"]


def test_stubs_and_refs():
    assert stub(key_ref("crd.antrea.io/ClusterNetworkPolicy//deny-x")) == {
        "apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy", "metadata": {"name": "deny-x"}}
    assert stub(ObjectRef("networking.k8s.io", "NetworkPolicy", "y", "d"))["apiVersion"] == "networking.k8s.io/v1"
    assert Record.from_json(Record({"k": {"digest": "x"}}, ["team"]).to_json()).unmanaged_namespaces == ["team"]


PODS_JSON = {"apiVersion": "v1", "kind": "List", "items": [
    {"metadata": {"name": "a", "namespace": "x"},
     "status": {"phase": "Running", "podIP": "10.244.1.2", "podIPs": [{"ip": "10.244.1.2"}],
                "conditions": [{"type": "Ready", "status": "True"}]}},
    {"metadata": {"name": "b", "namespace": "x"},
     "status": {"phase": "Pending", "conditions": [{"type": "Ready", "status": "False"}],
                "containerStatuses": [{"name": "cont-80-tcp", "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}},
]}


def test_pod_ips_and_not_ready_from_kubectl_json():
    assert pod_ips(PODS_JSON) == {"x/a": "10.244.1.2"}
    assert not_ready(PODS_JSON) == ["x/b (Pending, ImagePullBackOff)"]
