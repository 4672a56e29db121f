"""Security policies, their rules and container-cluster spans.

Routes (nsx.md §5.1): ``/policy/api/v1/infra/domains/default/security-policies[/{id}]``,
``.../{id}/rules[/{rule}]``, ``.../{id}/container-cluster-span[/{span}]``.

Reproduced conventions:
- GET of a policy returns its rules inline (``rules[]``, ordered by ``sequence_number``); the list
  returns policies without rules but with ``rule_count``.
- PATCH of a policy upserts the rules it carries and keeps the others; PUT replaces the policy
  and its whole rule set: rules not sent are deleted, also when the PUT carries no ``rules`` at
  all. NSX Policy API, PUT /infra/domains/{domain-id}/security-policies/{security-policy-id}
  (vcf-nsx 9.1 ``policy_update_security_policy_for_domain``): "This is a full replace. All the
  rules are replaced."; PartialPatchConfig (NSX REST API reference): "in Security Policies,
  adding 'rules' through PATCH merges them with existing rules, while a PUT operation replaces
  them entirely".
- ``sequence_number``: policies 0..999,999, rules >= 0 (:mod:`labkit.nsx.manager.policy_rules`).
- ``POST .../security-policies/{id}?action=revise`` and ``.../rules/{id}?action=revise`` move a
  policy within its category or a rule within its policy (:mod:`labkit.nsx.manager.revise`) and
  answer the object with its computed ``sequence_number``.
- Each rule gets a read-only ``rule_id``, a unique positive number assigned once by the manager
  (nsx.md §5.1); the adapter names ACNP rules after it.
- Every write is validated on the policy's final state (policy + all rules + span), per
  :mod:`labkit.nsx.manager.policy_rules`; a rule change moves its policy's ``_revision`` so that the
  realization of the previous version no longer counts [D].
- DELETE answers 200 also when the object is absent (Policy API DELETE is idempotent).
"""

from __future__ import annotations

import uuid
from typing import Any

from labkit.nsx.manager import paths
from labkit.nsx.manager.errors import ErrorCode
from labkit.nsx.manager.fields import unknown_fields
from labkit.nsx.manager.groups import require_default_domain
from labkit.nsx.manager.messages import Request, Response
from labkit.nsx.manager.objects import (
    Mode,
    bad_request,
    check_protection,
    check_revision,
    list_response,
    not_found,
    prepare,
    public,
    stamp,
    validation_error,
)
from labkit.nsx.manager.policy_rules import (
    POLICY_DEFAULTS,
    POLICY_SEQUENCE_MAX,
    RULE_DEFAULTS,
    policy_problems,
    sequence_key,
)
from labkit.nsx.manager.principal import Principal
from labkit.nsx.manager.realization import forget_intent
from labkit.nsx.manager.revise import DEFAULT_OPERATION, OPERATIONS, NoRoom, Placed, reposition
from labkit.nsx.manager.span import policy_clusters, policy_rules, span_children
from labkit.nsx.manager.state import ManagerState
from labkit.nsx.manager.statistics_api import forget_policy_statistics

RULE_ID_START = 1001


def policy_view(state: ManagerState, policy: dict[str, Any]) -> dict[str, Any]:
    """A policy as GET shows it: with its rules inline."""
    view = public(policy)
    view["rules"] = [public(r) for r in policy_rules(state.store, policy["path"])]
    return view


def _policy_or_404(state: ManagerState, policy_id: str) -> dict[str, Any]:
    path = paths.policy_path(policy_id)
    policy = state.store.get(path)
    if policy is None:
        raise not_found(path)
    return policy


# -- policies ----------------------------------------------------------------------------------
def list_policies(state: ManagerState, req: Request) -> dict[str, Any]:
    require_default_domain(req)
    items = []
    for policy in state.store.list(paths.SECURITY_POLICIES):
        items.append({**policy, "rule_count": len(state.store.list(f"{policy['path']}/rules"))})
    return list_response(items, req.query)


def get_policy(state: ManagerState, req: Request) -> dict[str, Any]:
    require_default_domain(req)
    return policy_view(state, _policy_or_404(state, req.params["policy_id"]))


def put_policy(state: ManagerState, req: Request) -> dict[str, Any]:
    require_default_domain(req)
    return write_policy(state, req.params["policy_id"], req.json_object(), "PUT",
                        req.principal, req.allow_overwrite)  # type: ignore[arg-type]


def patch_policy(state: ManagerState, req: Request) -> dict[str, Any]:
    require_default_domain(req)
    return write_policy(state, req.params["policy_id"], req.json_object(), "PATCH",
                        req.principal, req.allow_overwrite)  # type: ignore[arg-type]


