"""An :class:`~labkit.nsx.planner.tiers.Observation` -> NSX Policy API bodies (pure).

What a security admin would write in NSX for an Antrea cluster (nsx.md §4.1, §5.1-5.2):

* one **Antrea group** per tier (``group_type: ["ANTREA"]``, criterion Namespace Name Equals
  ``<ns>`` AND Pod Tag Equals ``<label>|<value>``), one **scope group** for the application's
  namespaces (Namespace Name Equals, OR-ed) and, when egress is isolated, one for the cluster DNS
  (namespace ``kube-system``, pod tag ``k8s-app|kube-dns``: the peer recommend.py allows);
* one **security policy** in the Application category (NSX Intelligence recommends DFW policies
  in the Application category; nsx.md §5.3: realized in the ``nsx-category-application`` tier,
  ahead of every in-cluster policy), Applied To the registered cluster (its cluster control
  plane path), with:

  - per pair of tiers that talked, an ALLOW rule with **Sources** = the source tier and Applied
    To = the destination tier, direction IN (an Antrea ingress rule), and, when egress is
    isolated (``direction="IN_OUT"``), one with **Destinations** = the destination tier and
    Applied To = the source tier, direction OUT (an egress rule): NSX rules for Antrea set
    sources *or* destinations, the other side is the Applied To (nsx.md §5.2);
  - services: an existing NSX service with exactly that one TCP/UDP port when there is one
    (``HTTP-8080``, as NSX Intelligence reuses services), else raw ports
    (``L4PortSetServiceEntry``, at most 15 ports per entry as NSX allows);
  - DNS to the cluster DNS on TCP and UDP 53 (the seeded ``DNS`` and ``DNS-UDP`` services), when
    egress is isolated, as the K8s recommendation keeps it allowed;
  - last, a default DROP from Any to Any Applied To the scope group: direction IN_OUT isolates
    both directions (ingress and egress drop rules, as the K8s recommendation's default deny),
    IN only ingress.

Everything carries the tag ``labkit-planner|<plan name>`` so a later plan knows what it owns.
Rules keep the ``sequence_number`` they have in NSX; new allow rules go after the others and
before the default drop, so a re-plan changes only what differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from labkit.nsx.manager import paths
from labkit.nsx.planner.tiers import Observation, Tier

PLAN_TAG_SCOPE = "labkit-planner"
# The cluster DNS as recommend.py's allow_dns names it (_DNS_PEER, _DNS_PORTS).
DNS_NAMESPACE = "kube-system"
DNS_POD_TAG = "k8s-app|kube-dns"
DNS_SERVICES = (f"{paths.SERVICES}/DNS", f"{paths.SERVICES}/DNS-UDP")  # seeded: TCP 53, UDP 53
DEFAULT_DROP_SEQUENCE = 1_000_000  # rules have no upper bound; room for new allow rules before it
SEQUENCE_STEP = 10
MAX_PORTS_PER_ENTRY = 15  # NSX: at most 15 ports or ranges in one L4PortSetServiceEntry
Direction = Literal["IN_OUT", "IN"]


@dataclass(frozen=True)
class PlannedRule:
    """One rule of the plan, with what it stands for."""

    body: dict[str, Any]
    source: str  # the logical source: a group path, or ANY
    destination: str  # the logical destination: a group path, or ANY
    role: str  # allow | dns | default
    pod_pairs: int = 0  # observed pod pairs it allows


def condition(member_type: str, key: str, value: str) -> dict[str, Any]:
    cond = {"resource_type": "Condition", "member_type": member_type, "key": key, "operator": "EQUALS",
            "value": value}
    if key == "Tag":
        cond["scope_operator"] = "EQUALS"
    return cond


def criterion(conditions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One criterion as a group ``expression``: a bare Condition, or a NestedExpression of
    Conditions joined by AND (nsx.md §4.1)."""
    if len(conditions) <= 1:
        return list(conditions)
    nested: list[dict[str, Any]] = []
    for cond in conditions:
        if nested:
            nested.append({"resource_type": "ConjunctionOperator", "conjunction_operator": "AND"})
        nested.append(cond)
    return [{"resource_type": "NestedExpression", "expressions": nested}]


