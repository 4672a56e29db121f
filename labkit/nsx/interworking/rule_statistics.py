"""Rule statistics of NSX-realized ClusterNetworkPolicies, derived from the lab.

In a real cluster the adapter reads ``stats.antrea.io/v1alpha1`` AntreaClusterNetworkPolicyStats
(``ruleTrafficStats[{name, trafficStats: {packets, bytes, sessions}}]``, rule name = NSX
``rule_id``) and NSX shows them per rule as RuleStatistics (nsx.md §5.5). A lab has no traffic
counters, so labkit counts a **probe round** instead, and says so:

* the probes are the lab profile's probes (``lab.profile.probes``, e.g. TCP/80, TCP/81, UDP/80)
  plus every TCP/UDP port named by a realized rule;
* for each probe, one connection from every pod to every other pod (the reachability matrix);
* the connection hits the rule that decided its **egress** side at the source pod, and, when that
  side let it through, the rule that decided its **ingress** side at the destination pod, exactly
  the rules whose OpenFlow flows the first packet would match (a packet dropped on egress never
  reaches the destination's ingress table);
* ``hit_count`` = ``session_count`` = ``total_session_count`` = those connections and
  ``packet_count`` = one probe packet each; bytes are not modelled (0).

The figures are a snapshot of the current policies and pods, not cumulative: they change exactly
when the lab or the NSX policies change. The deciding rules come from the verdict matrix's
evaluation (``lab.reachability(...).evaluation`` on sim); on a backend that measures instead of
computing (ovs, kind) a probe round would send real packets and return no deciding rules, so the
engine's ``lab.expected_reachability`` decides there.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np

from labkit.nsx.interworking.realize import rule_id_of
from labkit.policy.evaluate import ALLOW

if TYPE_CHECKING:  # pragma: no cover
    from labkit.lab import Lab

ACNP_KIND = "AntreaClusterNetworkPolicy"


def probes_for(lab: Lab, acnps: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """(protocol, port) probes: the profile's, then every port the realized rules name."""
    found: list[tuple[str, int]] = []
    for probe in lab.profile.probes:
        protocol = str(probe.get("protocol", "TCP")).upper()
        if protocol in ("TCP", "UDP", "SCTP") and probe.get("port"):
            found.append((protocol, int(probe["port"])))
    for acnp in acnps:
        spec = acnp.get("spec") or {}
        for rule in [*(spec.get("ingress") or []), *(spec.get("egress") or [])]:
            for port in rule.get("ports") or []:
                if port.get("port") is not None:
                    found.append((port["protocol"], int(port["port"])))
    return list(dict.fromkeys(found))


def rule_hits(lab: Lab, acnp_names: set[str], probes: list[tuple[str, int]]) -> Counter[tuple[str, str]]:
    """Connections per (ACNP name, NSX rule_id) over one probe round."""
    hits: Counter[tuple[str, str]] = Counter()
    if not acnp_names:
        return hits  # nothing realized: no probe round (it costs a full matrix per probe)
    for protocol, port in probes:
        # sim: the lab's own verdicts carry their evaluation. Backends that measure (ovs, kind) would
        # send real probes and bring back no deciding rules, so the engine decides there.
        if lab.backend_name == "sim":
            matrix = lab.reachability(port=port, protocol=protocol)
        else:
            matrix = lab.expected_reachability(port=port, protocol=protocol)
        ev, policy_set = matrix.evaluation, matrix.policy_set
        assert ev is not None and policy_set is not None
        # Counted on whole arrays (1,000 pods = 10^6 connections per probe): every connection hits
        # its egress rule, and its ingress rule only when egress let it through.
        talks = np.ones(ev.egress_rule.shape, dtype=bool)
        column = {key: j for j, key in enumerate(ev.destinations)}
        for i, src in enumerate(ev.sources):
            if (j := column.get(src)) is not None:
                talks[i, j] = False  # a pod talking to itself never enters OVS
        decided = np.concatenate([ev.egress_rule[talks], ev.ingress_rule[talks & (ev.egress_code == ALLOW)]])
        rule_ids, counts = np.unique(decided[decided >= 0], return_counts=True)  # <0: default, isolation, self
        for rule_id, count in zip(rule_ids.tolist(), counts.tolist()):
            rule = policy_set.rule(rule_id)
            if rule.policy_kind == ACNP_KIND and rule.policy_name in acnp_names:
                hits[(rule.policy_name, rule_id_of(rule.rule_name))] += count
    return hits


def statistics_results(policy: dict[str, Any], acnp_name: str,
                       hits: Counter[tuple[str, str]]) -> list[dict[str, Any]]:
    """RuleStatistics bodies for every rule of one NSX policy (0 for rules nothing hit)."""
    results = []
    for rule in policy.get("rules") or []:
        count = hits.get((acnp_name, str(rule.get("rule_id"))), 0)
        results.append({"internal_rule_id": str(rule.get("rule_id")), "hit_count": count,
                        "session_count": count, "total_session_count": count,
                        "packet_count": count, "byte_count": 0})
    return results


__all__ = ["probes_for", "rule_hits", "statistics_results"]