def write_policy(state: ManagerState, policy_id: str, body: dict[str, Any], mode: Mode,
                 principal: Principal, allow_overwrite: bool) -> dict[str, Any]:
    """Validate and store a policy and the rules it carries (REST routes and hierarchical API)."""
    path = paths.policy_path(policy_id)
    rules_in = body.get("rules")
    if rules_in is not None and not isinstance(rules_in, list):
        raise bad_request("rules must be a list of Rule objects")
    policy_body = {k: v for k, v in body.items() if k != "rules"}
    unknown = unknown_fields(policy_body, "SecurityPolicy")
    new, old = prepare(state, path=path, body=policy_body, mode=mode, principal=principal,
                       allow_overwrite=allow_overwrite, resource_type="SecurityPolicy",
                       defaults=POLICY_DEFAULTS)
    existing = {r["id"]: r for r in state.store.list(f"{path}/rules")}
    final = {} if mode == "PUT" else dict(existing)  # PUT: "All the rules are replaced"
    for i, raw in enumerate(rules_in or []):
        if not isinstance(raw, dict):
            raise bad_request(f"rules[{i}] must be an object")
        rule_id = str(raw.get("id") or uuid.uuid4())
        unknown += unknown_fields(raw, "Rule", f"rules[{i}] ({rule_id})")
        final[rule_id] = _prepare_rule(state, policy_id, rule_id, raw, mode, principal,
                                       allow_overwrite, inline=True)
    _validate_and_store(state, new, old, list(final.values()), removed=set(existing) - set(final),
                        unknown=unknown)
    return policy_view(state, new)


def delete_policy(state: ManagerState, req: Request) -> Response:
    require_default_domain(req)
    remove_policy(state, req.params["policy_id"], req.principal, req.allow_overwrite)  # type: ignore[arg-type]
    return Response(200)


def remove_policy(state: ManagerState, policy_id: str, principal: Principal,
                  allow_overwrite: bool) -> None:
    path = paths.policy_path(policy_id)
    old = state.store.get(path)
    if old is None:
        return
    check_protection(old, principal, allow_overwrite)
    state.store.delete_tree(path)
    forget_intent(state.store, path)
    forget_policy_statistics(state.store, path)


# -- rules -------------------------------------------------------------------------------------
def list_rules(state: ManagerState, req: Request) -> dict[str, Any]:
    require_default_domain(req)
    policy = _policy_or_404(state, req.params["policy_id"])
    return list_response(policy_rules(state.store, policy["path"]), req.query)


def get_rule(state: ManagerState, req: Request) -> dict[str, Any]:
    require_default_domain(req)
    path = paths.rule_path(req.params["policy_id"], req.params["rule_id"])
    rule = state.store.get(path)
    if rule is None:
        raise not_found(path)
    return public(rule)


def put_rule(state: ManagerState, req: Request) -> dict[str, Any]:
    return _write_rule(state, req, "PUT")


def patch_rule(state: ManagerState, req: Request) -> dict[str, Any]:
    return _write_rule(state, req, "PATCH")


def _write_rule(state: ManagerState, req: Request, mode: Mode) -> dict[str, Any]:
    require_default_domain(req)
    principal = req.principal
    assert principal is not None
    policy_id, rule_id = req.params["policy_id"], req.params["rule_id"]
    policy = _policy_or_404(state, policy_id)
    check_protection(policy, principal, req.allow_overwrite)
    body = req.json_object()
    rule = _prepare_rule(state, policy_id, rule_id, body, mode, principal, req.allow_overwrite, inline=False)
    rules = {r["id"]: r for r in state.store.list(f"{policy['path']}/rules")}
    rules[rule_id] = rule
    _validate_and_store(state, _touched(state, policy, principal), policy, list(rules.values()),
                        unknown=unknown_fields(body, "Rule", f"rule {rule_id}"))
    return public(rule)


def delete_rule(state: ManagerState, req: Request) -> Response:
    require_default_domain(req)
    principal = req.principal
    assert principal is not None
    path = paths.rule_path(req.params["policy_id"], req.params["rule_id"])
    rule = state.store.get(path)
    if rule is None:
        return Response(200)
    check_protection(rule, principal, req.allow_overwrite)
    policy = _policy_or_404(state, req.params["policy_id"])
    state.store.delete(path)
    state.store.put(policy["path"], _touched(state, policy, principal))
    forget_intent(state.store, path)
    return Response(200)


