"""KindBackend end to end *up to the boundary*: the commands it runs for start, sync, reachability,
explain, traceflow and stop, against recorded kubectl/kind/docker answers.

This machine has no Docker engine, so no cluster exists here: the FakeRunner plays docker, kind
and kubectl with outputs in their real formats. The real thing is tests/e2e/kind (skipped here).
"""

import json
from pathlib import Path

import pytest

from labkit import Lab
from labkit.backends.kind import KindBackend
from labkit.backends.kind.tools import RawResult
from labkit.errors import BackendUnavailable, LabStateError
from labkit.policy.probe import Probe

from .conftest import FakeRunner, host_ok_responses

IPS = {"x/a": "10.244.1.2", "x/b": "10.244.2.9", "x/c": "10.244.1.3", "y/a": "10.244.2.3", "y/b": "10.244.1.4",
       "y/c": "10.244.2.4", "z/a": "10.244.1.5", "z/b": "10.244.2.5", "z/c": "10.244.1.6"}


def pods_json(ips=IPS):
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"metadata": {"namespace": k.split("/")[0], "name": k.split("/")[1]},
         "status": {"phase": "Running", "podIP": ip, "conditions": [{"type": "Ready", "status": "True"}]}}
        for k, ip in ips.items()]})


def cluster_runner(exists=False) -> FakeRunner:
    r = FakeRunner(host_ok_responses())
    r.on("kind get clusters", RawResult(0, "labkit-lab\n" if exists else "No kind clusters found.\n"))
    r.on("docker image inspect", RawResult(1, "", "Error: No such image"))
    r.on("get pods -A -l", RawResult(0, pods_json()))

    def probe(argv, _):  # ingress to namespace y is dropped, everything else allowed
        dst = argv[argv.index("connect") + 1].split(":")[0]
        return RawResult(1, "", "TIMEOUT\ncommand terminated with exit code 1\n") if dst in (
            IPS["y/a"], IPS["y/b"], IPS["y/c"]) else RawResult(0)

    r.on("/agnhost connect", probe)
    return r


@pytest.fixture
def lab_and_backend(tmp_path, sys_root, tools_on_path, monkeypatch):
    monkeypatch.delenv("LABKIT_ANTREA_VERSION", raising=False)
    runner = cluster_runner()
    lab = Lab(backend="sim", profile="workshop", start=False, state_dir=tmp_path / "state")
    events = []
    backend = KindBackend("lab", lab.state_dir, runner=runner, sys_root=sys_root, progress=events.append,
                          prefetch_dir=tmp_path / "no-prefetch")
    return lab, backend, runner, events


def test_start_runs_the_documented_sequence(lab_and_backend, tmp_path):
    lab, backend, runner, events = lab_and_backend
    backend.start(lab.state, lab.policy_set)
    state = lab.state_dir
    kube = f"kubectl --kubeconfig {state}/kubeconfig"
    cmds = [c for c in runner.commands if not c.startswith(("docker version", "docker info", "kind version",
                                                             "kubectl version", "modprobe", "docker image inspect"))]
    assert cmds[:4] == [
        "kind get clusters",
        f"kind create cluster --name labkit-lab --config {state}/kind-config.yaml --kubeconfig {state}/kubeconfig",
        f"{kube} apply -f https://github.com/antrea-io/antrea/releases/download/v2.7.0/antrea.yml",
        f"{kube} rollout status deployment/antrea-controller -n kube-system --timeout=300s",
    ]
    assert cmds[4].startswith(f"{kube} rollout status daemonset/antrea-agent -n kube-system --timeout=")
    assert cmds[5:] == [
        f"{kube} apply -f -",
        f"{kube} wait --for=condition=Ready pods -A -l app.kubernetes.io/managed-by=labkit,labkit.io/lab=lab "
        "--timeout=180s",
        f"{kube} get pods -A -l app.kubernetes.io/managed-by=labkit,labkit.io/lab=lab -o json",
    ]
    applied = runner.inputs(" apply -f -")[0]
    assert applied["kind"] == "List" and len(applied["items"]) == 12
    assert [e.stage for e in events] == ["preflight", "create-cluster", "load-images", "install-antrea",
                                         "wait-antrea", "apply-objects", "wait-pods"]
    assert backend.pod_ips() == IPS
    assert json.loads((state / "kind-applied.json").read_text())["format"] == 1


