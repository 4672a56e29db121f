"""Warnings about policies that are legal but probably not what the author meant.

Each finding cites the Antrea behaviour behind it:
* rules of different policies at the same tier, priority and rule index that overlap with
  different actions: Antrea documents the outcome as nondeterministic;
* references to ClusterGroups/Groups that do not exist (yet): allowed by Antrea, they select nothing;
* an appliedTo that selects no pod: the policy is realized on no Node;
* an Antrea NetworkPolicy applied to a Group with a namespaceSelector: not realizable
  (NetworkPolicyAppliedToUnsupportedGroup);
* Allow rules in the baseline tier: they cannot undo K8s NetworkPolicy isolation (docs: "Allow in
  baseline is rarely useful");
* a rule that can never match because an earlier rule of the same stage always wins first.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

from ..model.cluster import ClusterState
from ..model.objects import ACNP, BASELINE_TIER_NAME, ObjectRef
from .compiler import CompiledRule, PolicySet


@dataclass(frozen=True)
class Finding:
    severity: str  # warning | info
    policy: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.policy}: {self.message}"


def _overlap(a: CompiledRule, b: CompiledRule) -> bool:
    return bool(a.applied_to & b.applied_to) and bool(a.peers.pods & b.peers.pods or
                                                      (a.peers.any_address and b.peers.any_address))


def _covers(first: CompiledRule, later: CompiledRule) -> bool:
    """Does ``first`` match every connection ``later`` matches (ignoring named-port subtleties)?"""
    if not first.matches_all_services and (first.ports, first.icmp) != (later.ports, later.icmp):
        return False
    if later.to_services or first.to_services:
        return False
    if not later.applied_to or not (later.peers.pods or later.peers.any_address):
        return False
    peers_ok = first.peers.any_address or (not later.peers.any_address and later.peers.pods <= first.peers.pods)
    return later.applied_to <= first.applied_to and peers_ok


def lint(state: ClusterState, policy_set: PolicySet) -> list[Finding]:
    findings: list[Finding] = []
    for ref, reason in policy_set.unrealizable.items():
        findings.append(Finding("warning", ref, f"not realized: {reason}"))
    for policy in state.antrea_policies:
        kind = "AntreaClusterNetworkPolicy" if policy.kind == ACNP else "AntreaNetworkPolicy"
        ref = f"{kind}:{policy.name}" if policy.kind == ACNP else f"{kind}:{policy.namespace}/{policy.name}"
        group_kind = "ClusterGroup" if policy.kind == ACNP else "Group"
        entries = list(policy.applied_to)
        for rule in policy.ingress + policy.egress:
            entries += list(rule.applied_to)
            for peer in rule.peers:
                if peer.group:
                    entries.append(peer)
        for entry in entries:
            name = getattr(entry, "group", "")
            if name and state.objects.get(ObjectRef("crd.antrea.io", group_kind, policy.namespace, name)) is None:
                findings.append(Finding("warning", ref, f"{group_kind} {name!r} does not exist (yet): it selects "
                                                        "nothing until it is created"))
        if policy.tier == BASELINE_TIER_NAME and any(r.action == "Allow" for r in policy.ingress + policy.egress):
            findings.append(Finding("info", ref, "Allow in the baseline tier cannot re-open traffic that a K8s "
                                                 "NetworkPolicy isolates; it only matters for non-isolated pods"))
    applied: dict[str, set[str]] = {}
    for rule in policy_set.rules:
        applied.setdefault(rule.policy_ref, set()).update(rule.applied_to)
    for policy_ref, pods in applied.items():
        if not pods and not policy_ref.startswith("K8sNetworkPolicy") and policy_ref not in policy_set.unrealizable:
            findings.append(Finding("info", policy_ref, "appliedTo selects no pod: the policy has no effect now"))
    for stage in ("antrea", "baseline"):
        for direction in ("Egress", "Ingress"):
            rules = policy_set.ordered(stage, direction)
            for a, b in combinations(rules, 2):
                same_slot = (a.tier_priority, a.policy_priority, a.rule_index) == \
                    (b.tier_priority, b.policy_priority, b.rule_index)
                if same_slot and a.policy_ref != b.policy_ref and a.action != b.action and _overlap(a, b):
                    findings.append(Finding(
                        "warning", a.policy_ref,
                        f"rule {a.rule_name} and {b.policy_ref} rule {b.rule_name} share tier {a.tier}, priority "
                        f"{a.policy_priority} and rule index {a.rule_index} but act differently ({a.action} vs "
                        f"{b.action}) on overlapping traffic: Antrea's order between them is nondeterministic"))
            seen: set[tuple] = set()
            for i, later in enumerate(rules):
                for first in rules[:i]:
                    if first.policy_ref == later.policy_ref and first.rule_index == later.rule_index:
                        continue  # parts of one rule split per namespace
                    if (first.tier_priority, first.policy_priority, first.rule_index) == \
                            (later.tier_priority, later.policy_priority, later.rule_index):
                        continue  # a tie: neither is "evaluated first" (reported above when the actions differ)
                    if _covers(first, later):
                        key = (later.policy_ref, later.rule_name)
                        if key not in seen:
                            seen.add(key)
                            findings.append(Finding("info", later.policy_ref,
                                                    f"{direction.lower()} rule {later.rule_name} never matches: "
                                                    f"{first.describe()} is evaluated first and covers it"))
                        break
    return findings
