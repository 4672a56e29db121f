"""KindBackend end to end *up to the boundary*: the commands (kind, docker, kubectl for Antrea's
manifest) and the Kubernetes API calls it makes for start, sync, reachability, explain, traceflow
and stop.

This machine has no Docker engine, so no cluster exists here: the FakeRunner plays docker, kind
and kubectl with outputs in their real formats, and a FakeApiServer on 127.0.0.1 (apiserver.py)
answers the official Kubernetes client with real object shapes. The real thing is tests/e2e/kind
(skipped here).
"""

import json
from pathlib import Path

import pytest

from labkit import Lab
from labkit.backends.kind import KindBackend
from labkit.backends.kind.tools import RawResult
from labkit.errors import BackendUnavailable, CommandError, LabStateError
from labkit.policy.probe import Probe

from .apiserver import antrea_controller, kubelet
from .conftest import FakeRunner, host_ok_responses

IPS = {"x/a": "10.244.1.2", "x/b": "10.244.2.9", "x/c": "10.244.1.3", "y/a": "10.244.2.3", "y/b": "10.244.1.4",
       "y/c": "10.244.2.4", "z/a": "10.244.1.5", "z/b": "10.244.2.5", "z/c": "10.244.1.6"}


def cluster_runner(exists=False) -> FakeRunner:
    """docker/kind/kubectl (the binaries labkit still runs): a healthy host, no images cached."""
    r = FakeRunner(host_ok_responses())
    r.on("kind get clusters", RawResult(0, "labkit-lab\n" if exists else "No kind clusters found.\n"))
    r.on("docker image inspect", RawResult(1, "", "Error: No such image"))
    return r


def probe_answers(ns, pod, container, command):
    """agnhost connect in the pods: ingress to namespace y is dropped, everything else allowed."""
    if command[:2] != ["/agnhost", "connect"]:
        return 1, "", f"unexpected command {command}"
    dst = command[2].split(":")[0]
    return (1, "", "TIMEOUT\n") if dst in (IPS["y/a"], IPS["y/b"], IPS["y/c"]) else (0, "", "")


@pytest.fixture
def api(apiserver):
    apiserver.on_apply += [kubelet(IPS), antrea_controller]
    apiserver.exec_handler = probe_answers
    return apiserver


@pytest.fixture
def lab_and_backend(tmp_path, sys_root, tools_on_path, monkeypatch, api):
    monkeypatch.delenv("LABKIT_ANTREA_VERSION", raising=False)
    runner = cluster_runner()
    lab = Lab(backend="sim", profile="workshop", start=False, state_dir=tmp_path / "state")
    events = []
    backend = KindBackend("lab", lab.state_dir, runner=runner, sys_root=sys_root, progress=events.append,
                          prefetch_dir=tmp_path / "no-prefetch", kube=api.kube)
    return lab, backend, runner, events, api


def test_start_runs_the_documented_sequence(lab_and_backend):
    lab, backend, runner, events, api = lab_and_backend
    backend.start(lab.state, lab.policy_set)
    state = lab.state_dir
    cmds = [c for c in runner.commands if not c.startswith(("docker version", "docker info", "kind version",
                                                             "kubectl version", "modprobe", "docker image inspect"))]
    assert cmds == [  # the binaries: kind for the cluster, kubectl for Antrea's release manifest
        "kind get clusters",
        f"kind create cluster --name labkit-lab --config {state}/kind-config.yaml --kubeconfig {state}/kubeconfig",
        f"kubectl --kubeconfig {state}/kubeconfig apply -f "
        "https://github.com/antrea-io/antrea/releases/download/v2.7.0/antrea.yml",
    ]
    calls = [(m, p) for m, p, *_ in api.requests]
    assert calls[:2] == [("GET", "/apis/apps/v1/namespaces/kube-system/deployments/antrea-controller"),
                         ("GET", "/apis/apps/v1/namespaces/kube-system/daemonsets/antrea-agent")]
    applies = api.made("PATCH")
    assert len(applies) == 12 and all(q == {"fieldManager": "labkit", "force": "true"} for _, _, q, _, _ in applies)
    assert all(ct == "application/apply-patch+yaml" for *_, ct in applies)
    assert [p for _, p, *_ in applies][:3] == ["/api/v1/namespaces/x", "/api/v1/namespaces/y", "/api/v1/namespaces/z"]
    assert applies[3][1] == "/api/v1/namespaces/x/pods/a" and applies[3][3]["spec"]["nodeName"].startswith("labkit-lab-")
    ready_wait = api.made("GET", "/api/v1/pods")
    assert ready_wait and ready_wait[0][2] == {"labelSelector": "app.kubernetes.io/managed-by=labkit,labkit.io/lab=lab"}
    assert [e.stage for e in events] == ["preflight", "create-cluster", "load-images", "install-antrea",
                                         "wait-antrea", "apply-objects", "wait-pods"]
    assert backend.pod_ips() == IPS
    assert json.loads((state / "kind-applied.json").read_text())["format"] == 1


