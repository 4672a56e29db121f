"""End-to-end tests of the kind backend on a real kind cluster with real Antrea.

They need a Docker engine, kind and the host's openvswitch module; where any is missing they
skip, saying which (this development machine has no Docker engine, so they have never run here).
Each compares whole matrices, as Antrea's and Kubernetes' e2e tests do: what the engine expects
against what real probes measure.
"""

from __future__ import annotations

import pytest

from labkit import Lab
from labkit.backends.kind.tools import preflight

_REPORT = preflight("kind")
pytestmark = [
    pytest.mark.docker,
    pytest.mark.slow,
    pytest.mark.skipif(not _REPORT.check("docker").ok, reason="needs a Docker engine; this machine has none"),
    pytest.mark.skipif(not _REPORT.ok, reason="kind backend preflight failed:\n" + str(_REPORT)),
]

DENY_Y = {"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy", "metadata": {"name": "deny-into-y"},
          "spec": {"priority": 1, "tier": "securityops",
                   "appliedTo": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}],
                   "ingress": [{"action": "Drop", "from": [{"namespaceSelector": {"matchLabels": {"ns": "x"}}}]},
                               {"action": "Reject", "from": [{"namespaceSelector": {"matchLabels": {"ns": "z"}}}]}]}}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with Lab(backend="kind", profile="workshop", name="e2e", state_dir=tmp_path_factory.mktemp("kind")) as lab:
        yield lab


@pytest.mark.parametrize("protocol,port", [("TCP", 80), ("UDP", 80), ("SCTP", 81)])
def test_observed_equals_expected(lab, protocol, port):
    lab.apply(DENY_Y)
    try:
        observed = lab.reachability(port=port, protocol=protocol)
        expected = lab.expected_reachability(port=port, protocol=protocol)
        assert observed.kind == "observed" and observed.diff(expected) == [], str(observed)
    finally:
        lab.delete("acnp/deny-into-y")
    assert lab.reachability(port=port, protocol=protocol).counts()["drop"] == 0


def test_traceflow_shows_the_drop(lab):
    lab.apply(DENY_Y)
    try:
        from labkit.policy.probe import Probe

        tf = lab.backend.traceflow(lab.state, "x/a", "y/a", Probe("TCP", 80))
        assert tf.phase == "Succeeded" and tf.final_action == "Dropped"
        assert tf.observations[-1][1].network_policy == "AntreaClusterNetworkPolicy:deny-into-y"
    finally:
        lab.delete("acnp/deny-into-y")


def test_explain_comes_from_antrea(lab):
    from labkit.policy.probe import Probe

    ex = lab.backend.explain(lab.state, lab.policy_set, "x/a", "y/a", Probe("TCP", 80))
    assert ex.label in ("antrea-controller", "predicted")
