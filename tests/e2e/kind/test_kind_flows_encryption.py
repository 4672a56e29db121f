"""Flows and encryption on a real kind cluster with real Antrea (run by .github/workflows/kind-e2e.yml).

* Flows: Antrea's Flow Exporter + Flow Aggregator (flow-aggregator.yml of the pinned release)
  sending IPFIX to labkit's collector on the Docker network ``kind``'s gateway
  (``LABKIT_KIND_FLOW_COLLECTOR=kind-gateway``, the explicit opt-in); the records must have the
  sim's schema and the verdicts the engine predicts.
* Encryption: ``trafficEncryptionMode`` switched in the antrea-agent ConfigMap; a tcpdump capture
  on the source Node shows the pod's answer in clear with ``none`` and not with ``wireGuard``
  (needs the host's wireguard module; GitHub's runners have it). IPsec runs only when
  ``LABKIT_E2E_IPSEC=true``: Antrea's own kind CI does not exercise IPsec on kind.

They skip (or fail with LABKIT_REQUIRE_KIND=true) where the kind backend's pre-flight fails, as
the other tests here; this development machine has no Docker engine, so they have never run here.
"""

from __future__ import annotations

import os

import pytest

from labkit.flows.records import FLOW_COLUMNS
from labkit.flows.traffic import TrafficProfile, TrafficRule

pytestmark = [pytest.mark.docker, pytest.mark.slow]
MODE = "k8s" if os.environ.get("LABKIT_E2E_KUBE_CONTEXT") else "kind"  # as conftest.py decides

DENY_Y_FROM_X = {"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy",
                 "metadata": {"name": "deny-x-to-y"},
                 "spec": {"priority": 1, "appliedTo": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}],
                          "ingress": [{"action": "Drop", "from": [{"namespaceSelector": {"matchLabels": {"ns": "x"}}}]}]}}
PROFILE = TrafficProfile("e2e", (TrafficRule("x-to-y", "x/*", "y/*", 80, connections_per_minute=1),
                                 TrafficRule("y-to-z", "y/*", "z/*", 80, connections_per_minute=1)))


@pytest.fixture
def lab(kind_lab, reset_lab):
    reset_lab(kind_lab)
    return kind_lab


def test_flows_come_from_antreas_flow_aggregator(lab):
    if not (lab.backend.flow_collector or os.environ.get("LABKIT_KIND_FLOW_COLLECTOR")):
        pytest.skip("set LABKIT_KIND_FLOW_COLLECTOR=kind-gateway (labkit's collector on the Docker network gateway)")
    lab.apply(DENY_Y_FROM_X)
    try:
        run = lab.generate_traffic(PROFILE, duration_s=60, seed=1)
        flows = lab.flows(run)
    finally:
        lab.delete("acnp/deny-x-to-y")
    assert set(FLOW_COLUMNS) <= set(flows.columns)  # the sim's schema
    assert set(run.frame()["exporter"]) == {"flow-aggregator"}
    by_pair = {(r.sourcePodNamespace, r.destinationPodNamespace): r.verdict for r in flows.itertuples()}
    assert by_pair.get(("x", "y")) == "drop" and by_pair.get(("y", "z")) == "allow", by_pair


@pytest.mark.skipif(MODE != "kind", reason="capturing on the underlay needs labkit's own kind Nodes (kind mode)")
def test_wireguard_hides_what_none_shows(lab):
    src, dst = "x/a", "x/b"  # on different Nodes in the workshop profile
    # kindest/node images may not ship tcpdump; the capture's error says to install it like this.
    import subprocess

    from labkit.backends.kind.cluster import kind_node_names

    for node in kind_node_names(lab.backend.cluster.name, 2):
        subprocess.run(["docker", "exec", node, "sh", "-c",
                        "command -v tcpdump || (apt-get update && apt-get install -y tcpdump)"], check=True,
                       timeout=300)
    lab.set_encryption("none")
    clear = lab.capture(src, dst)
    assert clear.frames and not clear.emulated and clear.visibility()["pod IPs"]  # Geneve: inner IPs readable
    lab.set_encryption("wireGuard")
    try:
        sealed = lab.capture(src, dst)
        assert sealed.frames and not sealed.visibility()["pod IPs"]
    finally:
        lab.set_encryption("none")
    assert lab.reachability(port=80).counts()["drop"] == 0  # the agents came back


@pytest.mark.skipif(os.environ.get("LABKIT_E2E_IPSEC") != "true",
                    reason="IPsec on kind is opt-in (LABKIT_E2E_IPSEC=true): Antrea's own kind CI does not run it")
def test_ipsec_round_trip(lab):
    lab.set_encryption("ipsec")
    try:
        assert lab.reachability(port=80).counts()["drop"] == 0
    finally:
        lab.set_encryption("none")


def _download(url: str) -> str:
    """The pinned release file, fetched only where reaching the internet is the point.

    The default suite never leaves loopback and the lab's own namespaces, so it does not even
    look github.com up; the kind workflow (LABKIT_REQUIRE_KIND=true) or LABKIT_E2E_NETWORK=true
    opts in."""
    import urllib.request

    required = os.environ.get("LABKIT_REQUIRE_KIND") == "true"
    if not (required or os.environ.get("LABKIT_E2E_NETWORK") == "true"):
        pytest.skip(f"reads {url} from the internet: opt in with LABKIT_E2E_NETWORK=true "
                    "(the kind workflow does, with LABKIT_REQUIRE_KIND=true)")
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.read().decode()
    except OSError as exc:
        if required:
            pytest.fail(f"cannot download {url}: {exc}")
        pytest.skip(f"cannot download {url} (no internet here): {exc}")


def test_pinned_release_manifests_have_the_keys_labkit_edits():
    """The unit tests edit excerpts of the documented ConfigMaps; this checks the pinned release's
    real files carry the same keys (network only, no Docker)."""
    import yaml

    from labkit.backends.kind.cluster import antrea_version, manifest_url
    from labkit.backends.kind.encryption import IPSEC_MANIFEST, current_mode
    from labkit.backends.kind.flows import AGGREGATOR_MANIFEST, FLOW_AGGREGATOR_ADDR

    version = antrea_version()
    docs = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(_download(manifest_url(version))) if d}
    agent = yaml.safe_load(docs[("ConfigMap", "antrea-config")]["data"]["antrea-agent.conf"])
    assert agent["flowExporter"]["flowCollectorAddr"] == FLOW_AGGREGATOR_ADDR
    assert {"enable", "flowPollInterval", "activeFlowExportTimeout", "idleFlowExportTimeout"} <= set(agent["flowExporter"])
    assert current_mode(docs[("ConfigMap", "antrea-config")]["data"]["antrea-agent.conf"]) == "none"
    fa = {(d["kind"], d["metadata"]["name"]): d
          for d in yaml.safe_load_all(_download(AGGREGATOR_MANIFEST.format(version=version))) if d}
    conf = yaml.safe_load(fa[("ConfigMap", "flow-aggregator-configmap")]["data"]["flow-aggregator.conf"])
    assert {"enable", "address", "recordFormat"} <= set(conf["flowCollector"]) and conf.get("mode", "Aggregate") == "Aggregate"
    ipsec = {(d["kind"], d["metadata"]["name"]): d
             for d in yaml.safe_load_all(_download(IPSEC_MANIFEST.format(version=version))) if d}
    assert "psk" in (ipsec[("Secret", "antrea-ipsec")].get("stringData") or ipsec[("Secret", "antrea-ipsec")]["data"])
    assert current_mode(ipsec[("ConfigMap", "antrea-config")]["data"]["antrea-agent.conf"]) == "ipsec"