def test_sync_applies_only_changes_and_waits_for_antrea_realization(lab_and_backend):
    lab, backend, runner, _, api = lab_and_backend
    backend.start(lab.state, lab.policy_set)
    before = len(api.requests)
    lab.apply({"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy", "metadata": {"name": "deny-y"},
               "spec": {"priority": 1, "appliedTo": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}],
                        "ingress": [{"action": "Drop", "from": [{"namespaceSelector": {}}]}]}})
    backend.sync(lab.state, lab.policy_set, [])
    acnp = "/apis/crd.antrea.io/v1beta1/clusternetworkpolicies/deny-y"
    assert [(m, p) for m, p, *_ in api.requests[before:]] == [("PATCH", acnp), ("GET", acnp)]  # applied, Realized
    assert api.requests[before][3]["metadata"]["labels"]["labkit.io/lab"] == "lab"
    before = len(api.requests)
    lab.delete("acnp/deny-y")
    backend.sync(lab.state, lab.policy_set, [])
    assert [(m, p) for m, p, *_ in api.requests[before:]] == [("DELETE", acnp), ("GET", acnp)]  # deleted, gone
    assert api.requests[before][3]["propagationPolicy"] == "Background"
    before = len(api.requests)
    backend.sync(lab.state, lab.policy_set, [])
    assert api.requests[before:] == []  # nothing changed, nothing sent


def test_sync_reports_a_policy_antrea_does_not_realize(lab_and_backend, monkeypatch):
    lab, backend, _, _, api = lab_and_backend
    backend.start(lab.state, lab.policy_set)
    api.on_apply.remove(antrea_controller)  # the controller never sets status.phase
    monkeypatch.setattr(api.kube, "clock", iter(range(0, 10_000, 30)).__next__)
    lab.apply({"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy", "metadata": {"name": "p"},
               "spec": {"priority": 1, "appliedTo": [{"podSelector": {}}],
                        "ingress": [{"action": "Drop", "from": [{"podSelector": {}}]}]}})
    with pytest.raises(CommandError, match="ClusterNetworkPolicy p to be Realized: status.phase is not set"):
        backend.sync(lab.state, lab.policy_set, [])


def test_sync_stops_waiting_for_a_policy_antrea_reports_unrealizable(lab_and_backend, monkeypatch):
    """antrea-controller leaves such a policy Pending with Realizable=False for good (Antrea e2e
    TestAntreaPolicyStatusWithAppliedToUnsupportedGroup): no wait until the timeout."""
    lab, backend, _, _, api = lab_and_backend
    backend.start(lab.state, lab.policy_set)
    api.on_apply.remove(antrea_controller)

    def unrealizable(obj: dict) -> None:
        if obj.get("kind") == "NetworkPolicy" and obj.get("apiVersion", "").startswith("crd.antrea.io/"):
            obj["status"] = {"phase": "Pending", "observedGeneration": 1, "currentNodesRealized": 0,
                             "desiredNodesRealized": 0, "conditions": [{
                                 "type": "Realizable", "status": "False",
                                 "reason": "NetworkPolicyAppliedToUnsupportedGroup",
                                 "message": "Group x/everywhere with Pods in other Namespaces can not be used as "
                                            "AppliedTo"}]}

    api.on_apply.append(unrealizable)
    monkeypatch.setattr(api.kube, "clock", iter(range(0, 10_000, 30)).__next__)  # a wait would time out
    lab.apply([
        {"apiVersion": "crd.antrea.io/v1beta1", "kind": "Group", "metadata": {"name": "everywhere", "namespace": "x"},
         "spec": {"namespaceSelector": {}}},
        {"apiVersion": "crd.antrea.io/v1beta1", "kind": "NetworkPolicy", "metadata": {"name": "p", "namespace": "x"},
         "spec": {"priority": 1, "appliedTo": [{"group": "everywhere"}],
                  "ingress": [{"action": "Drop", "from": [{"podSelector": {}}]}]}}])
    before = len(api.requests)
    backend.sync(lab.state, lab.policy_set, [])
    annp = "/apis/crd.antrea.io/v1beta1/namespaces/x/networkpolicies/p"
    assert [(m, p) for m, p, *_ in api.requests[before:] if p == annp] == [("PATCH", annp), ("GET", annp)]
    assert lab.policies().set_index("name").loc["p", "phase"] == "Pending"  # labkit's model agrees


