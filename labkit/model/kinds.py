"""kubectl's names for kinds (``pods``, ``po``, ``netpol``, ``acnp`` ...) and ``kind/[ns/]name`` references."""

from __future__ import annotations

import re

from .objects import SHORT_KINDS, ObjectRef

CLUSTER_SCOPED_KINDS = ("Namespace", "Node", "ClusterNetworkPolicy", "Tier", "ClusterGroup")

# kubectl-style names (and short names) -> (group, kind)
KIND_ALIASES: dict[str, tuple[str, str]] = {}
for (_group, _kind), _short in SHORT_KINDS.items():
    KIND_ALIASES[_short] = (_group, _kind)
    if _kind != "NetworkPolicy":
        KIND_ALIASES[_kind.lower()] = (_group, _kind)
KIND_ALIASES.update({
    "po": ("", "Pod"), "pods": ("", "Pod"), "ns": ("", "Namespace"), "namespaces": ("", "Namespace"),
    "nodes": ("", "Node"), "no": ("", "Node"), "svc": ("", "Service"), "services": ("", "Service"),
    "deploy": ("apps", "Deployment"), "deployments": ("apps", "Deployment"),
    "networkpolicy": ("networking.k8s.io", "NetworkPolicy"), "networkpolicies": ("networking.k8s.io", "NetworkPolicy"),
    "clusternetworkpolicy": ("crd.antrea.io", "ClusterNetworkPolicy"), "tiers": ("crd.antrea.io", "Tier"),
    "tr": ("crd.antrea.io", "Tier"), "clustergroup": ("crd.antrea.io", "ClusterGroup"),
    "clustergroups": ("crd.antrea.io", "ClusterGroup"), "grp": ("crd.antrea.io", "Group"),
    "groups": ("crd.antrea.io", "Group"), "anp": ("crd.antrea.io", "NetworkPolicy"),
})
_REF_RE = re.compile(r"^(?P<kind>[a-z]+)/(?:(?P<ns>[a-z0-9][-a-z0-9]*)/)?(?P<name>[a-z0-9][-a-z0-9.]*)$")


def parse_ref(text: str) -> ObjectRef | None:
    """``acnp/name``, ``netpol/x/deny-all`` or ``pod/x/a`` -> ObjectRef; None if it is not one."""
    m = _REF_RE.match(text)
    if not m or m["kind"] not in KIND_ALIASES:
        return None
    group, kind = KIND_ALIASES[m["kind"]]
    return ObjectRef(group, kind, "" if kind in CLUSTER_SCOPED_KINDS else (m["ns"] or "default"), m["name"])
