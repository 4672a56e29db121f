"""The hierarchical Policy API: ``PATCH /policy/api/v1/infra`` with a tree of ``children``.

Reproduced (NSX Policy API "Hierarchical API"; the form Terraform's nsxt provider and
vmware-nsxlib's policy transactions send): the body is ``{"resource_type": "Infra", "children":
[...]}`` where each child wraps one object under a key named after its type and may carry
``marked_for_delete: true``:

- in Infra: ``ChildDomain`` (``Domain``), ``ChildResourceReference`` (``target_type: Domain``,
  ``id``: an existing domain used only as a container), ``ChildService`` (``Service``);
- in the Domain: ``ChildGroup`` (``Group``), ``ChildSecurityPolicy`` (``SecurityPolicy``);
- in a SecurityPolicy: ``ChildRule`` (``Rule``).

Every object is written with PATCH semantics and the same validation as its own route, groups
without partial patch (NSX: "Partial Patch does not support certain objects, such as 'Infra'").
``_revision`` in the tree is checked only with ``?enforce_revision_check=true`` (the query
parameter of ``PATCH /infra``, vcf-nsx ``Infra.patch(infra, enforce_revision_check)``); otherwise
it is ignored, as NSX does by default. The whole
tree is one transaction: the first error rolls everything back. Order: services, groups and
policies are written first (so a policy may use a group created in the same call), deletions last
(policies, then groups and services).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from labkit.nsx.manager import paths
from labkit.nsx.manager.groups import remove_group, write_group
from labkit.nsx.manager.messages import Request, Response
from labkit.nsx.manager.objects import bad_request, check_protection
from labkit.nsx.manager.policies import remove_policy, write_policy
from labkit.nsx.manager.realization import forget_intent
from labkit.nsx.manager.services import remove_service, write_service
from labkit.nsx.manager.state import ManagerState

_WRAPPED = {
    "ChildDomain": "Domain",
    "ChildService": "Service",
    "ChildGroup": "Group",
    "ChildSecurityPolicy": "SecurityPolicy",
    "ChildRule": "Rule",
}


@dataclass
class _Plan:
    services: list[dict[str, Any]] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)
    policies: list[dict[str, Any]] = field(default_factory=list)
    deleted_services: list[str] = field(default_factory=list)
    deleted_groups: list[str] = field(default_factory=list)
    deleted_policies: list[str] = field(default_factory=list)
    deleted_rules: list[tuple[str, str]] = field(default_factory=list)


def patch_infra(state: ManagerState, req: Request) -> Response:
    body = req.json_object()
    if body.get("resource_type", "Infra") != "Infra":
        raise bad_request(f"resource_type {body.get('resource_type')!r}: the root must be Infra")
    plan = _Plan()
    for i, child in enumerate(_children(body, "children")):
        _infra_child(child, f"children[{i}]", plan)
    if not req.flag("enforce_revision_check"):
        for obj in (*plan.services, *plan.groups, *plan.policies):
            _forget_revisions(obj)
    principal, overwrite = req.principal, req.allow_overwrite
    assert principal is not None
    for service in plan.services:
        write_service(state, service["id"], service, "PATCH", principal, overwrite)
    for group in plan.groups:
        write_group(state, group["id"], group, "PATCH", principal, overwrite)
    for policy in plan.policies:
        write_policy(state, policy["id"], policy, "PATCH", principal, overwrite)
    for policy_id, rule_id in plan.deleted_rules:
        rule_path = paths.rule_path(policy_id, rule_id)
        rule = state.store.get(rule_path)
        if rule is not None:
            check_protection(rule, principal, overwrite)
            state.store.delete(rule_path)
            forget_intent(state.store, rule_path)
    for policy_id in plan.deleted_policies:
        remove_policy(state, policy_id, principal, overwrite)
    for group_id in plan.deleted_groups:
        remove_group(state, group_id, principal, overwrite)
    for service_id in plan.deleted_services:
        remove_service(state, service_id, principal, overwrite)
    return Response(200)


def _forget_revisions(obj: dict[str, Any]) -> None:
    """Drop ``_revision`` from an object of the tree and from its inline rules."""
    obj.pop("_revision", None)
    for rule in obj.get("rules") or []:
        if isinstance(rule, dict):
            rule.pop("_revision", None)


def _children(obj: dict[str, Any], key: str) -> list[dict[str, Any]]:
    children = obj.get(key) or []
    if not isinstance(children, list) or not all(isinstance(c, dict) for c in children):
        raise bad_request(f"{key} must be a list of Child* objects")
    return children


def _unwrap(child: dict[str, Any], where: str) -> tuple[str, dict[str, Any]]:
    kind = child.get("resource_type")
    if kind == "ChildResourceReference":
        return kind, child
    wrapped = _WRAPPED.get(str(kind))
    if wrapped is None:
        raise bad_request(
            f"{where}: {kind!r} is not supported by labkit's hierarchical API; use "
            f"{', '.join(['ChildResourceReference', *_WRAPPED])}"
        )
    obj = child.get(wrapped)
    if not isinstance(obj, dict) or not obj.get("id"):
        raise bad_request(f"{where}.{wrapped} must be an object with an id")
    return kind, {**obj, "_delete": bool(child.get("marked_for_delete") or obj.get("marked_for_delete"))}


def _infra_child(child: dict[str, Any], where: str, plan: _Plan) -> None:
    kind, obj = _unwrap(child, where)
    if kind == "ChildService":
        if obj.pop("_delete"):
            plan.deleted_services.append(obj["id"])
        else:
            plan.services.append(obj)
        return
    if kind == "ChildResourceReference" and obj.get("target_type") != "Domain":
        raise bad_request(f"{where}: ChildResourceReference target_type must be Domain here")
    if kind in ("ChildDomain", "ChildResourceReference"):
        if obj.get("id") != paths.DEFAULT_DOMAIN:
            raise bad_request(f"{where}: domain {obj.get('id')!r}: labkit's NSX mock has only the "
                              "'default' domain (Antrea groups live there)")
        if obj.pop("_delete", False):
            raise bad_request(f"{where}: the default domain cannot be deleted")
        for j, sub in enumerate(_children(obj, "children")):
            _domain_child(sub, f"{where}.children[{j}]", plan)
        return
    raise bad_request(f"{where}: {kind} cannot be a child of Infra")


def _domain_child(child: dict[str, Any], where: str, plan: _Plan) -> None:
    kind, obj = _unwrap(child, where)
    delete = obj.pop("_delete", False)
    if kind == "ChildGroup":
        if delete:
            plan.deleted_groups.append(obj["id"])
        else:
            plan.groups.append(obj)
        return
    if kind != "ChildSecurityPolicy":
        raise bad_request(f"{where}: {kind} cannot be a child of a Domain")
    if delete:
        plan.deleted_policies.append(obj["id"])
        return
    rules = list(obj.get("rules") or [])
    for k, sub in enumerate(_children(obj, "children")):
        sub_kind, rule = _unwrap(sub, f"{where}.children[{k}]")
        if sub_kind != "ChildRule":
            raise bad_request(f"{where}.children[{k}]: {sub_kind} cannot be a child of a SecurityPolicy")
        if rule.pop("_delete"):
            plan.deleted_rules.append((obj["id"], rule["id"]))
        else:
            rules.append(rule)
    policy = {k: v for k, v in obj.items() if k != "children"}
    if rules:
        policy["rules"] = rules
    plan.policies.append(policy)
