"""labkit's own ``k8s`` backend (labkit/backends/kind, mode ``k8s``) against a lab's Kubernetes API.

Until now that backend had only talked to a fake server (tests/unit/kind/apiserver.py). Here its
real code paths (labkit.backends.kind.kube.KubeClient, workloads, traceflow) run against the lab
endpoint with the official client. What works and what cannot, and why (docs/kubectl.md):

* works: server-side apply of the backend's rendered workloads (agnhost Pods, namespaces,
  policies), listing by its managed-by label, waiting for Pods Ready and policies Realized, the
  Traceflow CR round trip (create, watch until Succeeded, delete), delete-and-wait;
* cannot: ``start()`` itself, which waits for Antrea's ``antrea-controller`` Deployment and
  ``antrea-agent`` DaemonSet rollouts in kube-system and creates ServiceAccounts and ConfigMaps
  (the lab models no DaemonSets, ServiceAccounts or ConfigMaps: it *is* the Antrea stand-in), and
  probes that exec ``/agnhost connect`` in the Pods (no agnhost processes on sim).
"""

import pytest

pytest.importorskip("kubernetes")

from labkit import Lab  # noqa: E402
from labkit.backends.kind.kube import KubeClient, resource_path  # noqa: E402
from labkit.backends.kind.traceflow_crd import render_traceflow, run_traceflow  # noqa: E402
from labkit.backends.kind.workloads import LAB_LABEL, MANAGED_BY, desired_objects  # noqa: E402
from labkit.errors import CommandError  # noqa: E402
from labkit.policy.probe import Probe  # noqa: E402

IMAGE = "registry.k8s.io/e2e-test-images/agnhost:2.53"


@pytest.fixture()
def peer(tmp_path):
    """An empty lab (the 'cluster') served as a Kubernetes API, and a workshop model to realize on it."""
    with Lab(backend="sim", name="peer", state_dir=tmp_path / "peer", kube_api=True) as cluster:
        kube = KubeClient(cluster.kubeconfig, f"labkit-{cluster.name}", request_timeout_s=10)
        try:
            yield cluster, kube
        finally:
            kube.close()


def test_the_backends_workloads_apply_and_become_ready(peer):
    cluster, kube = peer
    model = Lab(backend="sim", profile="workshop", name="model", start=False)
    desired = desired_objects(model.state, IMAGE, lab="model")
    for manifest in desired.values():
        kube.apply(manifest)
    assert sorted(p.key for p in cluster.state.pods) == sorted(p.key for p in model.state.pods)
    selector = f"{MANAGED_BY[0]}={MANAGED_BY[1]},{LAB_LABEL}=model"
    kube.wait_pods_ready(selector, timeout_s=5)
    assert len(kube.list("", "Pod", label_selector=selector)) == 9
    acnp = {"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy", "metadata": {"name": "drop-y"},
            "spec": {"priority": 5, "appliedTo": [{"namespaceSelector": {"matchLabels": {"ns": "x"}}}],
                     "ingress": [{"action": "Drop", "from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}]}]}}
    kube.apply(acnp)
    status = kube.get(resource_path("crd.antrea.io", "ClusterNetworkPolicy", "drop-y"))["status"]
    assert status["phase"] == "Realized"  # what KindBackend._wait_policies waits for
    trace = run_traceflow(kube, render_traceflow("tf-model", "y/a", "x/b", Probe("TCP", 80), 10))
    assert trace.phase == "Succeeded" and trace.final_action == "Dropped"
    expected = cluster.traceflow("y/a", "x/b", port=80)
    assert [(r.node, r.observations) for r in trace.results] == [(r.node, r.observations) for r in expected.results]
    assert kube.get(resource_path("crd.antrea.io", "Traceflow", "tf-model"), not_found_ok=True) is None
    assert kube.delete(acnp, wait=True, timeout_s=5)
    assert not cluster.state.antrea_policies


def test_the_backend_itself_cannot_start_without_antreas_workloads(peer, monkeypatch):
    cluster, _ = peer
    # k8s mode reads $KUBECONFIG, which the kubernetes client captured when it was first imported.
    import kubernetes.config.kube_config as kube_config

    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(cluster.kubeconfig))
    with pytest.raises(CommandError) as err:
        Lab(backend="k8s", profile="workshop", name="k8sb", state_dir=cluster.state_dir.parent / "k8sb",
            backend_options={"context": f"labkit-{cluster.name}", "wait_antrea_s": 2, "wait_pods_s": 2})
    assert "deployment/antrea-controller does not exist in kube-system" in str(err.value)
