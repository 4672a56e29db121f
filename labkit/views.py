"""kubectl/antctl-like tables of a lab's objects, as pandas DataFrames.

Columns follow what ``kubectl get`` prints for each kind (Antrea's printer columns for ACNP/ANNP:
Tier, Priority, Desired Nodes, Current Nodes), in snake_case, plus the policy status phase and
Realizable condition (``kubectl get acnp -o yaml`` shows them under ``status``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .model.cluster import ClusterState
from .model.kinds import KIND_ALIASES
from .model.objects import ACNP, BASELINE_TIER_NAME
from .policy.compiler import antrea_policy_ref, policy_ref_string
from .policy.groups import Selection
from .policy.status import policy_status

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Collection

    import pandas as pd

    from .policy.compiler import PolicySet


def _frame(rows: list[dict], columns: list[str]) -> "pd.DataFrame":
    import pandas as pd

    return pd.DataFrame(rows, columns=columns)


def labels_text(labels: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "<none>"


def pods(state: ClusterState) -> "pd.DataFrame":
    rows = [{"namespace": p.namespace, "name": p.name, "node": p.node_name, "ip": p.pod_ip,
             "labels": dict(p.labels)} for p in state.pods]
    return _frame(rows, ["namespace", "name", "node", "ip", "labels"])


def nodes(state: ClusterState) -> "pd.DataFrame":
    counts: dict[str, int] = {}
    for p in state.pods:
        counts[p.node_name] = counts.get(p.node_name, 0) + 1
    rows = [{"name": n.name, "role": "control-plane" if n.is_control_plane else "worker", "pod_cidr": n.pod_cidr,
             "internal_ip": n.internal_ip, "pods": counts.get(n.name, 0)} for n in state.nodes]
    return _frame(rows, ["name", "role", "pod_cidr", "internal_ip", "pods"])


def namespaces(state: ClusterState) -> "pd.DataFrame":
    rows = [{"name": n.name, "labels": dict(n.labels)} for n in state.namespaces]
    return _frame(rows, ["name", "labels"])


def services(state: ClusterState) -> "pd.DataFrame":
    sel = Selection(state)
    rows = []
    for s in state.services:
        ports = ",".join(f"{p.port}/{p.protocol}" for p in s.ports)
        endpoints = sorted(sel.service_pods(s.namespace, s.name))
        rows.append({"namespace": s.namespace, "name": s.name, "type": s.type, "cluster_ip": s.cluster_ip,
                     "ports": ports, "selector": dict(s.selector or {}), "endpoints": endpoints})
    return _frame(rows, ["namespace", "name", "type", "cluster_ip", "ports", "selector", "endpoints"])


def _nodes_of(state: ClusterState, pod_keys: set[str]) -> int:
    return len({p.node_name for p in state.pods if p.key in pod_keys})


def policies(state: ClusterState, policy_set: "PolicySet",
             realized_nodes: "Collection[str] | None" = None) -> "pd.DataFrame":
    """All policies in effective order: Antrea tiers, then K8s NetworkPolicies, then baseline.

    Antrea-native policies carry the status antrea-controller writes (:func:`policy_status`):
    ``phase``, ``desired_nodes`` / ``current_nodes`` (the CRDs' printer columns), and the
    ``Realizable`` condition (``realizable``, ``reason``, ``message``).
    """
    rows = []
    for p in state.antrea_policies:
        tier = state.tier(p.tier)
        ref = antrea_policy_ref(p)
        pods_ = policy_set.applied_to.get(ref, frozenset())
        status = policy_status(state, policy_set, p.ref, realized_nodes)
        realizable = status.realizable if status is not None else None
        if status is None or realizable is None:
            continue  # not an Antrea-native policy (cannot happen for state.antrea_policies)
        rows.append({"type": "ACNP" if p.kind == ACNP else "ANNP", "namespace": p.namespace, "name": p.name,
                     "tier": p.tier, "tier_priority": tier.priority if tier else None, "priority": p.priority,
                     "rules": len(p.ingress) + len(p.egress), "applied_to_pods": len(pods_),
                     "desired_nodes": status.desired_nodes_realized, "current_nodes": status.current_nodes_realized,
                     "phase": status.phase, "realizable": realizable.status,
                     "reason": realizable.reason, "message": realizable.message,
                     "_order": (0 if p.tier != BASELINE_TIER_NAME else 2, tier.priority if tier else 0, p.priority)})
    for np_ in state.k8s_policies:
        pods_ = policy_set.applied_to.get(policy_ref_string("K8sNetworkPolicy", np_.namespace, np_.name), frozenset())
        nodes_ = _nodes_of(state, set(pods_))
        # Antrea writes no status on K8s NetworkPolicies; the node counts are labkit's (its span).
        rows.append({"type": "K8sNP", "namespace": np_.namespace, "name": np_.name, "tier": "<NONE>",
                     "tier_priority": None, "priority": None, "rules": len(np_.ingress) + len(np_.egress),
                     "applied_to_pods": len(pods_), "desired_nodes": nodes_, "current_nodes": nodes_,
                     "phase": None, "realizable": None, "reason": "", "message": "", "_order": (1, 0, 0)})
    rows.sort(key=lambda r: r["_order"])
    for r in rows:
        del r["_order"]
    frame = _nullable_numbers(_frame(rows, POLICY_COLUMNS), ("tier_priority", "priority"))
    # Antrea writes no status on a K8s NetworkPolicy: its phase and Realizable are missing, shown
    # as <NA> as kubectl shows an absent column value, never as NaN.
    for column in ("phase", "realizable"):
        frame[column] = frame[column].astype("string")
    return frame


def _nullable_numbers(frame: "pd.DataFrame", columns: tuple[str, ...]) -> "pd.DataFrame":
    """Priorities as kubectl prints them: ``5``, not ``5.0`` (an ACNP's priority is a float64, and
    a column with a missing value turns ints into floats), missing as ``<NA>`` for K8s
    NetworkPolicies, which have none; a non-integral priority such as ``1.5`` stays one."""
    for column in columns:
        values = frame[column].dropna()
        integral = all(float(v).is_integer() for v in values)
        frame[column] = frame[column].astype("Int64" if integral else "Float64")
    return frame


POLICY_COLUMNS = ["type", "namespace", "name", "tier", "tier_priority", "priority", "rules", "applied_to_pods",
                  "desired_nodes", "current_nodes", "phase", "realizable", "reason", "message"]


def get(state: ClusterState, policy_set: "PolicySet", kind: str,
        realized_nodes: "Collection[str] | None" = None) -> "pd.DataFrame":
    alias = KIND_ALIASES.get(kind.lower())
    if alias is None:
        raise ValueError(f"unknown kind {kind!r}; try pods, nodes, ns, svc, deploy, netpol, acnp, annp, tiers, cg, grp")
    group, k = alias
    if k == "Pod":
        return pods(state)
    if k == "Node":
        return nodes(state)
    if k == "Namespace":
        return namespaces(state)
    if k == "Service":
        return services(state)
    if k == "Deployment":
        rows = [{"namespace": d.namespace, "name": d.name, "replicas": d.replicas,
                 "selector": str(d.selector)} for d in state.deployments]
        return _frame(rows, ["namespace", "name", "replicas", "selector"])
    if k == "Tier":
        rows = [{"name": t.name, "priority": t.priority, "description": t.description} for t in state.tiers]
        return _frame(rows, ["name", "priority", "description"])
    if k in ("ClusterGroup", "Group"):
        sel = Selection(state)
        rows = []
        for g in state.groups:
            if g.kind != k:
                continue
            members = sel.group_members(g.kind, g.namespace, g.name)
            computed, reason = sel.group_status(g)
            rows.append({"namespace": g.namespace, "name": g.name, "pods": sorted(members.pods),
                         "ip_blocks": [b.cidr for b in members.ip_blocks],
                         "members_computed": computed, "reason": reason})
        frame = _frame(rows, ["namespace", "name", "pods", "ip_blocks", "members_computed", "reason"])
        return frame.drop(columns=["namespace"]) if k == "ClusterGroup" else frame
    table = policies(state, policy_set, realized_nodes)
    if group == "networking.k8s.io":
        return table[table.type == "K8sNP"].drop(columns=["tier", "tier_priority", "priority", "phase", "realizable",
                                                          "reason", "message"]).reset_index(drop=True)
    if k == "ClusterNetworkPolicy":
        return table[table.type == "ACNP"].drop(columns=["namespace"]).reset_index(drop=True)
    return table[table.type == "ANNP"].reset_index(drop=True)
