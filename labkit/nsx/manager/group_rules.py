"""How NSX validates a group's ``expression``, Antrea groups in particular (no I/O).

Reproduced from the NSX Admin Guide, "Antrea Groups" and "Add an Antrea Group" (nsx.md §4.1):

- ``group_type: ["ANTREA"]`` marks an Antrea group; other values ``IPAddress``,
  ``BareMetalServer``; empty = Generic. The type cannot change once saved.
- Grammar: criteria separated by ``ConjunctionOperator``; a criterion is a bare ``Condition``, a
  ``NestedExpression`` whose ``expressions`` alternate Condition and ConjunctionOperator **AND**,
  or an ``IPAddressExpression`` (the only static members an Antrea group may have).
- Allowed criteria: Namespace Name EQUALS; Namespace Tag EQUALS/NOTEQUALS (scope_operator
  EQUALS); Pod Tag EQUALS/NOTEQUALS (scope_operator EQUALS); Service Name EQUALS, which must be
  ANDed with a Namespace Name condition and never with a Pod condition. CONTAINS, STARTSWITH,
  ENDSWITH (and any other operator) are not supported.
- Criteria are ORed; AND between two criteria only when both are single conditions of the same
  member type.

Every problem is reported, with its field path (``expression[0].expressions[2].operator``).
"""

from __future__ import annotations

import ipaddress
from typing import Any

GROUP_TYPES = ("ANTREA", "IPAddress", "BareMetalServer")
ANTREA_MEMBER_TYPES = ("Namespace", "Pod", "Service")
# (member_type, key) -> operators allowed in an Antrea group.
ANTREA_CRITERIA: dict[tuple[str, str], tuple[str, ...]] = {
    ("Namespace", "Name"): ("EQUALS",),
    ("Namespace", "Tag"): ("EQUALS", "NOTEQUALS"),
    ("Pod", "Tag"): ("EQUALS", "NOTEQUALS"),
    ("Service", "Name"): ("EQUALS",),
}
CONDITION_OPERATORS = ("EQUALS", "NOTEQUALS", "CONTAINS", "STARTSWITH", "ENDSWITH", "IN", "NOTIN",
                       "MATCHES")
EXPRESSION_TYPES = ("Condition", "NestedExpression", "ConjunctionOperator", "IPAddressExpression",
                    "PathExpression", "ExternalIDExpression", "MACAddressExpression",
                    "IdentityGroupExpression")


def is_antrea(group: dict[str, Any]) -> bool:
    return "ANTREA" in (group.get("group_type") or [])


def has_ip_members(group: dict[str, Any]) -> bool:
    return any(e.get("resource_type") == "IPAddressExpression" for e in group.get("expression") or []
               if isinstance(e, dict))


def group_problems(group: dict[str, Any], old: dict[str, Any] | None) -> list[str]:
    """Every problem of ``group`` (the version about to be stored); ``old`` is the stored one."""
    problems: list[str] = []
    group_type = group.get("group_type", [])
    if not isinstance(group_type, list):
        return [f"group_type must be a list such as [\"ANTREA\"], got {group_type!r}"]
    for i, t in enumerate(group_type):
        if t not in GROUP_TYPES:
            problems.append(f"group_type[{i}] {t!r} must be one of {', '.join(GROUP_TYPES)}")
    if old is not None and sorted(old.get("group_type") or []) != sorted(group_type):
        problems.append(
            f"group_type cannot be changed once saved ({old.get('group_type') or 'Generic'} -> "
            f"{group_type or 'Generic'}): create a new group instead"
        )
    expression = group.get("expression", [])
    if not isinstance(expression, list):
        return problems + ["expression must be a list"]
    if is_antrea(group):
        problems += _antrea_problems(expression)
    else:
        problems += _generic_problems(expression)
    return problems


# -- Antrea groups -----------------------------------------------------------------------------
def _antrea_problems(expression: list[Any]) -> list[str]:
    problems: list[str] = []
    if len(expression) % 2 == 0 and expression:
        problems.append(f"expression[{len(expression) - 1}]: the expression cannot end with a "
                        "ConjunctionOperator")
    for i, expr in enumerate(expression):
        where = f"expression[{i}]"
        if not isinstance(expr, dict):
            problems.append(f"{where} must be an object")
            continue
        rt = expr.get("resource_type")
        if i % 2 == 1:
            if rt != "ConjunctionOperator":
                problems.append(f"{where}: criteria must be separated by a ConjunctionOperator, "
                                f"found {rt}")
            else:
                problems += _top_conjunction_problems(expression, i)
            continue
        if rt == "Condition":
            problems += _condition_problems(expr, where)
            if expr.get("member_type") == "Service":
                problems.append(f"{where}: a Service condition must be ANDed with a Namespace Name "
                                "condition in one criterion (a NestedExpression)")
        elif rt == "NestedExpression":
            problems += _nested_problems(expr, where)
        elif rt == "IPAddressExpression":
            problems += _ip_problems(expr, where)
        elif rt == "ConjunctionOperator":
            problems.append(f"{where}: a criterion was expected, found a ConjunctionOperator")
        else:
            problems.append(
                f"{where}: {rt} is not allowed in an Antrea group: use Condition, NestedExpression "
                "or IPAddressExpression (Namespaces, Pods and Services cannot be static members)"
            )
    return problems


def _top_conjunction_problems(expression: list[Any], i: int) -> list[str]:
    op = expression[i].get("conjunction_operator")
    if op not in ("AND", "OR"):
        return [f"expression[{i}].conjunction_operator {op!r} must be AND or OR"]
    if op == "OR" or i + 1 >= len(expression):
        return []
    left, right = expression[i - 1], expression[i + 1]
    if not (isinstance(left, dict) and isinstance(right, dict)):
        return []
    same = (
        left.get("resource_type") == right.get("resource_type") == "Condition"
        and left.get("member_type") == right.get("member_type")
    )
    if same:
        return []
    return [
        f"expression[{i}]: AND between criteria is allowed only when both are single conditions "
        "of the same member type; otherwise use OR, or put the conditions in one NestedExpression"
    ]


