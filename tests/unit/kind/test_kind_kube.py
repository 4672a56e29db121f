"""The Kubernetes client layer (labkit/backends/kind/kube.py) against a local fake API server.

The FakeApiServer (apiserver.py) answers on 127.0.0.1 with the API server's real shapes (List,
Status, watch events, exec over the v4.channel.k8s.io WebSocket); what is asserted is what the
official Python client sends (verb, path, query, content type, body) and how labkit reads the
answers and translates failures.
"""

import socket

import pytest

from labkit.backends.kind.kube import KubeClient, object_path, resource_path, rollout_complete
from labkit.backends.kind.tools import preflight
from labkit.errors import CommandError

from .apiserver import status


def test_rest_paths_follow_the_api_conventions():
    assert resource_path("", "Pod", "a", "x") == "/api/v1/namespaces/x/pods/a"
    assert resource_path("", "Pod") == "/api/v1/pods"  # all namespaces
    assert resource_path("crd.antrea.io", "ClusterNetworkPolicy", "p", "ignored") == (
        "/apis/crd.antrea.io/v1beta1/clusternetworkpolicies/p")  # cluster-scoped
    assert object_path({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                        "metadata": {"name": "n", "namespace": "y"}}) == (
        "/apis/networking.k8s.io/v1/namespaces/y/networkpolicies/n")
    with pytest.raises(ValueError, match="KINDS"):
        resource_path("example.com", "Widget", "w")


def test_apply_is_server_side_apply(apiserver):
    obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x", "labels": {"ns": "x"}}}
    out = apiserver.kube.apply(obj)
    method, path, query, body, ctype = apiserver.requests[-1]
    assert (method, path, ctype) == ("PATCH", "/api/v1/namespaces/x", "application/apply-patch+yaml")
    assert query == {"fieldManager": "labkit", "force": "true"} and body == obj
    assert out["metadata"]["uid"] and out["metadata"]["resourceVersion"]  # the server's answer, decoded


def test_api_errors_name_the_call_the_status_and_a_fix(apiserver):
    with pytest.raises(CommandError) as err:
        apiserver.kube.get("/api/v1/namespaces/missing")
    assert str(err.value).startswith('the Kubernetes API refused GET /api/v1/namespaces/missing: 404 "missing" '
                                     "not found") and "fix:" in str(err.value)
    assert err.value.failure.returncode == 404 and err.value.failure.argv == ["GET", "/api/v1/namespaces/missing"]
    assert apiserver.kube.get("/api/v1/namespaces/missing", not_found_ok=True) is None
    assert apiserver.kube.delete({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "namespace": "x"}}) \
        is False  # kubectl delete --ignore-not-found
    # An admission webhook's denial is a Status with code 422 (or 400); its message reaches the user.
    message = ('admission webhook "acnpvalidator.antrea.io" denied the request: tier tier-x does not exist')
    apiserver.admission.append(lambda obj: status(422, "Invalid", message))
    with pytest.raises(CommandError) as err:
        apiserver.kube.apply({"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy",
                              "metadata": {"name": "p"}, "spec": {"tier": "tier-x"}}, hint="create the Tier first")
    assert message in str(err.value) and str(err.value).endswith("fix: create the Tier first")


def test_unreachable_api_server_says_so(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    config = tmp_path / "kubeconfig"
    config.write_text(f"apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters: [{{name: c, cluster: {{server: "
                      f"'http://127.0.0.1:{port}'}}}}]\ncontexts: [{{name: c, context: {{cluster: c, user: u}}}}]\n"
                      "users: [{name: u, user: {token: t}}]\n")
    kube = KubeClient(config, request_timeout_s=2)
    with pytest.raises(CommandError, match="cannot reach the Kubernetes API server for GET /api/v1/pods.*kind get "
                                           "clusters"):
        kube.list("", "Pod")


def test_bad_kubeconfig_context_says_how_to_fix(apiserver, tmp_path):
    kube = KubeClient(apiserver.kube.kubeconfig, context="no-such-context")
    with pytest.raises(CommandError, match="context 'no-such-context'.*kubectl config get-contexts"):
        kube.list("", "Pod")


def test_rollout_complete_is_kubectl_rollout_status():
    deploy = {"kind": "Deployment", "metadata": {"generation": 2}, "spec": {"replicas": 2},
              "status": {"observedGeneration": 1}}
    assert rollout_complete(deploy) == "waiting for the rollout to be observed"
    deploy["status"] = {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1}
    assert rollout_complete(deploy) == "1 of 2 new replicas have been updated"
    deploy["status"].update(updatedReplicas=2)
    assert rollout_complete(deploy) == "1 old replicas are pending termination"
    deploy["status"].update(replicas=2, availableReplicas=1)
    assert rollout_complete(deploy) == "1 of 2 updated replicas are available"
    deploy["status"].update(availableReplicas=2)
    assert rollout_complete(deploy) is True
    ds = {"kind": "DaemonSet", "metadata": {"generation": 1},
          "status": {"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 2}}
    assert rollout_complete(ds) == "2 of 3 updated pods are scheduled"
    ds["status"].update(updatedNumberScheduled=3, numberAvailable=3)
    assert rollout_complete(ds) is True


def test_exec_reads_stdout_stderr_and_the_exit_code(apiserver):
    apiserver.exec_handler = lambda ns, pod, c, cmd: (1, "", "REFUSED\n") if cmd[0] == "/agnhost" else (0, "hi\n", "")
    out = apiserver.kube.exec("x", "a", "cont-80-tcp", ["/agnhost", "connect", "10.244.1.2:80"])
    assert (out.returncode, out.stdout, out.stderr) == (1, "", "REFUSED\n")
    assert apiserver.kube.exec("x", "a", "cont-80-tcp", ["echo", "hi"]).stdout == "hi\n"
    method, path, query, *_ = apiserver.requests[-1]
    assert (method, path) == ("EXEC", "/api/v1/namespaces/x/pods/a/exec")
    assert query["container"] == ["cont-80-tcp"] and query["command"] == ["echo", "hi"]


def test_wait_for_times_out_with_the_last_reason(apiserver):
    clock = iter(range(0, 100, 5))
    kube = apiserver.kube
    kube.clock = lambda: next(clock)
    with pytest.raises(CommandError, match=r"timed out after 10 s waiting for pods x: 1 of 2 Ready; fix: look"):
        kube.wait_for(lambda: "1 of 2 Ready", 10, "pods x", "look")


def test_preflight_names_a_missing_kubernetes_client(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "kubernetes" else real(name, *a))
    check = preflight("k8s").check("kubernetes client")
    assert not check.ok and check.fix == "pip install 'labkit[kind]'"


def test_exec_in_parallel_with_rest_calls_leaves_the_shared_client_alone(apiserver):
    """kubernetes.stream patches the ApiClient it is given (kubernetes-client/python#928); labkit
    gives it a private one, so concurrent REST calls on the shared client keep working."""
    from concurrent.futures import ThreadPoolExecutor

    apiserver.exec_handler = lambda ns, pod, c, cmd: (0, cmd[-1], "")
    shared = apiserver.kube.api
    request = shared.request
    with ThreadPoolExecutor(8) as pool:
        execs = [pool.submit(apiserver.kube.exec, "x", "a", "c", ["echo", str(i)]) for i in range(16)]
        lists = [pool.submit(apiserver.kube.list, "", "Pod", namespace="kube-system") for _ in range(16)]
        assert [f.result().stdout for f in execs] == [str(i) for i in range(16)]
        assert all(len(f.result()) == 1 for f in lists)
    assert shared.request == request and apiserver.kube.api is shared
