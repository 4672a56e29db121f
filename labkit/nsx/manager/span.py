"""Which Antrea clusters a policy or a group reaches ("span").

A security policy is Antrea-scoped when its ``scope`` (Applied To) names cluster-control-plane
paths, or when it has ``container-cluster-span`` children (newer NSX/Terraform model, nsx.md §5.1).
A group is realized in a cluster only when some policy spanning that cluster uses it (in policy
scope, rule scope, sources or destinations): NSX computes an Antrea group's effective members only
when the group is used in a DFW rule (Admin Guide, "Antrea Groups"; nsx.md §4.1).
"""

from __future__ import annotations

from typing import Any

from labkit.nsx.manager import paths
from labkit.nsx.manager.store import ObjectStore

GROUP_FIELDS = ("source_groups", "destination_groups", "scope")


def span_children(store: ObjectStore, policy_path: str) -> list[dict[str, Any]]:
    return store.list(f"{policy_path}/container-cluster-span")


def policy_clusters(store: ObjectStore, policy: dict[str, Any]) -> list[str]:
    """CCP paths the policy applies to, in order, without duplicates."""
    found = [p for p in policy.get("scope") or [] if paths.is_ccp_path(p)]
    found += [s.get("container_cluster_path", "") for s in span_children(store, policy["path"])]
    return list(dict.fromkeys(p for p in found if p))


def policy_rules(store: ObjectStore, policy_path: str) -> list[dict[str, Any]]:
    rules = store.list(f"{policy_path}/rules")
    return sorted(rules, key=lambda r: (r.get("sequence_number", 0), r.get("id", "")))


def groups_used_by(policy: dict[str, Any], rules: list[dict[str, Any]]) -> list[str]:
    used = [p for p in policy.get("scope") or [] if paths.is_group_path(p)]
    for rule in rules:
        for name in GROUP_FIELDS:
            used += [p for p in rule.get(name) or [] if paths.is_group_path(p)]
    return list(dict.fromkeys(used))


def all_policies(store: ObjectStore) -> list[dict[str, Any]]:
    out = []
    for domain in store.list(f"{paths.INFRA}/domains") or [{"path": paths.DOMAIN}]:
        out += store.list(f"{domain['path']}/security-policies")
    return out


def group_clusters(store: ObjectStore, group_path: str) -> list[str]:
    """CCP paths of every cluster where ``group_path`` is realized."""
    clusters: list[str] = []
    for policy in all_policies(store):
        if group_path in groups_used_by(policy, policy_rules(store, policy["path"])):
            clusters += policy_clusters(store, policy)
    return list(dict.fromkeys(clusters))


def referrers(store: ObjectStore, path: str) -> list[str]:
    """Paths of policies and rules that reference ``path`` (a group, service or CCP)."""
    found = []
    for policy in all_policies(store):
        if path in (policy.get("scope") or []):
            found.append(policy["path"])
        for span in span_children(store, policy["path"]):
            if span.get("container_cluster_path") == path:
                found.append(span["path"])
        for rule in store.list(f"{policy['path']}/rules"):
            for name in (*GROUP_FIELDS, "services"):
                if path in (rule.get(name) or []):
                    found.append(rule["path"])
                    break
    return list(dict.fromkeys(found))
