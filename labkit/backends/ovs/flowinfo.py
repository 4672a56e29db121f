"""Map a flow's cookie back to what installed it (``antctl get ovsflows`` shows the same link)."""

from __future__ import annotations

from ...datapath.compile import ISOLATION_VALUE, decode_cookie
from ...policy.compiler import CompiledRule, PolicySet

_ISOLATION_DIRECTION = {v: k for k, v in ISOLATION_VALUE.items()}


def rule_of_cookie(cookie: int, policy_set: PolicySet | None) -> CompiledRule | None:
    category, value = decode_cookie(cookie)
    if category != "policy" or policy_set is None or not 0 <= value < len(policy_set.rules):
        return None
    return policy_set.rule(value)


def rule_label(rule: CompiledRule) -> str:
    """The rule as Traceflow's ``networkPolicyRule`` names it: its name, else its index."""
    return rule.rule_name or f"{rule.direction.lower()}[{rule.rule_index}]"


def describe_cookie(cookie: int, policy_set: PolicySet | None) -> dict:
    """``{"category", "policy", "rule"}`` for one flow."""
    category, value = decode_cookie(cookie)
    if category == "policy":
        rule = rule_of_cookie(cookie, policy_set)
        if rule is not None:
            return {"category": "policy", "policy": rule.policy_ref, "rule": rule_label(rule)}
        return {"category": "policy", "policy": None, "rule": None}
    if category == "isolation":
        return {"category": "isolation", "policy": "K8sNetworkPolicy",
                "rule": f"{_ISOLATION_DIRECTION.get(value, '?')} isolation (default deny)"}
    return {"category": category, "policy": None, "rule": None}


__all__ = ["describe_cookie", "rule_of_cookie", "rule_label"]