def test_reachability_is_measured_from_every_pod_to_every_pod(lab_and_backend):
    lab, backend, runner, _, api = lab_and_backend
    backend.start(lab.state, lab.policy_set)
    keys = [p.key for p in lab.state.pods]
    m = backend.reachability(lab.state, lab.policy_set, Probe("TCP", 80), keys, keys)
    assert (m.kind, m.backend) == ("observed", "kind")
    assert m.counts() == {"allow": 54, "drop": 27, "reject": 0}
    assert m["x/a", "y/b"] == "drop" and m["y/b", "x/a"] == "allow"
    execs = api.made("EXEC")
    assert len(execs) == 81
    one = next(q for _, p, q, *_ in execs if p == "/api/v1/namespaces/x/pods/a/exec"
               and q["command"][2] == "10.244.2.3:80")
    assert one["container"] == ["cont-80-tcp"] and one["command"] == [
        "/agnhost", "connect", "10.244.2.3:80", "--timeout=1s", "--protocol=tcp"]
    assert one["stdout"] == ["True"] and one["stderr"] == ["True"] and one["tty"] == ["False"]
    assert any("pod IPs in the cluster differ" in w for w in m.warnings)  # real IPAM is not the model's


def test_explain_uses_antctl_and_falls_back_to_predicted(lab_and_backend):
    lab, backend, runner, _, api = lab_and_backend
    backend.start(lab.state, lab.policy_set)
    answer = {"kind": "NetworkPolicyEvaluation", "apiVersion": "controlplane.antrea.io/v1beta2",
              "request": {"source": {"pod": {"namespace": "x", "name": "a"}},
                          "destination": {"pod": {"namespace": "y", "name": "b"}}},
              "response": {"networkPolicy": {"type": "AntreaClusterNetworkPolicy", "name": "deny-y",
                                             "uid": "9ae2599a-3bd3-4413-849e-06f53f467559"},
                           "ruleIndex": 0, "rule": {"direction": "In", "name": "drop-all", "action": "Drop"}}}
    api.exec_handler = lambda ns, pod, c, cmd: (0, json.dumps(answer), "") if cmd[0] == "antctl" else (1, "", "?")
    ex = backend.explain(lab.state, lab.policy_set, "x/a", "y/b", Probe("TCP", 80))
    assert ex.label == "antrea-controller" and ex.evaluation.action == "Drop"
    assert "Drop by AntreaClusterNetworkPolicy deny-y rule drop-all (In)" in str(ex)
    _, path, query, *_ = api.made("EXEC")[-1]
    assert path == "/api/v1/namespaces/kube-system/pods/antrea-controller-6b5c9d7f4-x2x8q/exec"
    assert query["container"] == ["antrea-controller"] and query["command"] == [
        "antctl", "query", "networkpolicyevaluation", "-S", "x/a", "-D", "y/b", "-o", "json"]
    api.exec_handler = lambda ns, pod, c, cmd: (1, "", 'Error: unknown command "networkpolicyevaluation" for "antctl query"')
    ex = backend.explain(lab.state, lab.policy_set, "x/a", "y/b", Probe("TCP", 80))
    assert ex.label == "predicted" and ex.evaluation is None and "antctl did not answer" in ex.note
    assert "unknown command" in ex.note
    assert ex.predicted.verdict == "allow" and str(ex).startswith("predicted by labkit's engine")


def test_stop_deletes_the_cluster_and_is_idempotent(lab_and_backend):
    lab, backend, runner, _, api = lab_and_backend
    backend.start(lab.state, lab.policy_set)
    backend.stop()
    backend.stop()
    deletes = [c for c in runner.commands if c.startswith("kind delete cluster")]
    assert deletes == [f"kind delete cluster --name labkit-lab --kubeconfig {lab.state_dir}/kubeconfig"] * 2
    assert not (lab.state_dir / "kind-applied.json").exists() and backend.stop_report.errors == []


