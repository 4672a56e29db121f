"""End-to-end tests of the kind backend on a real kind cluster with real Antrea.

They need a Docker engine, kind and the host's openvswitch module (or an existing Antrea cluster:
LABKIT_E2E_KUBE_CONTEXT); where any is missing they skip, saying which (conftest.py; this
development machine has no Docker engine, so they have never run here). Each compares whole
matrices, as Antrea's and Kubernetes' e2e tests do: what the engine expects against what real
probes measure.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.slow]

DENY_Y = {"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy", "metadata": {"name": "deny-into-y"},
          "spec": {"priority": 1, "tier": "securityops",
                   "appliedTo": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}],
                   "ingress": [{"action": "Drop", "from": [{"namespaceSelector": {"matchLabels": {"ns": "x"}}}]},
                               {"action": "Reject", "from": [{"namespaceSelector": {"matchLabels": {"ns": "z"}}}]}]}}


@pytest.fixture
def lab(kind_lab, reset_lab):
    reset_lab(kind_lab)
    return kind_lab


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


def test_nsx_policy_is_enforced_by_real_antrea(lab, tmp_path):
    """Issue 8: "the NSX adapter against the real cluster". The adapter renders NSX tiers
    (priorities 0-4), ClusterGroups and an ACNP exactly as on sim; real probes must see the drop."""
    from labkit.nsx import start_nsx

    groups = "/policy/api/v1/infra/domains/default/groups"
    with start_nsx(lab, tmp_path / "nsx", key_type="ec", register=True) as (nsx, adapter):
        admin = nsx.client()
        for ns in "xz":
            admin.patch(f"{groups}/ns-{ns}", {"group_type": ["ANTREA"], "expression": [
                {"resource_type": "Condition", "member_type": "Namespace", "key": "Name", "operator": "EQUALS",
                 "value": ns}]})
        admin.patch("/policy/api/v1/infra/domains/default/security-policies/z-not-to-x", {
            "category": "Application", "scope": [adapter.ccp_path], "rules": [
                {"id": "drop-z", "source_groups": ["/infra/domains/default/groups/ns-z"],
                 "scope": ["/infra/domains/default/groups/ns-x"], "action": "DROP", "direction": "IN"}]})
        report = adapter.sync()
        assert not report.errors, report.errors
        observed = lab.reachability(port=80, sources=["z/a", "y/a"], destinations=["x/a"])
        assert observed.kind == "observed"
        assert (observed["z/a", "x/a"], observed["y/a", "x/a"]) == ("drop", "allow")
        adapter.deregister()
    assert lab.reachability(port=80, sources=["z/a"], destinations=["x/a"])["z/a", "x/a"] == "allow"