def test_sync_applies_only_changes_and_waits_for_antrea_realization(lab_and_backend):
    lab, backend, runner, _ = lab_and_backend
    backend.start(lab.state, lab.policy_set)
    before = len(runner.calls)
    lab.apply({"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy", "metadata": {"name": "deny-y"},
               "spec": {"priority": 1, "appliedTo": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}],
                        "ingress": [{"action": "Drop", "from": [{"namespaceSelector": {}}]}]}})
    backend.sync(lab.state, lab.policy_set, [])
    new = runner.commands[before:]
    kube = f"kubectl --kubeconfig {lab.state_dir}/kubeconfig"
    assert new == [f"{kube} apply -f -",
                   f"{kube} wait '--for=jsonpath={{.status.phase}}=Realized' "
                   "clusternetworkpolicies.crd.antrea.io/deny-y --timeout=60s"]
    assert [i["metadata"]["name"] for i in runner.inputs(" apply -f -")[-1]["items"]] == ["deny-y"]
    before = len(runner.calls)
    lab.delete("acnp/deny-y")
    backend.sync(lab.state, lab.policy_set, [])
    assert runner.commands[before:] == [f"{kube} delete --ignore-not-found --wait=true -f -"]
    assert runner.inputs("delete --ignore-not-found")[-1]["items"] == [
        {"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy", "metadata": {"name": "deny-y"}}]
    before = len(runner.calls)
    backend.sync(lab.state, lab.policy_set, [])
    assert runner.commands[before:] == []  # nothing changed, nothing run


def test_reachability_is_measured_from_every_pod_to_every_pod(lab_and_backend):
    lab, backend, runner, _ = lab_and_backend
    backend.start(lab.state, lab.policy_set)
    keys = [p.key for p in lab.state.pods]
    m = backend.reachability(lab.state, lab.policy_set, Probe("TCP", 80), keys, keys)
    assert (m.kind, m.backend) == ("observed", "kind")
    assert m.counts() == {"allow": 54, "drop": 27, "reject": 0}
    assert m["x/a", "y/b"] == "drop" and m["y/b", "x/a"] == "allow"
    assert sum("/agnhost connect" in c for c in runner.commands) == 81
    probe = next(c for c in runner.commands if "/agnhost connect 10.244.2.3:80" in c and " exec a -n x " in c)
    assert probe.endswith("exec a -n x -c cont-80-tcp -- /agnhost connect 10.244.2.3:80 --timeout=1s --protocol=tcp")
    assert any("pod IPs in the cluster differ" in w for w in m.warnings)  # real IPAM is not the model's


def test_explain_uses_antctl_and_falls_back_to_predicted(lab_and_backend):
    lab, backend, runner, _ = lab_and_backend
    backend.start(lab.state, lab.policy_set)
    answer = {"kind": "NetworkPolicyEvaluation", "apiVersion": "controlplane.antrea.io/v1beta2",
              "request": {"source": {"pod": {"namespace": "x", "name": "a"}},
                          "destination": {"pod": {"namespace": "y", "name": "b"}}},
              "response": {"networkPolicy": {"type": "AntreaClusterNetworkPolicy", "name": "deny-y",
                                             "uid": "9ae2599a-3bd3-4413-849e-06f53f467559"},
                           "ruleIndex": 0, "rule": {"direction": "In", "name": "drop-all", "action": "Drop"}}}
    runner.on("antctl query networkpolicyevaluation", RawResult(0, json.dumps(answer)))
    ex = backend.explain(lab.state, lab.policy_set, "x/a", "y/b", Probe("TCP", 80))
    assert ex.label == "antrea-controller" and ex.evaluation.action == "Drop"
    assert "Drop by AntreaClusterNetworkPolicy deny-y rule drop-all (In)" in str(ex)
    cmd = next(c for c in runner.commands if "-- antctl" in c)
    assert cmd.endswith("exec -n kube-system deploy/antrea-controller -c antrea-controller -- antctl query "
                        "networkpolicyevaluation -S x/a -D y/b -o json")
    runner.on("antctl query", RawResult(1, "", 'error: unknown command "networkpolicyevaluation" for "antctl query"'))
    ex = backend.explain(lab.state, lab.policy_set, "x/a", "y/b", Probe("TCP", 80))
    assert ex.label == "predicted" and ex.evaluation is None and "antctl did not answer" in ex.note
    assert ex.predicted.verdict == "allow" and str(ex).startswith("predicted by labkit's engine")


