"""cluster.py: the kind config, pinned versions, the exact kind/kubectl/docker command lines, prefetch.

No Docker here: commands go to a FakeRunner (see conftest) and are asserted as text.
"""

import ipaddress
import json

import pytest

from labkit.errors import CommandError

from labkit.backends.kind import cluster as kc
from labkit.backends.kind.tools import RawResult, Shell
from labkit.model.cluster import default_nodes

from .conftest import FakeRunner

GOLDEN_KIND_CONFIG = {
    "kind": "Cluster",
    "apiVersion": "kind.x-k8s.io/v1alpha4",
    "networking": {"disableDefaultCNI": True, "podSubnet": "10.244.0.0/16", "serviceSubnet": "10.96.0.0/16",
                   "ipFamily": "ipv4", "kubeProxyMode": "iptables", "dnsSearch": []},
    "nodes": [{"role": "control-plane"}, {"role": "worker"}, {"role": "worker"}],
}


def test_kind_config_golden_and_matches_the_model():
    config = kc.render_kind_config(2)
    assert config == GOLDEN_KIND_CONFIG
    subnet = ipaddress.ip_network(config["networking"]["podSubnet"])
    assert all(ipaddress.ip_network(n.pod_cidr).subnet_of(subnet) for n in default_nodes(2))
    service = ipaddress.ip_network(config["networking"]["serviceSubnet"])
    assert ipaddress.ip_address("10.96.0.10") in service  # labkit's model allocates ClusterIPs there
    assert [n["role"] for n in kc.render_kind_config(3)["nodes"]] == ["control-plane"] + ["worker"] * 3


def test_kind_config_must_disable_the_default_cni(tmp_path):
    bad = tmp_path / "kind-bad.yaml"
    bad.write_text("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes: [{role: control-plane}]\n")
    with pytest.raises(ValueError, match="disableDefaultCNI"):
        kc.render_kind_config(1, bad)


def test_names_follow_kind():
    assert kc.cluster_name("lab") == "labkit-lab"
    assert kc.kind_node_names("labkit-lab", 2) == ["labkit-lab-control-plane", "labkit-lab-worker", "labkit-lab-worker2"]
    assert kc.node_name_map("labkit-lab", [n.name for n in default_nodes(2)]) == {
        "kind-control-plane": "labkit-lab-control-plane", "kind-worker": "labkit-lab-worker",
        "kind-worker2": "labkit-lab-worker2"}


def test_pinned_versions_and_overrides(monkeypatch):
    pins = kc.load_pins()
    assert pins.antrea_version == "v2.7.0" and pins.agnhost_image.endswith("agnhost:2.53")
    assert kc.manifest_url("v2.7.0", pins) == "https://github.com/antrea-io/antrea/releases/download/v2.7.0/antrea.yml"
    monkeypatch.delenv("LABKIT_ANTREA_VERSION", raising=False)
    assert kc.antrea_version(None, pins) == "v2.7.0"
    monkeypatch.setenv("LABKIT_ANTREA_VERSION", "v2.6.3")
    assert kc.antrea_version(None, pins) == "v2.6.3"
    assert kc.antrea_version("v2.5.0", pins) == "v2.5.0"
    with pytest.raises(ValueError, match="release tag"):
        kc.antrea_version("latest", pins)


def test_the_version_file_is_not_a_lab_profile():
    from labkit.model.profile import available_profiles

    assert not any(p.startswith("kind-") for p in available_profiles())


ANTREA_YML_EXCERPT = """
      initContainers:
        - name: install-cni
          image: "antrea/antrea-agent-ubuntu:v2.7.0"
      containers:
        - name: antrea-agent
          image: "antrea/antrea-agent-ubuntu:v2.7.0"
        - name: antrea-ovs
          image: "antrea/antrea-agent-ubuntu:v2.7.0"
---
      containers:
        - name: antrea-controller
          image: "antrea/antrea-controller-ubuntu:v2.7.0"
"""


def test_manifest_images():
    assert kc.manifest_images(ANTREA_YML_EXCERPT) == ["antrea/antrea-agent-ubuntu:v2.7.0",
                                                      "antrea/antrea-controller-ubuntu:v2.7.0"]


def test_prefetch_downloads_pulls_and_saves(tmp_path):
    runner = FakeRunner()
    fetched = []

    def download(url, dest):
        fetched.append(url)
        dest.write_text(ANTREA_YML_EXCERPT)

    saved = kc.prefetch(tmp_path / "cache", "v2.7.0", shell=Shell(runner), download=download)
    assert fetched == ["https://github.com/antrea-io/antrea/releases/download/v2.7.0/antrea.yml"]
    d = tmp_path / "cache"
    assert runner.commands == [
        "docker pull antrea/antrea-agent-ubuntu:v2.7.0",
        f"docker save -o {d}/antrea_antrea-agent-ubuntu_v2.7.0.tar antrea/antrea-agent-ubuntu:v2.7.0",
        "docker pull antrea/antrea-controller-ubuntu:v2.7.0",
        f"docker save -o {d}/antrea_antrea-controller-ubuntu_v2.7.0.tar antrea/antrea-controller-ubuntu:v2.7.0",
        "docker pull registry.k8s.io/e2e-test-images/agnhost:2.53",
        f"docker save -o {d}/registry.k8s.io_e2e-test-images_agnhost_2.53.tar "
        "registry.k8s.io/e2e-test-images/agnhost:2.53",
    ]
    index = json.loads((d / "index.json").read_text())
    assert index["version"] == "v2.7.0" and index["manifest"] == "antrea-v2.7.0.yml"
    again = kc.Prefetched.load(d)
    assert again.manifest == saved.manifest and set(again.images) == set(saved.images)