def any_of(criteria: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Criteria joined by OR at the top level of a group ``expression``."""
    out: list[dict[str, Any]] = []
    for c in criteria:
        if out:
            out.append({"resource_type": "ConjunctionOperator", "conjunction_operator": "OR"})
        out += c
    return out


def tier_criterion(tier: Tier) -> list[dict[str, Any]]:
    return criterion([condition("Namespace", "Name", tier.namespace),
                      *(condition("Pod", "Tag", f"{k}|{v}") for k, v in tier.labels)])


def _group(group_id: str, display_name: str, description: str, expression: list[dict[str, Any]],
           tag: str) -> dict[str, Any]:
    return {"id": group_id, "resource_type": "Group", "display_name": display_name, "description": description,
            "group_type": ["ANTREA"], "expression": expression,
            "tags": [{"scope": PLAN_TAG_SCOPE, "tag": tag}]}


def _unique(wanted: str, taken: set[str]) -> str:
    candidate, n = wanted, 2
    while candidate in taken:
        candidate, n = f"{wanted}-{n}", n + 1
    taken.add(candidate)
    return candidate


def build(obs: Observation, *, name: str, ccp_path: str, direction: Direction = "IN_OUT",
          default_action: str = "DROP", allow_dns: bool = True,
          services: dict[tuple[str, int], str] | None = None,
          existing_policy: dict[str, Any] | None = None,
          policy_sequence: int = 10) -> tuple[list[dict[str, Any]], dict[str, Any], list[PlannedRule]]:
    """Groups, the security policy (rules inline) and the rules with their meaning."""
    services = services or {}
    taken: set[str] = set()
    isolate_egress = direction == "IN_OUT"
    app = set(obs.app_namespaces)
    tiers = sorted({t for pair in obs.talks for t in pair})
    group_ids = {t: _unique(f"{name}-{t.slug}", taken) for t in tiers}
    scope_id = _unique(f"{name}-scope", taken)
    dns_id = _unique(f"{name}-dns", taken)
    path_of = {t: paths.group_path(gid) for t, gid in group_ids.items()}
    groups = [_group(group_ids[t], f"{name}: {t}", f"tier {t}, planned from observed flows",
                     tier_criterion(t), name) for t in tiers]
    groups.append(_group(scope_id, f"{name}: application scope", "the namespaces the plan isolates: "
                         + ", ".join(obs.app_namespaces),
                         any_of([[condition("Namespace", "Name", ns)] for ns in obs.app_namespaces]), name))
    scope = paths.group_path(scope_id)
    want_dns = isolate_egress and allow_dns
    if want_dns:
        groups.append(_group(dns_id, f"{name}: cluster DNS", "kube-dns pods in kube-system",
                             criterion([condition("Namespace", "Name", DNS_NAMESPACE),
                                        condition("Pod", "Tag", DNS_POD_TAG)]), name))

    old_rules = {r["id"]: r for r in (existing_policy or {}).get("rules") or []}
    default_id = "default-drop" if default_action == "DROP" else "default-reject"
    allow_seqs = [int(r.get("sequence_number", 0)) for rid, r in old_rules.items()
                  if rid not in ("default-drop", "default-reject")]
    next_seq = max(allow_seqs, default=0) + SEQUENCE_STEP

    def seq(rule_id: str) -> int:
        nonlocal next_seq
        if rule_id in old_rules:
            return int(old_rules[rule_id].get("sequence_number", 0))
        number, next_seq = next_seq, next_seq + SEQUENCE_STEP
        return number

    planned: list[PlannedRule] = []
    for (src, dst), ports in obs.talks.items():
        pairs = obs.pod_pairs(src, dst)
        base = f"allow-{src.slug}-to-{dst.slug}"
        title = f"{src} -> {dst}"
        if dst.namespace in app:
            planned.append(PlannedRule(_rule(base, title, sources=[path_of[src]], scope=[path_of[dst]],
                                             ports=ports, services=services, direction="IN"),
                                       path_of[src], path_of[dst], "allow", pairs))
        if isolate_egress and src.namespace in app:
            planned.append(PlannedRule(_rule(base + "-egress", title + " (egress)", destinations=[path_of[dst]],
                                             scope=[path_of[src]], ports=ports, services=services,
                                             direction="OUT"),
                                       path_of[src], path_of[dst], "allow", pairs))
    if want_dns:
        body = _rule("allow-dns", "application -> cluster DNS", destinations=[paths.group_path(dns_id)],
                     scope=[scope], ports=set(), services={}, direction="OUT")
        body["services"] = list(DNS_SERVICES)
        planned.append(PlannedRule(body, scope, paths.group_path(dns_id), "dns"))
    for rule in planned:
        rule.body["sequence_number"] = seq(rule.body["id"])
    default = _rule(default_id, f"default {default_action.lower()} for the application", scope=[scope], ports=set(),
                    services={}, direction=direction, action=default_action)
    default["sequence_number"] = int(old_rules[default_id]["sequence_number"]) if default_id in old_rules \
        else DEFAULT_DROP_SEQUENCE
    planned.append(PlannedRule(default, "ANY", scope, "default"))

    policy_id = f"{name}-segmentation"
    policy = {"id": policy_id, "resource_type": "SecurityPolicy",
              "display_name": f"{name} micro-segmentation (planned from flows)",
              "description": f"allows the flows observed between the tiers of {name}; drops the rest in "
                             f"the application's scope (group {scope_id})",
              "category": "Application",
              "sequence_number": int((existing_policy or {}).get("sequence_number", policy_sequence)),
              "scope": [ccp_path], "tags": [{"scope": PLAN_TAG_SCOPE, "tag": name}],
              "rules": [r.body for r in planned]}
    return groups, policy, planned


def _rule(rule_id: str, title: str, *, scope: list[str], ports: set[tuple[str, int]],
          services: dict[tuple[str, int], str], direction: str, sources: list[str] | None = None,
          destinations: list[str] | None = None, action: str = "ALLOW") -> dict[str, Any]:
    """A complete Rule body: every field set, so a PATCH (which merges) leaves nothing behind."""
    paths_, entries = _services(ports, services)
    return {"id": rule_id, "resource_type": "Rule", "display_name": title,
            "source_groups": sources or ["ANY"], "destination_groups": destinations or ["ANY"],
            "scope": scope, "services": paths_ or ["ANY"], "service_entries": entries, "action": action,
            "direction": direction, "ip_protocol": "IPV4_IPV6", "logged": False, "disabled": False}


def _services(ports: set[tuple[str, int]], known: dict[tuple[str, int], str]) -> tuple[list[str], list[dict[str, Any]]]:
    found = sorted({known[p] for p in ports if p in known})
    raw: dict[str, list[int]] = {}
    for protocol, port in sorted(p for p in ports if p not in known):
        raw.setdefault(protocol, []).append(port)
    entries = []
    for protocol, numbers in raw.items():
        for start in range(0, len(numbers), MAX_PORTS_PER_ENTRY):
            chunk = numbers[start:start + MAX_PORTS_PER_ENTRY]
            entries.append({"resource_type": "L4PortSetServiceEntry",
                            "id": f"{protocol.lower()}-{'-'.join(map(str, chunk))}"[:64],
                            "l4_protocol": protocol, "destination_ports": [str(p) for p in chunk]})
    return found, entries


__all__ = ["DEFAULT_DROP_SEQUENCE", "PLAN_TAG_SCOPE", "PlannedRule", "build", "condition", "criterion",
           "tier_criterion"]
