"""Golden tests: the flows compiled for a few policies, as readable ovs-ofctl text.

Regenerate after an intended change with ``LABKIT_UPDATE_GOLDEN=1 pytest tests/unit/datapath`` and
review the diff like code: every changed line is a changed flow on br-int.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from labkit import Lab
from labkit.backends.ovs.topology import build_topology, load_topology
from labkit.datapath import compile_flows, render_flows
from labkit.datapath.pipeline import RULE_TABLES, METRIC_TABLES

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "ovs"
POLICY_TABLES = set(RULE_TABLES.values()) | set(METRIC_TABLES.values())

CASES = {
    "k8s-isolation": """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-from-y, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress, Egress]
  ingress:
  - from: [{namespaceSelector: {matchLabels: {ns: y}}}]
    ports: [{protocol: TCP, port: 80}]
  egress:
  - to: [{ipBlock: {cidr: 10.244.0.0/16, except: [10.244.2.0/24]}}]
""",
    "acnp-tiers-actions": """
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: sec}
spec:
  priority: 1
  tier: securityops
  appliedTo: [{namespaceSelector: {matchLabels: {ns: x}}}]
  ingress:
  - {action: Reject, name: reject-y, from: [{namespaceSelector: {matchLabels: {ns: y}}}]}
  - {action: Pass, name: pass-z, from: [{namespaceSelector: {matchLabels: {ns: z}}}]}
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: app}
spec:
  priority: 5
  appliedTo: [{podSelector: {matchLabels: {pod: a}}}]
  egress:
  - {action: Allow, name: to-c, to: [{podSelector: {matchLabels: {pod: c}}}]}
  - {action: Drop, name: rest}
""",
    "ports-and-icmp": """
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: ports}
spec:
  priority: 3
  appliedTo: [{namespaceSelector: {matchLabels: {ns: x}}}]
  ingress:
  - action: Drop
    name: named-and-ranges
    ports:
    - {protocol: TCP, port: serve-81-tcp}
    - {protocol: UDP, port: 1000, endPort: 2000}
    - {protocol: TCP, port: 80, sourcePort: 32768, sourceEndPort: 65535}
  - action: Reject
    name: no-ping
    protocols: [{icmp: {icmpType: 8, icmpCode: 0}}]
""",
    "baseline": """
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: isolate-ns}
spec:
  priority: 10
  tier: baseline
  appliedTo: [{namespaceSelector: {}}]
  ingress:
  - {action: Allow, name: same-ns, from: [{namespaces: {match: Self}}]}
  - {action: Drop, name: others, from: [{namespaceSelector: {}}]}
""",
}


def compiled_text(policy: str | None, node: str = "kind-worker", policy_only: bool = True) -> str:
    lab = Lab(backend="sim", profile="workshop")
    if policy:
        lab.apply(policy)
    topology = build_topology(load_topology(), lab.state)
    flows = compile_flows(lab.policy_set, topology, node)
    if policy_only:
        flows = [f for f in flows if f.table in POLICY_TABLES and f.priority not in (0, 64990)]
    return render_flows(flows)


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / f"{name}.flows"
    if os.environ.get("LABKIT_UPDATE_GOLDEN") or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if not os.environ.get("LABKIT_UPDATE_GOLDEN"):
            pytest.fail(f"golden file {path} did not exist; written now, review and commit it")
    assert text == path.read_text(), (f"flows for {name} changed; if intended, regenerate with "
                                      "LABKIT_UPDATE_GOLDEN=1 and review the diff")


@pytest.mark.parametrize("name", sorted(CASES))
def test_policy_flows_golden(name):
    check_golden(name, compiled_text(CASES[name]))


def test_whole_pipeline_golden():
    """Every flow of one node with no policy: forwarding, conntrack, table-miss behaviour."""
    check_golden("pipeline-kind-worker", compiled_text(None, policy_only=False))
