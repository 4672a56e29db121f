"""What one Antrea cluster should enforce, in one read (a labkit route for the adapter).

Real NSX pushes DFW rules and groups to the CCP adapter over the private NSX-RPC channel. labkit's
adapter polls ``GET /labkit/v1/infra/sites/default/enforcement-points/default/
cluster-control-planes/{id}/desired-state`` instead (nsx.md §10): the security policies whose
span includes the cluster (with rules and ``_revision``, which is the ``intent_version`` to report
realization for), the groups they use and the services they reference, plus ``generation``, a
counter that moves whenever any policy, group or service changes, so polling is cheap.
"""

from __future__ import annotations

from typing import Any

from labkit.nsx.manager import paths
from labkit.nsx.manager.ccp import get_ccp
from labkit.nsx.manager.clusters import require_owner
from labkit.nsx.manager.messages import Request
from labkit.nsx.manager.objects import public
from labkit.nsx.manager.policies import policy_view
from labkit.nsx.manager.policy_rules import CATEGORIES
from labkit.nsx.manager.span import all_policies, groups_used_by, policy_clusters, policy_rules
from labkit.nsx.manager.state import ManagerState


def get_desired_state(state: ManagerState, req: Request) -> dict[str, Any]:
    ccp = get_ccp(state, req)
    principal = req.principal
    assert principal is not None
    require_owner(principal, ccp["id"], "read the desired state")
    policies, group_paths, service_paths = [], [], []
    for policy in all_policies(state.store):
        if ccp["path"] not in policy_clusters(state.store, policy):
            continue
        rules = policy_rules(state.store, policy["path"])
        policies.append(policy_view(state, policy))
        group_paths += groups_used_by(policy, rules)
        for rule in rules:
            service_paths += [s for s in rule.get("services") or [] if s != "ANY"]
    groups = [state.store.get(p) for p in dict.fromkeys(group_paths)]
    services = [state.store.get(p) for p in dict.fromkeys(service_paths)]
    return {
        "cluster_control_plane_path": ccp["path"],
        "node_id": ccp.get("node_id"),
        "generation": state.store.counter(paths.GENERATION_COUNTER),
        # In evaluation order: category (Ethernet ... Application), then sequence_number.
        "security_policies": sorted(policies, key=lambda p: (
            CATEGORIES.index(p["category"]) if p.get("category") in CATEGORIES else len(CATEGORIES),
            p.get("sequence_number", 0), p["id"])),
        "groups": [public(g) for g in groups if g],
        "services": [public(s) for s in services if s],
    }
