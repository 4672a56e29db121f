"""Encryption on kind: the antrea-agent.conf rewrite, the IPsec Secret, the agent restart, and the
capture's docker command lines, through the backend with the FakeApiServer and a FakeRunner.

The pcap the FakeRunner "copies out" is built by labkit's sim (labkit.encryption.wire) for the
same Nodes and pods: it stands for what tcpdump on the kind Node would write. Real captures on
real WireGuard/IPsec run only in the kind-e2e workflow (and need the host's wireguard module).
"""

import base64

import pytest
import yaml

from labkit import Lab
from labkit.backends.kind import KindBackend
from labkit.backends.kind.encryption import capture_filter, current_mode, ipsec_secret, set_mode
from labkit.backends.kind.tools import RawResult
from labkit.encryption.wire import PodEndpoint, build_capture
from labkit.errors import BackendUnavailable

from .apiserver import antrea_controller, kubelet
from .conftest import FIXTURES
from .test_kind_backend import IPS, cluster_runner, probe_answers

AGENT_CONF = (FIXTURES / "antrea-agent.conf").read_text()
NODE_IPS = {"labkit-lab-control-plane": "172.18.0.2", "labkit-lab-worker": "172.18.0.3",
            "labkit-lab-worker2": "172.18.0.4"}


def test_set_mode_edits_one_line_and_keeps_the_rest():
    out = set_mode(AGENT_CONF, "wireGuard")
    assert current_mode(AGENT_CONF) == "none" and current_mode(out) == "wireGuard"
    assert out.replace("trafficEncryptionMode: wireGuard", 'trafficEncryptionMode: "none"') == AGENT_CONF
    assert yaml.safe_load(out)["trafficEncryptionMode"] == "wireGuard"
    assert "# none (default) | ipsec | wireGuard" in out  # comments stay
    commented = set_mode("ovsBridge: br-int\n#trafficEncryptionMode: none\n", "ipsec")
    assert commented == "ovsBridge: br-int\ntrafficEncryptionMode: ipsec\n"
    assert set_mode("ovsBridge: br-int\n", "none") == "ovsBridge: br-int\ntrafficEncryptionMode: none\n"
    with pytest.raises(ValueError, match="did you mean 'wireGuard'"):
        set_mode(AGENT_CONF, "wireguard")


def test_ipsec_secret_replaces_the_default_psk():
    one, two = ipsec_secret(), ipsec_secret()
    assert one["metadata"] == {"name": "antrea-ipsec", "namespace": "kube-system"} and one["type"] == "Opaque"
    psk = base64.b64decode(one["data"]["psk"]).decode()
    assert psk != "changeme" and len(psk) >= 32 and one["data"] != two["data"]


@pytest.fixture
def started(tmp_path, sys_root, tools_on_path, apiserver, monkeypatch):
    monkeypatch.delenv("LABKIT_ANTREA_VERSION", raising=False)
    api = apiserver
    api.on_apply += [kubelet(IPS), antrea_controller]
    api.exec_handler = probe_answers
    api.put("/api/v1/namespaces/kube-system/configmaps/antrea-config", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "antrea-config", "namespace": "kube-system"},
        "data": {"antrea-agent.conf": AGENT_CONF}})
    for node, ip in NODE_IPS.items():  # Node status as the kubelet reports it
        api.put(f"/api/v1/nodes/{node}", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node},
                                         "status": {"addresses": [{"type": "InternalIP", "address": ip},
                                                                  {"type": "Hostname", "address": node}]}})
    runner = cluster_runner()

    def antrea_yml(argv, _):  # kubectl apply of antrea.yml / antrea-ipsec.yml resets antrea-agent.conf
        mode = "ipsec" if argv[-1].endswith("antrea-ipsec.yml") else "none"
        api.put("/api/v1/namespaces/kube-system/configmaps/antrea-config", {
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "antrea-config", "namespace": "kube-system"},
            "data": {"antrea-agent.conf": set_mode(AGENT_CONF, mode)}})
        return RawResult(0, "configmap/antrea-config configured\n")

    runner.on("antrea.yml", antrea_yml).on("antrea-ipsec.yml", antrea_yml)
    lab = Lab(backend="sim", profile="workshop", start=False, state_dir=tmp_path / "state")
    backend = KindBackend("lab", lab.state_dir, runner=runner, sys_root=sys_root, kube=api.kube,
                          prefetch_dir=tmp_path / "none")
    backend.start(lab.state, lab.policy_set)
    return lab, backend, runner, api


def _agent_conf(api) -> str:
    return api.objects["/api/v1/namespaces/kube-system/configmaps/antrea-config"]["data"]["antrea-agent.conf"]


def test_wireguard_needs_the_host_module(started):
    lab, backend, runner, api = started
    runner.on("modprobe -n wireguard", RawResult(1, "", "modprobe: FATAL: Module wireguard not found"))
    with pytest.raises(BackendUnavailable, match="wireguard.*fix: sudo modprobe wireguard"):
        backend.set_encryption(lab.state, "wireGuard")
    assert current_mode(_agent_conf(api)) == "none"  # nothing was changed


def test_wireguard_rewrites_the_configmap_and_restarts_the_agents(started, sys_root):
    lab, backend, runner, api = started
    (sys_root / "sys" / "module" / "wireguard").mkdir()
    before = len(api.requests)
    backend.set_encryption(lab.state, "wireGuard")
    assert current_mode(_agent_conf(api)) == "wireGuard"
    calls = [(m, p, ct) for m, p, _, _, ct in api.requests[before:]]
    ds = "/apis/apps/v1/namespaces/kube-system/daemonsets/antrea-agent"
    assert calls[-3:] == [("PATCH", "/api/v1/namespaces/kube-system/configmaps/antrea-config",
                           "application/apply-patch+yaml"),
                          ("PATCH", ds, "application/strategic-merge-patch+json"), ("GET", ds, "application/json")]
    restarted = api.objects[ds]["spec"]["template"]["metadata"]["annotations"]
    assert "kubectl.kubernetes.io/restartedAt" in restarted  # what kubectl rollout restart sets
    assert backend.encryption == "wireGuard"


