"""ClusterState -> PolicySet: what antrea-controller computes, backend-neutral.

Each user rule becomes one or more :class:`CompiledRule` (an applied-to pod set, a peer address
set, services, an action) placed in one of three stages per direction, in evaluation order:

* ``antrea``   Antrea-native rules of every non-baseline tier (AntreaPolicy{Egress,Ingress}Rule
               tables), ordered by tier priority, then policy priority, then rule index;
* ``k8s``      K8s NetworkPolicy allow rules (EgressRule/IngressRule) plus per-pod isolation;
* ``baseline`` Antrea-native baseline-tier rules (in *DefaultRule, below K8s isolation drops).

As in antrea-controller, a rule whose peers use ``namespaces: {match: Self}`` or ``sameLabels``
is split into one internal rule per namespace (or per set of namespaces sharing the label
values), so every internal rule is a plain "applied-to x peers" rectangle.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable

from ..model.cluster import ClusterState
from ..model.objects import (
    ACNP,
    BASELINE_TIER_NAME,
    AntreaPeer,
    AntreaPolicy,
    AntreaRule,
    AppliedTo,
    ICMPSpec,
    K8sNetworkPolicy,
    PortSpec,
)
from .dns import DNSRecord, cluster_dns, fqdn_members
from .groups import EMPTY, Members, Selection

STAGES = ("antrea", "k8s", "baseline")
DIRECTIONS = ("Egress", "Ingress")


def antrea_policy_ref(policy: AntreaPolicy) -> str:
    """``AntreaClusterNetworkPolicy:name`` or ``AntreaNetworkPolicy:ns/name`` (see policy_ref_string)."""
    kind = "AntreaClusterNetworkPolicy" if policy.kind == ACNP else "AntreaNetworkPolicy"
    return policy_ref_string(kind, policy.namespace, policy.name)


def policy_ref_string(kind: str, namespace: str, name: str) -> str:
    """Policy reference as Antrea prints it in Traceflow and audit logs."""
    if kind == "K8sNetworkPolicy":
        return f"K8sNetworkPolicy:{namespace}/{name}"
    if kind == "AntreaClusterNetworkPolicy":
        return f"AntreaClusterNetworkPolicy:{name}"
    return f"AntreaNetworkPolicy:{namespace}/{name}"


@dataclass(frozen=True)
class CompiledRule:
    rule_id: int
    stage: str  # antrea | k8s | baseline
    direction: str  # Egress | Ingress
    action: str  # Allow | Drop | Reject | Pass
    policy_kind: str  # AntreaClusterNetworkPolicy | AntreaNetworkPolicy | K8sNetworkPolicy
    policy_namespace: str
    policy_name: str
    rule_index: int
    rule_name: str
    tier: str = ""
    tier_priority: int | None = None
    policy_priority: float | None = None
    applied_to: frozenset[str] = frozenset()
    peers: Members = EMPTY
    ports: tuple[PortSpec, ...] = ()
    icmp: tuple[ICMPSpec, ...] = ()
    to_services: tuple = ()
    enable_logging: bool = False
    log_label: str = ""

    @property
    def policy_ref(self) -> str:
        return policy_ref_string(self.policy_kind, self.policy_namespace, self.policy_name)

    @property
    def matches_all_services(self) -> bool:
        return not self.ports and not self.icmp and not self.to_services

    @property
    def sort_key(self) -> tuple:
        # Antrea orders by tier priority, policy priority, rule index. Equal keys from different
        # policies are nondeterministic in Antrea; labkit breaks ties by name so runs repeat.
        return (self.tier_priority or 0, self.policy_priority or 0.0, self.rule_index,
                self.policy_kind, self.policy_namespace, self.policy_name)

    def describe(self) -> str:
        where = f"tier {self.tier}, " if self.tier else ""
        return f"{self.policy_ref} rule {self.rule_name or self.rule_index} ({where}{self.action})"


@dataclass
class PolicySet:
    """Compiled, ordered rules for every stage and direction, plus K8s isolation."""

    rules: list[CompiledRule] = field(default_factory=list)
    # direction -> pod key -> K8s NetworkPolicies (ns/name) that isolate it in that direction
    isolation: dict[str, dict[str, list[str]]] = field(default_factory=lambda: {"Egress": {}, "Ingress": {}})
    # Policies that Antrea would not realize, with the reason (policy ref -> message)
    unrealizable: dict[str, str] = field(default_factory=dict)
    # policy ref -> the Pods it applies to (every realized policy, K8s ones included): its span
    applied_to: dict[str, frozenset[str]] = field(default_factory=dict)

    def ordered(self, stage: str, direction: str) -> list[CompiledRule]:
        return [r for r in self.rules if r.stage == stage and r.direction == direction]

    def rule(self, rule_id: int) -> CompiledRule:
        return self.rules[rule_id]


class _Builder:
    def __init__(self, state: ClusterState) -> None:
        self.state = state
        self.sel = Selection(state)
        self.rules: list[CompiledRule] = []
        self.labels_by_key = {p.key: p.labels for p in self.sel.pods}
        self.unrealizable: dict[str, str] = {}
        self.applied: dict[str, frozenset[str]] = {}
        self._dns: dict[str, DNSRecord] | None = None  # built when a rule has an fqdn peer

    def add(self, **kwargs) -> None:
        self.rules.append(CompiledRule(rule_id=-1, **kwargs))

    # ------------------------------------------------------------------ Antrea-native

    def applied_to_pods(self, policy: AntreaPolicy, entries: Iterable[AppliedTo]) -> tuple[frozenset[str], str]:
        """The Pods some appliedTo entries select, and the first reason (if any) why Antrea could
        not realize the policy because of them (see :meth:`Selection.applied_to_group`)."""
        cluster = policy.kind == ACNP
        pods: frozenset[str] = frozenset()
        error = ""
        for entry in entries:
            if entry.group:
                group = self.sel.applied_to_group("ClusterGroup" if cluster else "Group",
                                                  "" if cluster else policy.namespace, entry.group)
                pods |= group.pods
                error = error or group.error
            elif entry.service_account is not None:
                pods |= self.sel.pods_with_service_account(entry.service_account.namespace,
                                                           entry.service_account.name)
            elif entry.pod_selector is None and entry.namespace_selector is None:
                # An empty appliedTo entry selects every pod of the ANNP's namespace (Antrea e2e).
                pods |= self.sel.select_pods(None, None, None if cluster else policy.namespace)
            else:
                pods |= self.sel.select_pods(entry.pod_selector, entry.namespace_selector,
                                             None if cluster else policy.namespace)
        return pods, error

    def peer_members(self, policy: AntreaPolicy, peer: AntreaPeer) -> Members:
        cluster = policy.kind == ACNP
        if peer.group:
            return self.sel.group_members("ClusterGroup" if cluster else "Group", policy.namespace, peer.group)
        if peer.ip_block is not None:
            return Members(self.sel.pods_by_ip_blocks((peer.ip_block,)), (peer.ip_block,))
        if peer.service_account is not None:
            return Members(self.sel.pods_with_service_account(peer.service_account.namespace,
                                                              peer.service_account.name))
        if peer.fqdn:
            # The addresses of the cluster DNS names it matches (headless Services' endpoints,
            # Pod names; a ClusterIP never matches): see labkit.policy.dns.
            if self._dns is None:
                self._dns = cluster_dns(self.state, self.sel)
            return fqdn_members(peer.fqdn, self._dns, self.state)
        if peer.node_selector is not None:
            return EMPTY  # Node peers match Node IPs, outside the pod network
        if peer.pod_selector is None and peer.namespace_selector is None:
            return EMPTY
        return Members(self.sel.select_pods(peer.pod_selector, peer.namespace_selector,
                                            None if cluster else policy.namespace))

    def antrea_policy(self, policy: AntreaPolicy) -> None:
        tier = self.state.tier(policy.tier)
        if tier is None:
            return
        stage = "baseline" if policy.tier == BASELINE_TIER_NAME else "antrea"
        kind = "AntreaClusterNetworkPolicy" if policy.kind == ACNP else "AntreaNetworkPolicy"
        ref = antrea_policy_ref(policy)
        policy_applied, error = self.applied_to_pods(policy, policy.applied_to)
        rule_applied: list[frozenset[str]] = []
        for rule in policy.ingress + policy.egress:
            pods, rule_error = self.applied_to_pods(policy, rule.applied_to) if rule.applied_to \
                else (policy_applied, "")
            rule_applied.append(pods)
            error = error or rule_error
        if error:
            # One unrealizable appliedTo entry (policy- or rule-level) fails the whole policy:
            # antrea-controller sets the internal policy's SyncError, spans it to no Node and
            # reports Realizable=False (networkpolicy_controller.go syncInternalNetworkPolicy;
            # e2e TestAntreaPolicyStatusWithAppliedToUnsupportedGroup). Nothing is enforced.
            self.unrealizable[ref] = error
            return
        self.applied[ref] = frozenset().union(policy_applied, *rule_applied)
        rules = [("Ingress", i, r) for i, r in enumerate(policy.ingress)] + \
                [("Egress", i, r) for i, r in enumerate(policy.egress)]
        for (direction, index, rule), applied in zip(rules, rule_applied):
            common = dict(stage=stage, direction=direction, action=rule.action, policy_kind=kind,
                          policy_namespace=policy.namespace, policy_name=policy.name, rule_index=index,
                          rule_name=rule.name, tier=tier.name, tier_priority=tier.priority,
                          policy_priority=policy.priority, ports=rule.ports, icmp=rule.protocols,
                          to_services=rule.to_services, enable_logging=rule.enable_logging,
                          log_label=rule.log_label)
            for applied_part, peers in self.split_rule(policy, rule, applied):
                self.add(applied_to=applied_part, peers=peers, **common)

    def split_rule(self, policy: AntreaPolicy, rule: AntreaRule,
                   applied: frozenset[str]) -> list[tuple[frozenset[str], Members]]:
        """(applied-to, peers) rectangles for one rule; Self/sameLabels peers split per namespace."""
        if not rule.peers:
            if rule.to_services:
                return [(applied, EMPTY)]
            return [(applied, Members(any_address=True, pods=frozenset(p.key for p in self.sel.pods)))]
        plain = [p for p in rule.peers if not p.namespaces_match_self and not p.same_labels]
        scoped = [p for p in rule.peers if p.namespaces_match_self or p.same_labels]
        out: list[tuple[frozenset[str], Members]] = []
        if plain:
            members = EMPTY
            for peer in plain:
                members = members | self.peer_members(policy, peer)
            out.append((applied, members))
        for peer in scoped:
            # Partition the applied-to pods by the namespaces their peers come from.
            buckets: dict[tuple, set[str]] = defaultdict(set)
            for key in applied:
                ns = key.partition("/")[0]  # pod keys are namespace/name
                if peer.namespaces_match_self:
                    buckets[(ns,)].add(key)
                else:
                    labels = self.sel.ns_labels.get(ns, {})
                    if all(k in labels for k in peer.same_labels):  # else: a no-op for this pod
                        buckets[tuple(labels[k] for k in peer.same_labels)].add(key)
            for bucket_key, pods in sorted(buckets.items()):
                if peer.namespaces_match_self:
                    peer_ns = set(bucket_key)
                else:
                    peer_ns = {ns for ns, labels in self.sel.ns_labels.items()
                               if all(labels.get(k) == v for k, v in zip(peer.same_labels, bucket_key))}
                peer_pods = frozenset().union(*(self.sel.select_pods(peer.pod_selector, None, ns)
                                                for ns in sorted(peer_ns)))
                out.append((frozenset(pods), Members(peer_pods)))
        return out

    # ------------------------------------------------------------------ K8s NetworkPolicy

    def k8s_policy(self, np: K8sNetworkPolicy, isolation: dict[str, dict[str, list[str]]]) -> None:
        selected = self.sel.select_pods(np.pod_selector, None, np.namespace)
        self.applied[policy_ref_string("K8sNetworkPolicy", np.namespace, np.name)] = selected
        for direction in np.policy_types:
            for key in selected:
                isolation[direction].setdefault(key, []).append(f"{np.namespace}/{np.name}")
            rules = np.ingress if direction == "Ingress" else np.egress
            for index, rule in enumerate(rules):
                if not rule.peers:
                    members = Members(any_address=True, pods=frozenset(p.key for p in self.sel.pods))
                else:
                    members = EMPTY
                    for peer in rule.peers:
                        if peer.ip_block is not None:
                            members = members | Members(self.sel.pods_by_ip_blocks((peer.ip_block,)), (peer.ip_block,))
                        else:
                            members = members | Members(self.sel.select_pods(
                                peer.pod_selector, peer.namespace_selector, np.namespace))
                self.add(stage="k8s", direction=direction, action="Allow", policy_kind="K8sNetworkPolicy",
                         policy_namespace=np.namespace, policy_name=np.name, rule_index=index,
                         rule_name=f"{direction.lower()}[{index}]", applied_to=selected, peers=members,
                         ports=rule.ports)


def compile_policies(state: ClusterState) -> PolicySet:
    """Compile every policy of ``state`` into an ordered, backend-neutral PolicySet."""
    builder = _Builder(state)
    isolation: dict[str, dict[str, list[str]]] = {"Egress": {}, "Ingress": {}}
    for policy in state.antrea_policies:
        builder.antrea_policy(policy)
    for np in state.k8s_policies:
        builder.k8s_policy(np, isolation)
    ordered = sorted(builder.rules, key=lambda r: (STAGES.index(r.stage), r.direction, r.sort_key))
    rules = [CompiledRule(**{**r.__dict__, "rule_id": i}) for i, r in enumerate(ordered)]
    return PolicySet(rules=rules, isolation=isolation, unrealizable=builder.unrealizable,
                     applied_to=builder.applied)
