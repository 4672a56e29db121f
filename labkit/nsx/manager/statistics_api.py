"""Per-cluster rule statistics of Antrea-scoped policies.

Read side (nsx.md §5.5; Admin Guide: statistics are per cluster, not aggregated):
``GET .../security-policies/{id}/statistics?container_cluster_path=<ccp path>`` and
``GET .../security-policies/{id}/rules/{rule}/statistics?container_cluster_path=...`` answer
``{results: [{container_cluster_path, statistics: {results: [RuleStatistics]}}]}`` (the envelope
nesting is [I]); RuleStatistics has ``rule, internal_rule_id, hit_count, packet_count,
byte_count, session_count, total_session_count, max_session_count, popularity_index,
max_popularity_index``. Without ``container_cluster_path``: one entry per cluster of the span.

Write side (labkit, nsx.md §10): the adapter reads AntreaClusterNetworkPolicyStats (rule name =
``rule_id``) and sends ``PUT /labkit/v1/infra/domains/default/security-policies/{id}/statistics``
with ``{container_cluster_path, results: [{internal_rule_id, hit_count, ...}]}``; it replaces that
cluster's figures for the policy.
"""

from __future__ import annotations

from typing import Any

from labkit.nsx.manager import paths
from labkit.nsx.manager.clusters import require_owner
from labkit.nsx.manager.groups import require_default_domain
from labkit.nsx.manager.messages import Request
from labkit.nsx.manager.objects import bad_request, not_found
from labkit.nsx.manager.span import policy_clusters, policy_rules
from labkit.nsx.manager.state import ManagerState
from labkit.nsx.manager.store import ObjectStore

COUNTERS = ("hit_count", "packet_count", "byte_count", "session_count", "total_session_count",
            "max_session_count", "popularity_index", "max_popularity_index")


def _key(policy_path: str, ccp_path: str) -> str:
    return f"{paths.STATISTICS}{policy_path}@{ccp_path}"


def forget_policy_statistics(store: ObjectStore, policy_path: str) -> None:
    for key, _ in store.items_under(f"{paths.STATISTICS}{policy_path}@"):
        store.delete(key)


def forget_cluster_statistics(store: ObjectStore, ccp_path: str) -> None:
    for key, body in store.items_under(paths.STATISTICS):
        if body.get("container_cluster_path") == ccp_path:
            store.delete(key)


def _policy(state: ManagerState, req: Request) -> dict[str, Any]:
    require_default_domain(req)
    path = paths.policy_path(req.params["policy_id"])
    policy = state.store.get(path)
    if policy is None:
        raise not_found(path)
    return policy


def _clusters(state: ManagerState, req: Request, policy: dict[str, Any]) -> list[str]:
    wanted = req.query.get("container_cluster_path")
    if not wanted:
        return policy_clusters(state.store, policy)
    if not paths.is_ccp_path(wanted) or state.store.get(wanted) is None:
        raise bad_request(f"container_cluster_path {wanted!r} is not a registered cluster control plane")
    return [wanted]


def _rule_statistics(rule: dict[str, Any], reported: dict[str, Any]) -> dict[str, Any]:
    figures = reported.get(str(rule.get("rule_id")), {})
    out: dict[str, Any] = {"rule": rule["path"], "internal_rule_id": str(rule.get("rule_id"))}
    out.update({name: int(figures.get(name, 0)) for name in COUNTERS})
    return out


def _view(state: ManagerState, policy: dict[str, Any], clusters: list[str],
          rules: list[dict[str, Any]]) -> dict[str, Any]:
    results = []
    for ccp_path in clusters:
        record = state.store.get(_key(policy["path"], ccp_path)) or {}
        stats = [_rule_statistics(r, record.get("rules", {})) for r in rules]
        results.append({
            "container_cluster_path": ccp_path,
            "statistics": {
                "resource_type": "SecurityPolicyStatistics",
                "results": stats,
                "result_count": len(stats),
                "last_update_timestamp": record.get("time", 0),
            },
        })
    return {"results": results, "result_count": len(results)}


def get_policy_statistics(state: ManagerState, req: Request) -> dict[str, Any]:
    policy = _policy(state, req)
    return _view(state, policy, _clusters(state, req, policy), policy_rules(state.store, policy["path"]))


def get_rule_statistics(state: ManagerState, req: Request) -> dict[str, Any]:
    policy = _policy(state, req)
    rule_path = paths.rule_path(req.params["policy_id"], req.params["rule_id"])
    rule = state.store.get(rule_path)
    if rule is None:
        raise not_found(rule_path)
    return _view(state, policy, _clusters(state, req, policy), [rule])


def put_policy_statistics(state: ManagerState, req: Request) -> dict[str, Any]:
    """``PUT /labkit/v1/infra/domains/default/security-policies/{id}/statistics``."""
    policy = _policy(state, req)
    principal = req.principal
    assert principal is not None
    body = req.json_object()
    ccp_path = body.get("container_cluster_path") or (
        paths.ccp_path(principal.name) if principal.is_principal_identity else "")
    if not paths.is_ccp_path(ccp_path):
        raise bad_request("container_cluster_path must be a cluster control plane path")
    require_owner(principal, paths.ccp_id(ccp_path), "report statistics")
    if ccp_path not in policy_clusters(state.store, policy):
        raise bad_request(f"{policy['path']} is not applied to {ccp_path}")
    rules = policy_rules(state.store, policy["path"])
    by_rule_id = {str(r.get("rule_id")): r for r in rules}
    by_path = {r["path"]: str(r.get("rule_id")) for r in rules}
    figures: dict[str, dict[str, int]] = {}
    problems = []
    for i, entry in enumerate(body.get("results") or []):
        if not isinstance(entry, dict):
            problems.append(f"results[{i}] must be an object")
            continue
        rule_id = str(entry.get("internal_rule_id") or by_path.get(str(entry.get("rule")), ""))
        if rule_id not in by_rule_id:
            problems.append(f"results[{i}]: no rule with internal_rule_id {rule_id!r} in {policy['path']}")
            continue
        try:
            figures[rule_id] = {name: int(entry.get(name, 0)) for name in COUNTERS}
        except (TypeError, ValueError):
            problems.append(f"results[{i}]: counters must be integers")
    if problems:
        raise bad_request("; ".join(problems))
    state.store.put(_key(policy["path"], ccp_path), {
        "policy_path": policy["path"], "container_cluster_path": ccp_path,
        "rules": figures, "time": state.now_ms(),
    }, collection=f"{paths.STATISTICS}{policy['path']}")
    return _view(state, policy, [ccp_path], rules)
