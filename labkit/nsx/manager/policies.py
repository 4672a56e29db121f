"""Security policies, their rules and container-cluster spans.

Routes (nsx.md §5.1): ``/policy/api/v1/infra/domains/default/security-policies[/{id}]``,
``.../{id}/rules[/{rule}]``, ``.../{id}/container-cluster-span[/{span}]``.

Reproduced conventions:
- GET of a policy returns its rules inline (``rules[]``, ordered by ``sequence_number``); the list
  returns policies without rules but with ``rule_count``.
- PATCH of a policy upserts the rules it carries and keeps the others; PUT replaces the policy
  and, when it carries ``rules``, the whole rule set (rules not sent are deleted) [I].
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
    list_response,
    not_found,
    prepare,
    public,
    stamp,
    validation_error,
)
from labkit.nsx.manager.policy_rules import POLICY_DEFAULTS, RULE_DEFAULTS, policy_problems
from labkit.nsx.manager.principal import Principal
from labkit.nsx.manager.realization import forget_intent
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
    final = {} if (mode == "PUT" and rules_in is not None) else dict(existing)
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
    ordered = sorted(rules, key=lambda r: (r.get("sequence_number", 0), r.get("id", "")))
    problems = [*unknown, *policy_problems(state.store, policy, ordered, clusters, was_antrea=was_antrea)]
    if problems:
        raise validation_error(f"Invalid security policy {policy['path']}", problems,
                               code=ErrorCode.INVALID_POLICY)
    state.store.put(policy["path"], policy)
    for rule_id in removed:
        state.store.delete(paths.rule_path(policy["id"], rule_id))
    for rule in rules:
        state.store.put(rule["path"], rule)


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
