"""The smallest change that makes NSX hold a plan, and its hierarchical API body.

A plan is compared with what NSX holds now (read with the security admin's client): a group is
created or, when a field the plan sets differs, replaced; the policy is created, or only the
policy fields and the **rules** that differ are sent (a security policy PATCH upserts the rules
it carries and keeps the others, docs/nsx-mock.md), rules NSX has and the plan no longer wants
are deleted, and groups an earlier plan created (tag ``labkit-planner|<name>``) that nothing uses
any more are deleted. Unchanged objects are not sent at all, so their ``_revision`` stays, and the
adapter has nothing to redo for them.

The change goes to NSX as **one** hierarchical API call, ``PATCH /policy/api/v1/infra`` with
``ChildGroup``/``ChildSecurityPolicy``/``ChildRule`` children (``marked_for_delete`` for
deletions): NSX applies such a tree in one transaction, so a refused plan leaves NSX as it was
(Policy API "Hierarchical API"; the form Terraform's nsxt provider and vmware-nsxlib send).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labkit.nsx.manager import paths
from labkit.nsx.manager.client import NSXClient
from labkit.nsx.manager.errors import NSXApiError
from labkit.nsx.manager.policy_schema import POLICY_DEFAULTS, RULE_DEFAULTS
from labkit.nsx.planner.bodies import PLAN_TAG_SCOPE

P = paths.POLICY_API
GROUP_FIELDS = ("display_name", "description", "group_type", "expression", "tags")
POLICY_FIELDS = ("display_name", "description", "category", "scope", "tags")  # not sequence_number:
# an admin may have moved the policy (``?action=revise``), and a plan keeps that
RULE_FIELDS = ("display_name", "sequence_number", "source_groups", "destination_groups", "scope", "services",
               "service_entries", "action", "direction", "ip_protocol", "logged", "disabled")


@dataclass(frozen=True)
class Change:
    """One write: ``op`` create | update | delete of a ``kind`` (Group, SecurityPolicy, Rule)."""

    op: str
    kind: str
    path: str
    fields: tuple[str, ...] = ()  # what differs (update)
    body: dict[str, Any] | None = None

    def __str__(self) -> str:
        what = f" ({', '.join(self.fields)})" if self.fields else ""
        return f"{self.op:<6} {self.kind:<14} {self.path}{what}"

    def __repr__(self) -> str:
        return f"<Change {str(self).strip()}>"


def current(client: NSXClient, path: str) -> dict[str, Any] | None:
    """The object NSX holds at ``path`` (a Policy path), or None."""
    try:
        return client.get(P + path)
    except NSXApiError as exc:
        if exc.status == 404:
            return None
        raise


def compute(client: NSXClient, groups: list[dict[str, Any]], policy: dict[str, Any], name: str) -> list[Change]:
    """The changes that turn what NSX holds into the plan (see the module docstring)."""
    changes: list[Change] = []
    for group in groups:
        path = paths.group_path(group["id"])
        old = current(client, path)
        if old is None:
            changes.append(Change("create", "Group", path, body=group))
        elif differing := _differing(group, old, GROUP_FIELDS, {}):
            changes.append(Change("update", "Group", path, differing, group))
    policy_path = paths.policy_path(policy["id"])
    old_policy = current(client, policy_path)
    if old_policy is None:
        changes.append(Change("create", "SecurityPolicy", policy_path, body=policy))
        changes += [Change("create", "Rule", f"{policy_path}/rules/{r['id']}", body=r) for r in policy["rules"]]
    else:
        if differing := _differing(policy, old_policy, POLICY_FIELDS, POLICY_DEFAULTS):
            changes.append(Change("update", "SecurityPolicy", policy_path, differing, policy))
        old_rules = {r["id"]: r for r in old_policy.get("rules") or []}
        for rule in policy["rules"]:
            rule_path = f"{policy_path}/rules/{rule['id']}"
            if rule["id"] not in old_rules:
                changes.append(Change("create", "Rule", rule_path, body=rule))
            elif differing := _differing(rule, old_rules[rule["id"]], RULE_FIELDS, RULE_DEFAULTS):
                changes.append(Change("update", "Rule", rule_path, differing, rule))
        wanted = {r["id"] for r in policy["rules"]}
        changes += [Change("delete", "Rule", f"{policy_path}/rules/{rid}") for rid in sorted(set(old_rules) - wanted)]
    changes += _stale_groups(client, groups, policy, name, changes)
    return changes


def _differing(new: dict[str, Any], old: dict[str, Any], fields: tuple[str, ...],
               defaults: dict[str, Any]) -> tuple[str, ...]:
    return tuple(f for f in fields if f in new and new[f] != old.get(f, defaults.get(f)))


def _stale_groups(client: NSXClient, groups: list[dict[str, Any]], policy: dict[str, Any], name: str,
                  changes: list[Change]) -> list[Change]:
    """Groups an earlier plan of this name created that no policy uses once the plan is in."""
    wanted = {paths.group_path(g["id"]) for g in groups}
    owned = [g["path"] for g in client.list_all(P + paths.GROUPS)
             if {"scope": PLAN_TAG_SCOPE, "tag": name} in (g.get("tags") or []) and g["path"] not in wanted]
    if not owned:
        return []
    used: set[str] = set()
    policy_path = paths.policy_path(policy["id"])
    for listed in client.list_all(P + paths.SECURITY_POLICIES):
        if listed["path"] == policy_path:
            rules = policy["rules"]  # ours, as the plan leaves it
            used.update(p for p in policy.get("scope") or [])
        else:
            full = client.get(P + listed["path"])
            rules = full.get("rules") or []
            used.update(full.get("scope") or [])
        for rule in rules:
            for field in ("source_groups", "destination_groups", "scope"):
                used.update(rule.get(field) or [])
    return [Change("delete", "Group", path) for path in owned if path not in used]


def hierarchical_body(changes: list[Change]) -> dict[str, Any] | None:
    """The ``PATCH /policy/api/v1/infra`` tree for ``changes`` (None when there is nothing to do)."""
    if not changes:
        return None
    children: list[dict[str, Any]] = []
    policies: dict[str, dict[str, Any]] = {}
    for change in changes:
        object_id = change.path.rsplit("/", 1)[-1]
        if change.kind == "Group":
            group = dict(change.body or {"id": object_id, "resource_type": "Group"})
            children.append({"resource_type": "ChildGroup", "Group": group,
                             **({"marked_for_delete": True} if change.op == "delete" else {})})
            continue
        policy_path = change.path.split("/rules/")[0]
        policy_id = policy_path.rsplit("/", 1)[-1]
        entry = policies.setdefault(policy_id, {"id": policy_id, "resource_type": "SecurityPolicy", "children": []})
        if change.kind == "SecurityPolicy":
            entry.update({k: v for k, v in (change.body or {}).items() if k != "rules"})
        elif change.op == "delete":
            entry["children"].append({"resource_type": "ChildRule", "marked_for_delete": True,
                                      "Rule": {"id": object_id, "resource_type": "Rule"}})
        else:
            entry["children"].append({"resource_type": "ChildRule", "Rule": change.body})
    # groups first and deletions of groups last: the mock (and NSX) writes in dependency order anyway
    children += [{"resource_type": "ChildSecurityPolicy", "SecurityPolicy": p} for p in policies.values()]
    return {"resource_type": "Infra", "children": [
        {"resource_type": "ChildResourceReference", "id": paths.DEFAULT_DOMAIN, "target_type": "Domain",
         "children": children}]}


__all__ = ["Change", "compute", "current", "hierarchical_body"]