def _nested_problems(expr: dict[str, Any], where: str) -> list[str]:
    problems: list[str] = []
    inner = expr.get("expressions")
    if not isinstance(inner, list) or not inner:
        return [f"{where}.expressions must be a non-empty list"]
    if len(inner) % 2 == 0:
        problems.append(f"{where}.expressions[{len(inner) - 1}]: cannot end with a ConjunctionOperator")
    members: dict[str, list[dict[str, Any]]] = {}
    for j, sub in enumerate(inner):
        sub_where = f"{where}.expressions[{j}]"
        if not isinstance(sub, dict):
            problems.append(f"{sub_where} must be an object")
            continue
        rt = sub.get("resource_type")
        if j % 2 == 1:
            if rt != "ConjunctionOperator":
                problems.append(f"{sub_where}: conditions must be joined by a ConjunctionOperator, "
                                f"found {rt}")
            elif sub.get("conjunction_operator") != "AND":
                problems.append(f"{sub_where}.conjunction_operator {sub.get('conjunction_operator')!r}:"
                                " conditions within a criterion are always ANDed")
        elif rt != "Condition":
            problems.append(f"{sub_where}: only Condition may appear inside a NestedExpression of an "
                            f"Antrea group, found {rt}")
        else:
            problems += _condition_problems(sub, sub_where)
            members.setdefault(str(sub.get("member_type")), []).append(sub)
    if "Service" in members:
        if "Pod" in members:
            problems.append(f"{where}: a Service condition cannot be combined with a Pod condition")
        if not any(c.get("key") == "Name" for c in members.get("Namespace", [])):
            problems.append(f"{where}: a Service condition must be ANDed with a Namespace Name "
                            "condition")
        if len(members["Service"]) > 1:
            problems.append(f"{where}: at most one Service condition per criterion")
    return problems


def _condition_problems(cond: dict[str, Any], where: str) -> list[str]:
    problems: list[str] = []
    member, key, op = cond.get("member_type"), cond.get("key"), cond.get("operator")
    if member not in ANTREA_MEMBER_TYPES:
        return [f"{where}.member_type {member!r} is not allowed in an Antrea group; use "
                f"{', '.join(ANTREA_MEMBER_TYPES)}"]
    allowed = ANTREA_CRITERIA.get((member, key))
    if allowed is None:
        keys = [k for (m, k) in ANTREA_CRITERIA if m == member]
        return [f"{where}.key {key!r} is not allowed for member_type {member}; use {' or '.join(keys)}"]
    if op not in allowed:
        why = "not supported for Antrea groups" if op in CONDITION_OPERATORS else "unknown"
        problems.append(f"{where}.operator {op!r} is {why}; {member} {key} allows "
                        f"{' or '.join(allowed)}")
    scope_op = cond.get("scope_operator")
    if scope_op is not None:
        if key != "Tag":
            problems.append(f"{where}.scope_operator applies to Tag conditions only")
        elif scope_op != "EQUALS":
            problems.append(f"{where}.scope_operator {scope_op!r}: Antrea groups allow EQUALS only")
    value = cond.get("value")
    if not isinstance(value, str) or not value:
        problems.append(f"{where}.value is required")
    elif key == "Tag" and "|" in value and not value.split("|", 1)[1]:
        problems.append(f"{where}.value {value!r}: write a tag as 'scope|tag' with a non-empty tag")
    return problems


def _ip_problems(expr: dict[str, Any], where: str) -> list[str]:
    ips = expr.get("ip_addresses")
    if not isinstance(ips, list) or not ips:
        return [f"{where}.ip_addresses must be a non-empty list of IPs, ranges or CIDRs"]
    problems = []
    for k, ip in enumerate(ips):
        if not _valid_ip_member(ip):
            problems.append(f"{where}.ip_addresses[{k}] {ip!r} is not an IP address, range "
                            "(a-b) or CIDR")
    return problems


def _valid_ip_member(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        if "-" in value:
            start, end = value.split("-", 1)
            return ipaddress.ip_address(start.strip()) <= ipaddress.ip_address(end.strip())
        ipaddress.ip_network(value, strict=False)
        return True
    except (ValueError, TypeError):
        return False


# -- Generic groups: the common grammar only ---------------------------------------------------
def _generic_problems(expression: list[Any]) -> list[str]:
    problems: list[str] = []
    for i, expr in enumerate(expression):
        where = f"expression[{i}]"
        if not isinstance(expr, dict):
            problems.append(f"{where} must be an object")
            continue
        rt = expr.get("resource_type")
        if rt not in EXPRESSION_TYPES:
            problems.append(f"{where}.resource_type {rt!r} must be one of {', '.join(EXPRESSION_TYPES)}")
        elif (i % 2 == 1) != (rt == "ConjunctionOperator"):
            problems.append(f"{where}: criteria and ConjunctionOperators must alternate")
        elif rt == "Condition":
            for name in ("member_type", "key", "value"):
                if not expr.get(name) and not (name == "value" and expr.get("scope_operator")):
                    problems.append(f"{where}.{name} is required")
            if expr.get("operator") is not None and expr.get("operator") not in CONDITION_OPERATORS:
                problems.append(f"{where}.operator {expr.get('operator')!r} must be one of "
                                f"{', '.join(CONDITION_OPERATORS)}")
        elif rt == "IPAddressExpression":
            problems += _ip_problems(expr, where)
    return problems
