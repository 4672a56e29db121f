"""Effective members of an Antrea group, computed from one cluster's inventory (pure).

The match rules follow how the CCP adapter realizes the group as an Antrea ClusterGroup
(nsx.md §4.2): Pod Tag -> ``podSelector`` (EQUALS = label equals; NOTEQUALS = K8s ``NotIn``,
which also selects pods without the label), Namespace Name -> the namespace's name
(``kubernetes.io/metadata.name``), Namespace Tag -> ``namespaceSelector``, Service Name (with
Namespace Name) -> ``serviceReference`` = the pods behind the service. Conditions in a criterion
are ANDed; criteria are combined left to right with their ConjunctionOperator.

Inventory tags carry Kubernetes labels as scope ``dis:k8s:<label-key>`` (nsx.md §3.1); a condition
may name the scope with or without that prefix (nsx.md §4.1 [D]).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

LABEL_SCOPE_PREFIX = "dis:k8s:"
Conditions = list[dict[str, Any]] | None  # one criterion's conditions; None for an IP criterion


@dataclass(frozen=True)
class ClusterInventory:
    pods: tuple[dict[str, Any], ...]
    namespaces: dict[str, dict[str, Any]]   # by external_id
    services: tuple[dict[str, Any], ...]


def pod_members(group: dict[str, Any], inv: ClusterInventory) -> list[dict[str, Any]]:
    ids = _combine(group, lambda conds: _pods_of(conds, inv))
    return [p for p in inv.pods if p["id"] in ids]


def service_members(group: dict[str, Any], inv: ClusterInventory) -> list[dict[str, Any]]:
    ids = _combine(group, lambda conds: _services_of(conds, inv))
    return [s for s in inv.services if s["id"] in ids]


def ip_members(group: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for expr in group.get("expression") or []:
        if isinstance(expr, dict) and expr.get("resource_type") == "IPAddressExpression":
            out += [ip for ip in expr.get("ip_addresses") or [] if isinstance(ip, str)]
    return list(dict.fromkeys(out))


# -- internals ---------------------------------------------------------------------------------
def _combine(group: dict[str, Any], members_of: Callable[[Conditions], set[str]]) -> set[str]:
    result: set[str] | None = None
    pending_op = "OR"
    for expr in group.get("expression") or []:
        if not isinstance(expr, dict):
            continue
        if expr.get("resource_type") == "ConjunctionOperator":
            pending_op = expr.get("conjunction_operator", "OR")
            continue
        found = members_of(_conditions(expr))
        if result is None:
            result = found
        elif pending_op == "AND":
            result &= found
        else:
            result |= found
    return result or set()


def _conditions(expr: dict[str, Any]) -> Conditions:
    """The conditions of one criterion (None for an IP criterion, which selects no pods)."""
    rt = expr.get("resource_type")
    if rt == "Condition":
        return [expr]
    if rt == "NestedExpression":
        return [e for e in expr.get("expressions") or []
                if isinstance(e, dict) and e.get("resource_type") == "Condition"]
    return None


def _pods_of(conds: list[dict[str, Any]] | None, inv: ClusterInventory) -> set[str]:
    if not conds:
        return set()
    selected = set()
    backing = _service_backed_pods(conds, inv)
    for pod in inv.pods:
        ns = inv.namespaces.get(pod.get("container_project_id", ""), {})
        if backing is not None and pod["id"] not in backing:
            continue
        if all(_pod_condition(c, pod, ns) for c in conds if c.get("member_type") != "Service"):
            selected.add(pod["id"])
    return selected


def _service_backed_pods(conds: list[dict[str, Any]], inv: ClusterInventory) -> set[str] | None:
    services = _services_of(conds, inv)
    if not any(c.get("member_type") == "Service" for c in conds):
        return None
    return {p["id"] for p in inv.pods if services & set(p.get("container_application_ids") or [])}


def _services_of(conds: list[dict[str, Any]] | None, inv: ClusterInventory) -> set[str]:
    if not conds or not any(c.get("member_type") == "Service" for c in conds):
        return set()
    out = set()
    for svc in inv.services:
        ns = inv.namespaces.get(svc.get("container_project_id", ""), {})
        ok = True
        for c in conds:
            if c.get("member_type") == "Service":
                ok = ok and svc.get("display_name") == c.get("value")
            elif c.get("member_type") == "Namespace":
                ok = ok and _namespace_condition(c, ns)
        if ok:
            out.add(svc["id"])
    return out


def _pod_condition(cond: dict[str, Any], pod: dict[str, Any], ns: dict[str, Any]) -> bool:
    if cond.get("member_type") == "Namespace":
        return _namespace_condition(cond, ns)
    if cond.get("member_type") == "Pod" and cond.get("key") == "Tag":
        return _tag_condition(cond, pod)
    return False


def _namespace_condition(cond: dict[str, Any], ns: dict[str, Any]) -> bool:
    if not ns:
        return False
    if cond.get("key") == "Name":
        return ns.get("display_name") == cond.get("value")
    return _tag_condition(cond, ns)


def _tag_condition(cond: dict[str, Any], obj: dict[str, Any]) -> bool:
    value = str(cond.get("value", ""))
    scope, sep, tag = value.partition("|")
    if not sep:
        scope, tag = "", value
    scope = _bare(scope)
    hit = any(
        (not scope or _bare(str(t.get("scope", ""))) == scope) and str(t.get("tag", "")) == tag
        for t in obj.get("tags") or [] if isinstance(t, dict)
    )
    return not hit if cond.get("operator") == "NOTEQUALS" else hit


def _bare(scope: str) -> str:
    return scope[len(LABEL_SCOPE_PREFIX):] if scope.startswith(LABEL_SCOPE_PREFIX) else scope