def _prepare_rule(state: ManagerState, policy_id: str, rule_id: str, body: dict[str, Any],
                  mode: Mode, principal: Principal, allow_overwrite: bool, *, inline: bool) -> dict[str, Any]:
    path = paths.rule_path(policy_id, rule_id)
    rule, old = prepare(state, path=path, body=body, mode=mode, principal=principal,
                        allow_overwrite=allow_overwrite, resource_type="Rule",
                        defaults=RULE_DEFAULTS, revision_check=None if not inline else False)
    rule["rule_id"] = old["rule_id"] if old else state.store.next_value(paths.RULE_ID_COUNTER,
                                                                       RULE_ID_START)
    return rule


def _touched(state: ManagerState, policy: dict[str, Any], principal: Principal) -> dict[str, Any]:
    """The policy with its revision moved on (one of its rules changed)."""
    new = {k: v for k, v in policy.items()}
    return stamp(state, new, policy, principal, object_id=policy["id"], resource_type="SecurityPolicy")


def _validate_and_store(state: ManagerState, policy: dict[str, Any], old: dict[str, Any] | None,
                        rules: list[dict[str, Any]], removed: set[str] = frozenset(),  # type: ignore[assignment]
                        unknown: list[str] = ()) -> None:  # type: ignore[assignment]
    was_antrea = bool(old and policy_clusters(state.store, old))
    clusters = policy_clusters(state.store, policy)
    ordered = sorted(rules, key=sequence_key)
    problems = [*unknown, *policy_problems(state.store, policy, ordered, clusters, was_antrea=was_antrea)]
    if problems:
        raise validation_error(f"Invalid security policy {policy['path']}", problems,
                               code=ErrorCode.INVALID_POLICY)
    state.store.put(policy["path"], policy)
    for rule_id in removed:
        state.store.delete(paths.rule_path(policy["id"], rule_id))
    for rule in rules:
        state.store.put(rule["path"], rule)


# -- ?action=revise -----------------------------------------------------------------------------
def revise_policy(state: ManagerState, req: Request) -> dict[str, Any]:
    """Move a security policy within its category (``POST ...?action=revise``)."""
    require_default_domain(req)
    principal = req.principal
    assert principal is not None
    policy = _policy_or_404(state, req.params["policy_id"])
    operation, anchor = _revise_request(req, policy)
    siblings = [p for p in state.store.list(paths.SECURITY_POLICIES)
                if p["id"] != policy["id"] and p.get("category") == policy.get("category")]
    anchor_id = _anchor_id(anchor, siblings, "security policy", f"category {policy.get('category')}")
    moved = _reposition(policy, siblings, operation, anchor_id, POLICY_SEQUENCE_MAX)
    by_id = {p["id"]: p for p in [policy, *siblings]}
    revised = policy
    for object_id, number in moved.items():
        old = by_id[object_id]
        if old.get("sequence_number") == number:
            continue
        check_protection(old, principal, req.allow_overwrite)
        new = stamp(state, {**old, "sequence_number": number}, old, principal, object_id=object_id,
                    resource_type="SecurityPolicy")
        state.store.put(new["path"], new)
        if object_id == policy["id"]:
            revised = new
    return policy_view(state, revised)


def revise_rule(state: ManagerState, req: Request) -> dict[str, Any]:
    """Move a rule within its security policy (``POST .../rules/{id}?action=revise``)."""
    require_default_domain(req)
    principal = req.principal
    assert principal is not None
    policy = _policy_or_404(state, req.params["policy_id"])
    path = paths.rule_path(policy["id"], req.params["rule_id"])
    rule = state.store.get(path)
    if rule is None:
        raise not_found(path)
    check_protection(policy, principal, req.allow_overwrite)
    operation, anchor = _revise_request(req, rule)
    rules = {r["id"]: r for r in state.store.list(f"{policy['path']}/rules")}
    siblings = [r for r in rules.values() if r["id"] != rule["id"]]
    anchor_id = _anchor_id(anchor, siblings, "rule", f"security policy {policy['path']}")
    moved = _reposition(rule, siblings, operation, anchor_id, None)
    for rule_id, number in moved.items():
        old = rules[rule_id]
        if old.get("sequence_number") != number:
            rules[rule_id] = stamp(state, {**old, "sequence_number": number}, old, principal,
                                   object_id=rule_id, resource_type="Rule")
    _validate_and_store(state, _touched(state, policy, principal), policy, list(rules.values()))
    return public(rules[rule["id"]])