def test_stop_deletes_the_cluster_and_is_idempotent(lab_and_backend):
    lab, backend, runner, _ = lab_and_backend
    backend.start(lab.state, lab.policy_set)
    backend.stop()
    backend.stop()
    deletes = [c for c in runner.commands if c.startswith("kind delete cluster")]
    assert deletes == [f"kind delete cluster --name labkit-lab --kubeconfig {lab.state_dir}/kubeconfig"] * 2
    assert not (lab.state_dir / "kind-applied.json").exists() and backend.stop_report.errors == []


def test_attach_reuses_and_refuses_a_vanished_cluster(tmp_path, sys_root, tools_on_path):
    lab = Lab(backend="sim", profile="workshop", start=False, state_dir=tmp_path / "s")
    gone = KindBackend("lab", lab.state_dir, runner=cluster_runner(exists=False), sys_root=sys_root)
    with pytest.raises(LabStateError, match="no longer exists"):
        gone.attach(lab.state, lab.policy_set)
    runner = cluster_runner(exists=True)
    backend = KindBackend("lab", lab.state_dir, runner=runner, sys_root=sys_root)
    backend.attach(lab.state, lab.policy_set)
    assert not any("kind create" in c or "antrea.yml" in c for c in runner.commands)
    assert any(c.startswith("kind export kubeconfig --name labkit-lab") for c in runner.commands)
    assert backend.running and backend.pod_ips()["x/a"] == "10.244.1.2"


def test_traceflow_through_the_backend(lab_and_backend, fixture_json):
    lab, backend, runner, _ = lab_and_backend
    backend.start(lab.state, lab.policy_set)
    runner.on("get traceflows.crd.antrea.io", RawResult(0, json.dumps(fixture_json("traceflow-delivered-intranode.json"))))
    tf = backend.traceflow(lab.state, lab.policy_set, "x/a", "x/c", Probe("TCP", 80))
    assert tf.final_action == "Delivered"
    created = runner.inputs(" create -f -")[0]
    assert created["spec"]["source"] == {"namespace": "x", "pod": "a"} and created["metadata"]["name"].startswith(
        "labkit-lab-")


def test_k8s_mode_uses_the_context_and_deletes_only_its_own(tmp_path, sys_root, tools_on_path):
    runner = cluster_runner()
    runner.on("get namespace y --ignore-not-found", RawResult(0, "namespace/y\n"))  # y existed before labkit
    lab = Lab(backend="sim", profile="workshop", start=False, state_dir=tmp_path / "s")
    backend = KindBackend("lab", lab.state_dir, mode="k8s", context="prod-like", runner=runner, sys_root=sys_root)
    backend.start(lab.state, lab.policy_set)
    assert not any(c.startswith(("kind ", "docker ")) for c in runner.commands)
    assert all(c.startswith("kubectl --context prod-like") for c in runner.commands if c.startswith("kubectl ")
               and "version" not in c)
    items = runner.inputs(" apply -f -")[0]["items"]
    y = next(i for i in items if i["kind"] == "Namespace" and i["metadata"]["name"] == "y")
    assert "app.kubernetes.io/managed-by" not in y["metadata"]["labels"]
    assert "spec" in items[-1] and "nodeName" not in items[-1]["spec"]  # the cluster's scheduler places pods
    before = len(runner.calls)
    backend.stop()
    stop_cmds = runner.commands[before:]
    deleted = runner.inputs("delete --ignore-not-found --wait=false -f -")[0]["items"]
    assert {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}} in deleted
    assert not any(d["kind"] == "Namespace" and d["metadata"]["name"] == "y" for d in deleted)
    assert any("-l app.kubernetes.io/managed-by=labkit,labkit.io/lab=lab" in c for c in stop_cmds)


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
