"""What NSX accepts in a security policy, and the extra limits of Antrea-scoped policies.

Reproduced (nsx.md §5.1-5.2; Admin Guide "Add a Distributed Firewall Policy to Secure Traffic
Within an Antrea Kubernetes Cluster" and its limitations page):

Every policy: ``category`` is Ethernet, Emergency, Infrastructure, Environment or Application;
rule ``action`` ALLOW, DROP, REJECT or JUMP_TO_APPLICATION (Environment only); ``direction`` IN,
OUT or IN_OUT; ``ip_protocol`` IPV4, IPV6 or IPV4_IPV6; group and service lists are ``["ANY"]``
or paths of existing objects (a path that names nothing -> 400/500012).

Antrea-scoped policies (Applied To = Antrea clusters):
- category not Ethernet (no L2 rules);
- sources, destinations and Applied To (policy and rule level) hold only Antrea groups
  (``group_type: ["ANTREA"]``), never Generic or IP-only groups; Antrea groups with IP members
  cannot be used in Applied To;
- services: TCP/UDP only (L4PortSetServiceEntry), destination ports only (no source ports);
- no negated sources/destinations (``sources_excluded``/``destinations_excluded``), no L7/context
  profiles; JUMP_TO_APPLICATION is not an Antrea action;
- a rule sets sources or destinations, not both (the other side is the Applied To);
- once applied to Antrea clusters, Applied To cannot be switched back to DFW.
An Antrea group may only be used by an Antrea-scoped policy [I: the NSX UI offers Antrea groups
only there].
"""

from __future__ import annotations

from typing import Any

from labkit.nsx.manager import paths
from labkit.nsx.manager.group_rules import has_ip_members, is_antrea
from labkit.nsx.manager.policy_schema import (  # noqa: F401 - the enums and defaults, re-exported
    ACTIONS,
    ANTREA_ACTIONS,
    ANTREA_CATEGORIES,
    CATEGORIES,
    DIRECTIONS,
    IP_PROTOCOLS,
    POLICY_DEFAULTS,
    POLICY_SEQUENCE_MAX,
    RULE_DEFAULTS,
    SEQUENCE_MIN,
)
from labkit.nsx.manager.services import l4_entry_problems
from labkit.nsx.manager.store import ObjectStore

def is_any(values: Any) -> bool:
    return not values or values == ["ANY"]


def sequence_problems(value: Any, where: str, maximum: int | None = None) -> list[str]:
    """``value`` as a ``sequence_number``: an integer >= 0 (and <= ``maximum``)."""
    bounds = f"between {SEQUENCE_MIN} and {maximum}" if maximum is not None else f">= {SEQUENCE_MIN}"
    if isinstance(value, bool) or not isinstance(value, int) or value < SEQUENCE_MIN or (
            maximum is not None and value > maximum):
        return [f"{where} {value!r} must be an integer {bounds}"]
    return []


def sequence_key(obj: dict[str, Any]) -> tuple[int, str]:
    """Evaluation order of policies or rules: ``sequence_number``, then id. Total even before
    validation (a non-integer sorts as 0, and is refused by :func:`sequence_problems`)."""
    value = obj.get("sequence_number", 0)
    if isinstance(value, bool) or not isinstance(value, int):
        value = 0
    return (value, str(obj.get("id", "")))


def policy_problems(
    store: ObjectStore,
    policy: dict[str, Any],
    rules: list[dict[str, Any]],
    clusters: list[str],
    *,
    was_antrea: bool,
) -> list[str]:
    """Every problem of ``policy`` with its final ``rules``; ``clusters`` = its CCP span."""
    problems: list[str] = []
    antrea = bool(clusters)
    category = policy.get("category")
    if category not in CATEGORIES:
        problems.append(f"category {category!r} must be one of {', '.join(CATEGORIES)}")
    elif antrea and category not in ANTREA_CATEGORIES:
        problems.append(f"category {category} is not supported for Antrea clusters (no L2 rules); "
                        f"use one of {', '.join(ANTREA_CATEGORIES)}")
    if was_antrea and not antrea:
        problems.append("scope: a policy applied to Antrea clusters cannot be switched to DFW; "
                        "delete it and create a new one")
    problems += sequence_problems(policy.get("sequence_number", 0), "sequence_number", POLICY_SEQUENCE_MAX)
    problems += _scope_problems(store, policy.get("scope"), "scope", antrea)
    for cluster in clusters:
        if store.get(cluster) is None:
            problems.append(f"scope: {cluster} is not a registered cluster control plane")
    seen_ids: set[str] = set()
    for i, rule in enumerate(rules):
        where = f"rules[{i}] ({rule.get('id')})"
        if rule.get("id") in seen_ids:
            problems.append(f"{where}: duplicate rule id")
        seen_ids.add(str(rule.get("id")))
        problems += _rule_problems(store, rule, where, antrea, category)
    return problems