def test_ipsec_applies_antrea_ipsec_yml_with_a_new_psk_and_back(started):
    lab, backend, runner, api = started
    backend.set_encryption(lab.state, "ipsec")
    assert any(c.endswith("apply -f https://github.com/antrea-io/antrea/releases/download/v2.7.0/antrea-ipsec.yml")
               for c in runner.commands)
    secret = api.objects["/api/v1/namespaces/kube-system/secrets/antrea-ipsec"]
    assert base64.b64decode(secret["data"]["psk"]) != b"changeme"
    assert current_mode(_agent_conf(api)) == "ipsec"
    backend.set_encryption(lab.state, "none")
    assert runner.commands[-1].endswith("apply -f https://github.com/antrea-io/antrea/releases/download/v2.7.0/"
                                        "antrea.yml")  # the agents without the strongSwan container
    assert current_mode(_agent_conf(api)) == "none"


def test_capture_runs_tcpdump_in_the_source_node_during_one_request(started, tmp_path):
    lab, backend, runner, api = started
    src_node, dst_node = (api.objects[f"/api/v1/namespaces/{k.split('/')[0]}/pods/{k.split('/')[1]}"]["spec"][
        "nodeName"] for k in ("x/a", "x/b"))
    assert src_node != dst_node
    a = PodEndpoint("x/a", IPS["x/a"], src_node, NODE_IPS[src_node])
    b = PodEndpoint("x/b", IPS["x/b"], dst_node, NODE_IPS[dst_node])
    wire = build_capture("none", a, b)  # stands for what tcpdump writes on the Node's eth0
    state = {"tcpdump": 2}  # running for two polls, then the timeout ends it

    def running(argv, _):
        state["tcpdump"] -= 1
        return RawResult(0 if state["tcpdump"] >= 0 else 1)

    def docker_cp(argv, _):
        wire.write_pcap(argv[-1])
        return RawResult(0)

    runner.on("pgrep -f", running).on("docker cp", docker_cp)
    cap = backend.capture(lab.state, "x/a", "x/b", "none")
    docker = [c for c in runner.commands if c.startswith("docker ") and "image inspect" not in c
              and not c.startswith(("docker version", "docker info"))]
    path = docker[1].split(" -w ")[1].split(" ")[0]
    assert docker[0] == f"docker exec {src_node} sh -c 'command -v tcpdump'"
    assert docker[1] == (f"docker exec -d {src_node} timeout -s INT 8 tcpdump -i eth0 -U -n -s 0 -w {path} "
                         f"'{capture_filter(a.node_ip, b.node_ip)}'")
    assert docker[-2].startswith(f"docker cp {src_node}:{path} ") and docker[-1] == f"docker exec {src_node} rm -f {path}"
    request = [q for m, p, q, *_ in api.requests if m == "EXEC"][-1]
    assert request["command"] == ["/agnhost", "connect", f"{IPS['x/b']}:80", "--timeout=5s", "--protocol=tcp"]
    assert (cap.mode, cap.emulated, cap.metadata["captured_on"]) == ("none", False, src_node)
    assert [f.data for f in cap.frames] == [f.data for f in wire.frames]
    assert [f.direction for f in cap.frames] == [f.direction if f.direction != "handshake" else "request"
                                                 for f in wire.frames]
    assert cap.visibility()["pod IPs"] and cap.visibility()["HTTP text"]  # no encryption: readable


def test_capture_says_how_to_get_tcpdump(started):
    lab, backend, runner, api = started
    runner.on("command -v tcpdump", RawResult(1))
    with pytest.raises(Exception, match="apt-get install -y tcpdump"):
        backend.capture(lab.state, "x/a", "x/b", "none")


def test_k8s_mode_applies_the_manifests_of_the_antrea_the_cluster_runs(tmp_path, sys_root, tools_on_path, apiserver):
    """On a cluster labkit did not create, labkit never applies its pinned release over the one running."""
    api = apiserver
    ds = api.objects["/apis/apps/v1/namespaces/kube-system/daemonsets/antrea-agent"]
    for c in ds["spec"]["template"]["spec"]["containers"]:
        c["image"] = "antrea/antrea-agent-ubuntu:v2.6.3"
    api.put("/api/v1/namespaces/kube-system/configmaps/antrea-config", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "antrea-config", "namespace": "kube-system"},
        "data": {"antrea-agent.conf": AGENT_CONF}})
    runner = cluster_runner()
    backend = KindBackend("lab", tmp_path / "s", mode="k8s", context="c", runner=runner, sys_root=sys_root,
                          kube=api.kube)
    lab = Lab(backend="sim", profile="workshop", start=False, state_dir=tmp_path / "l")
    backend.set_encryption(lab.state, "ipsec")
    assert runner.commands[-1] == ("kubectl --context c apply -f "
                                   "https://github.com/antrea-io/antrea/releases/download/v2.6.3/antrea-ipsec.yml")
    ds = api.objects["/apis/apps/v1/namespaces/kube-system/daemonsets/antrea-agent"]  # the restart replaced it
    for c in ds["spec"]["template"]["spec"]["containers"]:
        c["image"] = "my-registry/antrea-agent:latest"
    with pytest.raises(Exception, match="cannot tell which Antrea release.*my-registry/antrea-agent:latest"):
        backend.set_encryption(lab.state, "none")