def test_attach_reuses_and_refuses_a_vanished_cluster(tmp_path, sys_root, tools_on_path, api):
    lab = Lab(backend="sim", profile="workshop", start=False, state_dir=tmp_path / "s")
    gone = KindBackend("lab", lab.state_dir, runner=cluster_runner(exists=False), sys_root=sys_root, kube=api.kube)
    with pytest.raises(LabStateError, match="no longer exists"):
        gone.attach(lab.state, lab.policy_set)
    runner = cluster_runner(exists=True)
    backend = KindBackend("lab", lab.state_dir, runner=runner, sys_root=sys_root, kube=api.kube)
    backend.attach(lab.state, lab.policy_set)
    assert not any("kind create" in c or "antrea.yml" in c for c in runner.commands)
    assert any(c.startswith("kind export kubeconfig --name labkit-lab") for c in runner.commands)
    assert backend.running and backend.pod_ips()["x/a"] == "10.244.1.2"


def test_traceflow_through_the_backend(lab_and_backend, fixture_json):
    lab, backend, runner, _, api = lab_and_backend
    backend.start(lab.state, lab.policy_set)
    done = fixture_json("traceflow-delivered-intranode.json")
    api.watch_script = lambda obj: [obj, {**obj, "status": done["status"]}]
    tf = backend.traceflow(lab.state, lab.policy_set, "x/a", "x/c", Probe("TCP", 80))
    assert tf.final_action == "Delivered"
    created = api.made("POST", "/apis/crd.antrea.io/v1beta1/traceflows")[0][3]
    assert created["spec"]["source"] == {"namespace": "x", "pod": "a"} and created["metadata"]["name"].startswith(
        "labkit-lab-")


def test_k8s_mode_uses_the_context_and_deletes_only_its_own(tmp_path, sys_root, tools_on_path, api):
    runner = cluster_runner()
    api.put("/api/v1/namespaces/y", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "y"}})  # existed
    api.put("/api/v1/namespaces/other/pods/keep", {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "keep", "namespace": "other", "labels": {"app.kubernetes.io/managed-by": "labkit",
                                                          "labkit.io/lab": "another-lab"}}})
    lab = Lab(backend="sim", profile="workshop", start=False, state_dir=tmp_path / "s")
    backend = KindBackend("lab", lab.state_dir, mode="k8s", context="prod-like", runner=runner, sys_root=sys_root,
                          kube=api.kube)
    assert KindBackend("lab", lab.state_dir, mode="k8s", context="prod-like").kube.context == "prod-like"
    backend.start(lab.state, lab.policy_set)
    assert not any(c.startswith(("kind ", "docker ")) for c in runner.commands)
    assert not any(c.startswith("kubectl ") and "version" not in c for c in runner.commands)  # nothing to install
    y = api.objects["/api/v1/namespaces/y"]
    assert "app.kubernetes.io/managed-by" not in y["metadata"]["labels"]
    assert "nodeName" not in api.objects["/api/v1/namespaces/x/pods/a"]["spec"]  # the cluster's scheduler
    backend.stop()
    assert "/api/v1/namespaces/x" not in api.objects and "/api/v1/namespaces/x/pods/a" not in api.objects
    assert "/api/v1/namespaces/y" in api.objects  # existed before labkit: kept
    assert "/api/v1/namespaces/other/pods/keep" in api.objects  # another lab's
    assert any(q.get("labelSelector") == "app.kubernetes.io/managed-by=labkit,labkit.io/lab=lab"
               for m, p, q, *_ in api.requests if m == "GET")


def test_lab_with_kind_backend_on_this_machine_says_what_is_missing(tmp_path):
    """The real path through Lab: preflight fails (no Docker engine here) with every reason at once."""
    if Path("/var/run/docker.sock").exists():
        pytest.skip("this host has a Docker socket")
    with pytest.raises(BackendUnavailable) as err:
        Lab(backend="kind", profile="workshop", state_dir=tmp_path / "s")
    assert "docker" in str(err.value).lower() and "backend='sim'" in str(err.value)


def test_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        KindBackend("lab", "/tmp/x", mode="eks")
    with pytest.raises(ValueError, match="context"):
        KindBackend("lab", "/tmp/x", context="c")
