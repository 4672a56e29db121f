"""Antrea's OVS pipeline, declared once, in order (pkg/agent/openflow/pipeline.go).

Table numbers are the position in :data:`PIPELINE`; nothing else writes a number by hand (Antrea's
"FlexiblePipeline" also assigns ids at start-up from the enabled features). labkit enables the
features of an encap-mode Linux node without AntreaProxy, Egress, multicast or TrafficControl,
so those tables are absent, exactly as they would be in Antrea with those features off.

Every table says what happens to a packet no flow matches (``miss``): ``next`` continues with the
following table of the same pipeline (Antrea's ``goto_table`` table-miss flows), ``drop`` drops,
``normal`` hands the packet to OVS's L2 learning switch.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    name: str
    pipeline: str  # root | arp | ip
    stage: str  # Antrea's stage names: classifier, validation, conntrackState, egressSecurity, ...
    miss: str  # next | drop | normal
    purpose: str
    id: int = -1


_DECLARED = (
    Table("PipelineRootClassifier", "root", "start", "drop",
          "ARP -> ARP pipeline, IPv4 -> IP pipeline, everything else (IPv6 here) dropped"),
    Table("ARPSpoofGuard", "arp", "validation", "drop",
          "only ARP with a local Pod's own IP and MAC, or from the gateway"),
    Table("ARPResponder", "arp", "output", "normal",
          "Antrea answers ARP for remote gateways; labkit lets OVS's NORMAL switch do L2 learning"),
    Table("Classifier", "ip", "classifier", "drop",
          "tag the packet's source (tunnel 1, gateway 2, Pod 3) in reg0[0..3] by in_port"),
    Table("SpoofGuard", "ip", "validation", "drop",
          "a local Pod's packets must carry its IP and MAC; the gateway is trusted"),
    Table("ConntrackZone", "ip", "conntrackState", "next",
          "send every IP packet through conntrack zone 65520 (CtZone)"),
    Table("ConntrackState", "ip", "conntrackState", "next",
          "drop +inv; established/related packets skip policy rules in each rule table"),
    Table("AntreaPolicyEgressRule", "ip", "egressSecurity", "next",
          "Antrea-native egress rules of every non-baseline tier (conjunctive match)"),
    Table("EgressRule", "ip", "egressSecurity", "next",
          "K8s NetworkPolicy egress allow rules"),
    Table("EgressDefaultRule", "ip", "egressSecurity", "next",
          "K8s egress isolation drops (priority 200) and Antrea baseline egress rules below them"),
    Table("EgressMetric", "ip", "egressSecurity", "next",
          "per-rule counters; performs the drop (or reject packet-in) of Antrea egress rules"),
    Table("L3Forwarding", "ip", "routing", "next",
          "routed traffic: local Pods get their MAC, remote Pod CIDRs go to the tunnel with tun_dst"),
    Table("L3DecTTL", "ip", "routing", "next",
          "decrement the TTL of routed packets (not of packets from the tunnel)"),
    Table("L2ForwardingCalc", "ip", "switching", "next",
          "destination MAC -> output port in reg1 (TargetOFPortField)"),
    Table("IngressSecurityClassifier", "ip", "ingressSecurity", "next",
          "packets leaving through the tunnel or the gateway skip ingress rules"),
    Table("AntreaPolicyIngressRule", "ip", "ingressSecurity", "next",
          "Antrea-native ingress rules of every non-baseline tier (conjunctive match)"),
    Table("IngressRule", "ip", "ingressSecurity", "next",
          "K8s NetworkPolicy ingress allow rules"),
    Table("IngressDefaultRule", "ip", "ingressSecurity", "next",
          "K8s ingress isolation drops (priority 200) and Antrea baseline ingress rules below them"),
    Table("IngressMetric", "ip", "ingressSecurity", "next",
          "per-rule counters; performs the drop (or reject packet-in) of Antrea ingress rules"),
    Table("ConntrackCommit", "ip", "conntrack", "next",
          "commit new connections in CtZone, remembering the source in ct_mark"),
    Table("Output", "ip", "output", "drop",
          "output to the port in reg1"),
)

PIPELINE: tuple[Table, ...] = tuple(
    Table(t.name, t.pipeline, t.stage, t.miss, t.purpose, i) for i, t in enumerate(_DECLARED))
TABLES: dict[str, Table] = {t.name: t for t in PIPELINE}


def table(name: str) -> Table:
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"no table {name!r} in labkit's pipeline; tables: {', '.join(TABLES)}") from None


def table_id(name: str) -> int:
    return table(name).id


def table_name(table_id_: int) -> str:
    if 0 <= table_id_ < len(PIPELINE):
        return PIPELINE[table_id_].name
    return str(table_id_)


def next_table(name: str) -> Table:
    """The table a miss (``goto next``) continues with: the next one of the same pipeline."""
    t = table(name)
    for later in PIPELINE[t.id + 1:]:
        if later.pipeline == t.pipeline:
            return later
    raise KeyError(f"table {name!r} is the last of the {t.pipeline} pipeline")


# Per-direction names used by the compiler (Antrea's tier -> table mapping, antrea.md §3.2).
RULE_TABLES = {
    ("antrea", "Egress"): "AntreaPolicyEgressRule", ("antrea", "Ingress"): "AntreaPolicyIngressRule",
    ("k8s", "Egress"): "EgressRule", ("k8s", "Ingress"): "IngressRule",
    ("baseline", "Egress"): "EgressDefaultRule", ("baseline", "Ingress"): "IngressDefaultRule",
}
METRIC_TABLES = {"Egress": "EgressMetric", "Ingress": "IngressMetric"}

__all__ = ["Table", "PIPELINE", "TABLES", "table", "table_id", "table_name", "next_table", "RULE_TABLES",
           "METRIC_TABLES"]
