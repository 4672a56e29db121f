"""Warnings about policies that are legal but probably not what the author meant.

Each finding cites the Antrea behaviour behind it:
* rules of different policies at the same tier, priority and rule index that overlap with
  different actions: Antrea documents the outcome as nondeterministic;
* references to ClusterGroups/Groups that do not exist (yet): allowed by Antrea, they select nothing;
* an appliedTo that selects no pod: the policy is realized on no Node;
* an Antrea NetworkPolicy applied to a Group with Pods in other Namespaces: not realizable
  (Realizable=False, NetworkPolicyAppliedToUnsupportedGroup), none of its rules is enforced;
* an appliedTo group defined by ipBlocks: ignored, it applies the policy to no Pod; an ipBlocks
  child of an appliedTo group contributes no Pod (docs/antrea-network-policy.md, crd_utils.go
  createAppliedToGroupForGroup);
* Allow rules in the baseline tier: they cannot undo K8s NetworkPolicy isolation (docs: "Allow in
  baseline is rarely useful");
* a rule that can never match because an earlier rule of the same stage always wins first;
* fqdn peers that cannot select a Pod: a ClusterIP Service's name (Antrea enforces policy after
  AntreaProxy rewrote the ClusterIP: docs "FQDN based filtering"), a name ending in '.', or a
  name outside the cluster (see labkit.policy.dns).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

from ..model.cluster import ClusterState
from ..model.objects import ACNP, BASELINE_TIER_NAME, AntreaPolicy, AppliedTo, Group, ObjectRef
from .compiler import CompiledRule, PolicySet, antrea_policy_ref
from .dns import DNSRecord, cluster_dns, fqdn_records
from .status import UNSUPPORTED_GROUP


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


def _ip_block_applied_to(state: ClusterState, policy: AntreaPolicy) -> list[str]:
    """Messages for appliedTo entries whose group is, or has children, defined by ipBlocks."""
    group_kind = "ClusterGroup" if policy.kind == ACNP else "Group"
    entries: list[AppliedTo] = list(policy.applied_to) + [a for r in policy.ingress + policy.egress
                                                         for a in r.applied_to]
    out: list[str] = []

    def get(name: str) -> Group | None:
        obj = state.objects.get(ObjectRef("crd.antrea.io", group_kind, policy.namespace, name))
        return obj if isinstance(obj, Group) else None

    for name in dict.fromkeys(e.group for e in entries if e.group):
        group = get(name)
        if group is None:
            continue
        if group.ip_blocks and not group.child_groups:
            out.append(f"appliedTo {group_kind} {name!r} is defined by ipBlocks: Antrea ignores it in appliedTo "
                       "(it selects no Pod, not even Pods whose IP is in the block), so it applies the policy to "
                       "nothing; select the Pods with podSelector/namespaceSelector, and keep ipBlocks for peers")
        for child in group.child_groups:
            c = get(child)
            if c is not None and c.ip_blocks:
                out.append(f"appliedTo {group_kind} {name!r}: its child {child!r} is defined by ipBlocks and "
                           "contributes no Pod to appliedTo (Antrea applies the policy to the Pods the other "
                           "children select)")
    return out


def _fqdn_findings(state: ClusterState, policy: AntreaPolicy, records: dict[str, DNSRecord]) -> list[Finding]:
    ref = antrea_policy_ref(policy)
    out = []
    for rule in policy.egress:
        for peer in rule.peers:
            if not peer.fqdn:
                continue
            what = f"egress rule {rule.name} fqdn {peer.fqdn!r}"
            found = fqdn_records(peer.fqdn, records, state)
            if peer.fqdn.endswith("."):
                out.append(Finding("warning", ref, f"{what} ends with '.': Antrea compares DNS names without the "
                                                   "final dot, so it matches nothing; remove the dot"))
            elif found and not any(r.pods for r in found):
                out.append(Finding("warning", ref, f"{what} only names {found[0].what}: Antrea enforces policy after "
                                                   "AntreaProxy has replaced the ClusterIP by an endpoint, so the "
                                                   "rule has no effect; make the Service headless (clusterIP: None) "
                                                   "or select its Pods with podSelector / a serviceReference group"))
            elif not found:
                out.append(Finding("info", ref, f"{what} matches no name of the cluster's DNS: it selects "
                                                "addresses outside the lab's pod network, which the lab's probes "
                                                "never reach"))
    return out


def lint(state: ClusterState, policy_set: PolicySet) -> list[Finding]:
    findings: list[Finding] = []
    records: dict[str, DNSRecord] | None = None
    for ref, reason in policy_set.unrealizable.items():
        namespace = ref.partition(":")[2].partition("/")[0]
        findings.append(Finding("warning", ref, f"not realized (Realizable=False, {UNSUPPORTED_GROUP}): {reason}; "
                                               "Antrea enforces none of its rules. An Antrea NetworkPolicy applies "
                                               f"only to Pods of its own Namespace: use Groups that select Pods of "
                                               f"{namespace!r} only, or a ClusterNetworkPolicy"))
    for policy in state.antrea_policies:
        ref = antrea_policy_ref(policy)
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
        findings += [Finding("warning", ref, message) for message in _ip_block_applied_to(state, policy)]
        if any(peer.fqdn for rule in policy.egress for peer in rule.peers):
            records = records if records is not None else cluster_dns(state)
            findings += _fqdn_findings(state, policy, records)
        if policy.tier == BASELINE_TIER_NAME and any(r.action == "Allow" for r in policy.ingress + policy.egress):
            findings.append(Finding("info", ref, "Allow in the baseline tier cannot re-open traffic that a K8s "
                                                 "NetworkPolicy isolates; it only matters for non-isolated pods"))
        if ref not in policy_set.unrealizable and not policy_set.applied_to.get(ref):
            findings.append(Finding("info", ref, "appliedTo selects no pod: the policy has no effect now"))
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
                    if _covers(first, later):
                        key = (later.policy_ref, later.rule_name)
                        if key not in seen:
                            seen.add(key)
                            findings.append(Finding("info", later.policy_ref,
                                                    f"{direction.lower()} rule {later.rule_name} never matches: "
                                                    f"{first.describe()} is evaluated first and covers it"))
                        break
    return findings