def test_kind_cluster_command_lines(tmp_path):
    runner = FakeRunner([("kind get clusters", RawResult(0, "other\nlabkit-lab\n")),
                         ("docker image inspect registry.k8s.io", RawResult(1, "", "Error: No such image"))])
    c = kc.KindCluster("labkit-lab", tmp_path, Shell(runner))
    assert c.exists()
    c.create(kc.render_kind_config(2))
    c.load_images(["antrea/antrea-agent-ubuntu:v2.7.0", "registry.k8s.io/e2e-test-images/agnhost:2.53"])
    c.delete()
    k = tmp_path / "kubeconfig"
    assert runner.commands == [
        "kind get clusters",
        f"kind create cluster --name labkit-lab --config {tmp_path}/kind-config.yaml --kubeconfig {k}",
        "docker image inspect antrea/antrea-agent-ubuntu:v2.7.0",
        "kind load docker-image antrea/antrea-agent-ubuntu:v2.7.0 --name labkit-lab",
        "docker image inspect registry.k8s.io/e2e-test-images/agnhost:2.53",  # absent: the Nodes pull it
        f"kind delete cluster --name labkit-lab --kubeconfig {k}",
    ]
    import yaml

    assert yaml.safe_load((tmp_path / "kind-config.yaml").read_text()) == GOLDEN_KIND_CONFIG


def test_load_images_prefers_the_prefetched_archive(tmp_path):
    tar = tmp_path / "agnhost.tar"
    tar.write_bytes(b"")
    saved = kc.Prefetched(tmp_path, "v2.7.0", tmp_path / "antrea.yml", {"agnhost:2.53": tar})
    runner = FakeRunner()
    kc.KindCluster("labkit-lab", tmp_path, Shell(runner)).load_images(["agnhost:2.53"], saved)
    assert runner.commands == [f"kind load image-archive {tar} --name labkit-lab"]


def test_install_antrea_is_the_documented_kubectl_apply():
    runner = FakeRunner()
    kubectl = ["kubectl", "--kubeconfig", "/s/kubeconfig"]
    kc.install_antrea(Shell(runner), kubectl, kc.manifest_url("v2.7.0"))
    assert runner.commands == ["kubectl --kubeconfig /s/kubeconfig apply -f "
                               "https://github.com/antrea-io/antrea/releases/download/v2.7.0/antrea.yml"]


def test_wait_antrea_reads_the_rollouts_as_kubectl_rollout_status(apiserver):
    kc.wait_antrea(apiserver.kube, timeout_s=5)
    assert [p for m, p, *_ in apiserver.requests] == [
        "/apis/apps/v1/namespaces/kube-system/deployments/antrea-controller",
        "/apis/apps/v1/namespaces/kube-system/daemonsets/antrea-agent"]


def test_wait_antrea_failure_says_how_to_fix(apiserver):
    ds = apiserver.objects["/apis/apps/v1/namespaces/kube-system/daemonsets/antrea-agent"]
    ds["status"].update(numberAvailable=0, numberReady=0)  # agents stuck in Init (no openvswitch module)
    with pytest.raises(CommandError) as err:
        kc.wait_antrea(apiserver.kube, timeout_s=0.05)
    assert "daemonset/antrea-agent" in str(err.value) and "0 of 3 updated pods are available" in str(err.value)
    assert "modprobe openvswitch" in str(err.value)


def test_sweep_deletes_only_labkit_clusters():
    runner = FakeRunner([("kind get clusters", RawResult(0, "kind\nlabkit-a\nlabkit-b\n"))])
    assert kc.sweep(Shell(runner)) == ["labkit-a", "labkit-b"]
    assert runner.commands[1:] == ["kind delete cluster --name labkit-a", "kind delete cluster --name labkit-b"]


def test_progress_events_estimate_what_remains():
    events = []
    p = kc.Progress(events.append, kc.START_STAGES)
    p("create-cluster", "kind create cluster")
    p("wait-pods")
    assert (events[0].step, events[0].steps) == (2, 7)
    assert events[0].remaining_s == sum(s.estimate_s for s in kc.START_STAGES[1:])
    assert events[1].remaining_s == kc.START_STAGES[-1].estimate_s
    assert str(events[0]).startswith("[2/7] create-cluster: kind create cluster (about")