def _rule_problems(store: ObjectStore, rule: dict[str, Any], where: str, antrea: bool,
                   category: Any) -> list[str]:
    problems = sequence_problems(rule.get("sequence_number", 0), f"{where}.sequence_number")
    action = rule.get("action")
    if action not in ACTIONS:
        problems.append(f"{where}.action {action!r} must be one of {', '.join(ACTIONS)}")
    elif action == "JUMP_TO_APPLICATION" and category != "Environment":
        problems.append(f"{where}.action JUMP_TO_APPLICATION is allowed in the Environment category only")
    elif antrea and action not in ANTREA_ACTIONS:
        problems.append(f"{where}.action {action} is not supported for Antrea clusters; use "
                        f"{', '.join(ANTREA_ACTIONS)}")
    if rule.get("direction") not in DIRECTIONS:
        problems.append(f"{where}.direction {rule.get('direction')!r} must be one of {', '.join(DIRECTIONS)}")
    if rule.get("ip_protocol") not in IP_PROTOCOLS:
        problems.append(f"{where}.ip_protocol {rule.get('ip_protocol')!r} must be one of "
                        f"{', '.join(IP_PROTOCOLS)}")
    for name in ("source_groups", "destination_groups"):
        problems += _group_list_problems(store, rule.get(name), f"{where}.{name}", antrea)
    problems += _scope_problems(store, rule.get("scope"), f"{where}.scope", antrea, rule_level=True)
    problems += _service_problems(store, rule, where, antrea)
    if antrea:
        if not is_any(rule.get("source_groups")) and not is_any(rule.get("destination_groups")):
            problems.append(f"{where}: set sources or destinations, not both: for Antrea clusters "
                            "the other side is the Applied To (scope)")
        for name in ("sources_excluded", "destinations_excluded"):
            if rule.get(name):
                problems.append(f"{where}.{name}: negated sources/destinations are not supported "
                                "for Antrea clusters")
        if not is_any(rule.get("profiles")):
            problems.append(f"{where}.profiles: L7 and context profiles are not supported for "
                            "Antrea clusters")
    return problems


def _group_list_problems(store: ObjectStore, values: Any, where: str, antrea: bool) -> list[str]:
    if not isinstance(values, list):
        return [f"{where} must be a list of group paths or [\"ANY\"]"]
    if "ANY" in values and len(values) > 1:
        return [f"{where}: ANY cannot be combined with group paths"]
    problems = []
    for k, value in enumerate(values):
        if value == "ANY":
            continue
        problems += _group_problems(store, value, f"{where}[{k}]", antrea, applied_to=False)
    return problems


def _scope_problems(store: ObjectStore, values: Any, where: str, antrea: bool,
                    rule_level: bool = False) -> list[str]:
    if not isinstance(values, list):
        return [f"{where} must be a list of paths or [\"ANY\"]"]
    if "ANY" in values and len(values) > 1:
        return [f"{where}: ANY cannot be combined with paths"]
    problems = []
    for k, value in enumerate(values):
        if value == "ANY" or (paths.is_ccp_path(value) and not rule_level):
            continue
        if paths.is_ccp_path(value):
            problems.append(f"{where}[{k}]: cluster control planes go in the policy's scope, "
                            "not a rule's")
            continue
        problems += _group_problems(store, value, f"{where}[{k}]", antrea, applied_to=True)
    return problems


def _group_problems(store: ObjectStore, path: Any, where: str, antrea: bool, *,
                    applied_to: bool) -> list[str]:
    if not paths.is_group_path(path):
        return [f"{where} {path!r} is not a group path (/infra/domains/default/groups/<id>)"]
    group = store.get(path)
    if group is None:
        return [f"{where}: Invalid path {path}: no such group"]
    if antrea and not is_antrea(group):
        kind = "an IP-only" if "IPAddress" in (group.get("group_type") or []) else "a Generic"
        return [f"{where}: {path} is {kind} group; policies applied to Antrea clusters accept "
                "only Antrea groups (group_type [\"ANTREA\"])"]
    if antrea and applied_to and has_ip_members(group):
        return [f"{where}: Antrea group {path} has IP addresses and cannot be used in Applied To"]
    if not antrea and is_antrea(group):
        return [f"{where}: {path} is an Antrea group; use it only in policies applied to Antrea "
                "clusters (scope = cluster control plane paths)"]
    return []


def _service_problems(store: ObjectStore, rule: dict[str, Any], where: str, antrea: bool) -> list[str]:
    problems: list[str] = []
    services = rule.get("services")
    if not isinstance(services, list):
        return [f"{where}.services must be a list of service paths or [\"ANY\"]"]
    for k, path in enumerate(services):
        if path == "ANY":
            continue
        service = store.get(path) if isinstance(path, str) and path.startswith(paths.SERVICES + "/") else None
        if service is None:
            problems.append(f"{where}.services[{k}]: Invalid path {path!r}: no such service")
            continue
        if antrea:
            problems += _antrea_entry_problems(service.get("service_entries") or [],
                                               f"{where}.services[{k}] ({path})")
    entries = rule.get("service_entries") or []
    if not isinstance(entries, list):
        return problems + [f"{where}.service_entries must be a list"]
    for k, entry in enumerate(entries):
        entry_where = f"{where}.service_entries[{k}]"
        if isinstance(entry, dict) and entry.get("resource_type") == "L4PortSetServiceEntry":
            problems += l4_entry_problems(entry, entry_where)
    if antrea:
        problems += _antrea_entry_problems(entries, f"{where}.service_entries")
    return problems


def _antrea_entry_problems(entries: list[Any], where: str) -> list[str]:
    problems = []
    for k, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        rt = entry.get("resource_type")
        if rt != "L4PortSetServiceEntry" or entry.get("l4_protocol") not in ("TCP", "UDP"):
            what = entry.get("l4_protocol") or rt
            problems.append(f"{where}[{k}]: {what} is not supported for Antrea clusters; only TCP "
                            "and UDP services")
        elif entry.get("source_ports"):
            problems.append(f"{where}[{k}]: source ports are not supported for Antrea clusters; "
                            "use destination ports only")
    return problems