def _revise_request(req: Request, current: dict[str, Any]) -> tuple[str, str | None]:
    """``action``, ``operation`` and ``anchor_path`` of a revise call, and its body's checks: the
    body is the object being moved (the SDK sends it); its ``id`` and a ``_revision`` it carries
    must match, nothing else in it is applied [I: NSX documents revise as repositioning only]."""
    if req.query.get("action") != "revise":
        raise bad_request(f"action={req.query.get('action', '')!r} is not supported on {req.path}; "
                          "the only POST action here is action=revise",
                          hint="POST ...?action=revise&operation=insert_top|insert_bottom|"
                          "insert_before|insert_after[&anchor_path=...]")
    operation = req.query.get("operation") or DEFAULT_OPERATION
    if operation not in OPERATIONS:
        raise bad_request(f"operation {operation!r} must be one of {', '.join(OPERATIONS)}")
    anchor = req.query.get("anchor_path") or None
    if operation in ("insert_before", "insert_after") and anchor is None:
        raise bad_request(f"operation {operation} needs anchor_path: the path of the object to "
                          "stand next to")
    body = req.json_object()
    if body.get("id", current["id"]) != current["id"]:
        raise bad_request(f"id {body['id']!r} in the body does not match {current['id']!r} in the URL")
    if body.get("_revision") is not None:
        check_revision(current, body["_revision"], current["path"])
    return operation, anchor


def _anchor_id(anchor: str | None, siblings: list[dict[str, Any]], kind: str, scope: str) -> str | None:
    if anchor is None:
        return None
    for sibling in siblings:
        if sibling["path"] == anchor:
            return sibling["id"]
    raise bad_request(f"anchor_path {anchor!r}: Invalid path: no other {kind} in {scope} has this path",
                      code=ErrorCode.INVALID_PATH)


def _reposition(target: dict[str, Any], siblings: list[dict[str, Any]], operation: str,
                anchor_id: str | None, maximum: int | None) -> dict[str, int]:
    placed = [Placed(s["id"], sequence_key(s)[0]) for s in siblings]
    try:
        return reposition(target["id"], placed, operation, anchor_id, maximum=maximum)
    except NoRoom as exc:
        raise bad_request(f"cannot revise {target['path']}: {exc}",
                          hint="lower some sequence numbers first", code=ErrorCode.INVALID_POLICY) from None


# -- container-cluster-span children -----------------------------------------------------------
def list_spans(state: ManagerState, req: Request) -> dict[str, Any]:
    require_default_domain(req)
    policy = _policy_or_404(state, req.params["policy_id"])
    return list_response(span_children(state.store, policy["path"]), req.query)


def get_span(state: ManagerState, req: Request) -> dict[str, Any]:
    require_default_domain(req)
    path = f"{paths.policy_path(req.params['policy_id'])}/container-cluster-span/{req.params['span_id']}"
    span = state.store.get(path)
    if span is None:
        raise not_found(path)
    return public(span)


def put_span(state: ManagerState, req: Request) -> dict[str, Any]:
    return _write_span(state, req, "PUT")


def patch_span(state: ManagerState, req: Request) -> dict[str, Any]:
    return _write_span(state, req, "PATCH")


def _write_span(state: ManagerState, req: Request, mode: Mode) -> dict[str, Any]:
    require_default_domain(req)
    principal = req.principal
    assert principal is not None
    policy = _policy_or_404(state, req.params["policy_id"])
    check_protection(policy, principal, req.allow_overwrite)
    path = f"{policy['path']}/container-cluster-span/{req.params['span_id']}"
    span, _ = prepare(state, path=path, body=req.json_object(), mode=mode, principal=principal,
                      allow_overwrite=req.allow_overwrite,
                      resource_type="SecurityPolicyContainerCluster")
    cluster = span.get("container_cluster_path")
    if not paths.is_ccp_path(cluster) or state.store.get(cluster) is None:
        raise bad_request(f"container_cluster_path {cluster!r} is not a registered cluster control plane",
                          code=ErrorCode.INVALID_PATH)
    state.store.put(path, span)  # stored first: the validation below reads the span
    rules = state.store.list(f"{policy['path']}/rules")
    _validate_and_store(state, _touched(state, policy, principal), policy, rules)
    return public(span)


def delete_span(state: ManagerState, req: Request) -> Response:
    require_default_domain(req)
    principal = req.principal
    assert principal is not None
    path = f"{paths.policy_path(req.params['policy_id'])}/container-cluster-span/{req.params['span_id']}"
    span = state.store.get(path)
    if span is None:
        return Response(200)
    check_protection(span, principal, req.allow_overwrite)
    policy = _policy_or_404(state, req.params["policy_id"])
    state.store.delete(path)
    rules = state.store.list(f"{policy['path']}/rules")
    _validate_and_store(state, _touched(state, policy, principal), policy, rules)
    return Response(200)
