"""Traceflow on the ovs backend: ``ovs-appctl ofproto/trace`` per node, read as Antrea's observations.

Antrea's Traceflow injects a tagged packet and collects packet-ins along the pipeline
(pkg/agent/controller/traceflow/packetin.go); here the same walk is done by OVS's own tracer,
which follows the packet through every table and recirculation (conntrack defaults to
``trk|new``: a new connection, as Traceflow's injected packet is). The trace is parsed with the
regexes of feasibility.md appendix C and turned into Antrea's observations (antrea.md §2.2):

The result is labkit's shared :class:`~labkit.policy.traceflow.Traceflow` (``source_kind="ovs"``),
the type the engine's prediction and the kind backend's CRD also produce.

* sender: ``{SpoofGuard, Forwarded}``; an Allow rule: ``{NetworkPolicy, EgressRule|IngressRule,
  Forwarded, networkPolicy, networkPolicyRule}``; a Drop/Reject rule: ``{NetworkPolicy,
  EgressMetric|IngressMetric, Dropped|Rejected}``; K8s isolation: ``{NetworkPolicy,
  EgressDefaultRule|IngressDefaultRule, Dropped}``; then ``{Forwarding, Output, Forwarded,
  tunnelDstIP}`` to another node, or ``Delivered`` to a local pod;
* receiver (a packet that left through the tunnel is traced again on the destination node, from
  ``antrea-tun0`` with the outer addresses): ``{Forwarding, Classification, Received}``, then its
  ingress decisions and the delivery.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ...datapath.compile import decode_cookie
from ...datapath.pipeline import METRIC_TABLES, table_name
from ...datapath.topology import GLOBAL_VIRTUAL_MAC, GW_OFPORT, TUN_OFPORT, NodeSpec, Topology
from ...errors import NotFoundError
from ...policy.probe import Probe
from ...policy.traceflow import NodeResult, Observation, Traceflow
from . import names
from .flowinfo import rule_of_cookie

if TYPE_CHECKING:  # pragma: no cover
    from ...policy.compiler import PolicySet
    from .realize import Realization

_BRIDGE = re.compile(r'^bridge\("([^"]+)"\)')
_RULE = re.compile(r"^\s*(\d+)\.\s+(.*?),?\s*priority (\d+)(?:, cookie (0x[0-9a-f]+))?$")
_FINAL = re.compile(r"^Final flow: (.*)$")
_DP_ACTIONS = re.compile(r"^Datapath actions: (.*)$")
_OUT_PORT = re.compile(r"-> output port is (\d+)")
TRACE_SRC_PORT = 40000  # the source port a trace uses when the probe does not fix one


@dataclass(frozen=True)
class TracedRule:
    table: str
    match: str
    priority: int
    cookie: int
    actions: tuple[str, ...]


@dataclass
class NodeTrace:
    """The raw material of one node's part of a trace (kept for learners: ``backend.last_traces``)."""

    node: str
    role: str  # Sender | Receiver
    flow: str  # the flow given to ofproto/trace
    rules: list[TracedRule] = field(default_factory=list)
    text: str = ""  # the raw ofproto/trace output


# ---------------------------------------------------------------------------- parsing

def parse_trace(text: str, bridge: str = names.INT_BRIDGE) -> tuple[list[TracedRule], list[str], list[str], list[int]]:
    """Rules of ``bridge`` hit (in order), ``Final flow`` lines, ``Datapath actions`` lines, output ports.

    A packet sent into the tunnel continues in the trace through ``br-phy`` (the underlay bridge);
    those rules are skipped: they are not Antrea's pipeline.
    """
    in_bridge = True
    rules: list[TracedRule] = []
    finals, dp_actions, out_ports = [], [], []
    current: list[str] | None = None
    head: tuple | None = None

    def flush() -> None:
        if head is not None:
            t, m, p, c = head
            rules.append(TracedRule(table_name(int(t)), m, int(p), int(c, 16) if c else 0, tuple(current or ())))

    for line in text.splitlines():
        if m := _BRIDGE.match(line):
            flush()
            head, current = None, None
            in_bridge = m[1] == bridge
            continue
        if not in_bridge and not line.startswith(("Final flow", "Datapath actions", "====", "recirc(")):
            continue
        if m := _RULE.match(line):
            flush()
            head, current = m.groups(), []
            continue
        if m := _FINAL.match(line):
            finals.append(m[1])
        elif m := _DP_ACTIONS.match(line):
            dp_actions.append(m[1])
        if m := _OUT_PORT.search(line):
            out_ports.append(int(m[1]))
        stripped = line.strip()
        if head is not None and line.startswith("    ") and stripped and not stripped.startswith(("->", ">>")):
            current.append(stripped)
        elif not stripped or stripped.startswith(("Final flow", "Megaflow", "Datapath", "====", "recirc(")):
            flush()
            head, current = None, None
    flush()
    return rules, finals, dp_actions, out_ports


def _field(flow: str, name: str) -> str:
    m = re.search(rf"(?:^|,){re.escape(name)}=([^,]+)", flow)
    return m[1] if m else ""


# ---------------------------------------------------------------------------- observations

def observations_for(rules: list[TracedRule], finals: list[str], out_ports: list[int], policy_set: "PolicySet | None",
                     topology: Topology, node: str, role: str, src_ip: str) -> list[Observation]:
    """Antrea observations for one node's trace (``node`` names where the trace ran)."""
    obs: list[Observation] = []
    if role == "Receiver":
        obs.append(Observation("Forwarding", "Received"))
    for rule in rules:
        category, _ = decode_cookie(rule.cookie)
        if rule.table == "SpoofGuard" and rule.priority > 0 and role == "Sender":
            obs.append(Observation("SpoofGuard", "Forwarded", src_pod_ip=src_ip))
        elif category == "policy" and rule.match.startswith("conj_id="):
            compiled = rule_of_cookie(rule.cookie, policy_set)
            if compiled is not None and compiled.action == "Allow":
                side = compiled.direction
                obs.append(Observation("NetworkPolicy", "Forwarded", f"{side}Rule",
                                       network_policy=compiled.policy_ref, network_policy_rule=compiled.rule_name))
        elif category == "policy" and rule.table in METRIC_TABLES.values() and "reg3=" in rule.match:
            compiled = rule_of_cookie(rule.cookie, policy_set)
            rejected = any(a.upper().startswith("CONTROLLER") for a in rule.actions)
            # Antrea reports a baseline-tier deny from the *DefaultRule table it lives in, an
            # Antrea-native one from the *Metric table that performs it.
            info = rule.table
            if compiled is not None and compiled.stage == "baseline":
                info = f"{compiled.direction}DefaultRule"
            obs.append(Observation("NetworkPolicy", "Rejected" if rejected else "Dropped", info,
                                   network_policy=compiled.policy_ref if compiled else "",
                                   network_policy_rule=compiled.rule_name if compiled else ""))
            return obs
        elif category == "isolation":
            # K8s isolation's default drop flow carries no policy reference (as in Antrea).
            obs.append(Observation("NetworkPolicy", "Dropped", rule.table))
            return obs
    last = rules[-1] if rules else None
    if last is None:
        return obs + [Observation("Forwarding", "Dropped")]
    if last.table == "Output" and out_ports:
        port = out_ports[-1]
        if port == TUN_OFPORT:
            tun_dst = _field(finals[-1], "tun_dst") if finals else ""
            obs.append(Observation("Forwarding", "Forwarded", "Output", tunnel_dst_ip=tun_dst))
        else:
            pod = next((p.key for p in topology.pods.values() if p.ofport == port and p.node == node), "")
            obs.append(Observation("Forwarding", "Delivered", "Output", pod=pod if port != GW_OFPORT else ""))
        return obs
    if last.table == "SpoofGuard":
        return [Observation("SpoofGuard", "Dropped", src_pod_ip=src_ip)]
    obs.append(Observation("Forwarding", "Dropped", last.table))
    return obs


def _l4(probe: Probe, src_port: int) -> str:
    if probe.protocol == "ICMP":
        return f"icmp,icmp_type={probe.icmp_type},icmp_code={probe.icmp_code}"
    proto = probe.protocol.lower()
    flags = ",tcp_flags=0x002" if proto == "tcp" else ""
    return f"{proto},tp_src={src_port},tp_dst={probe.port}{flags}"


def _trace_node(realization: "Realization", policy_set: "PolicySet | None", topology: Topology, node: NodeSpec,
                flow: str, role: str,
                src_ip: str) -> tuple[NodeResult, NodeTrace]:
    text = realization.instance(node).appctl(["ofproto/trace", names.INT_BRIDGE, flow])
    rules, finals, _dp, out_ports = parse_trace(text)
    obs = observations_for(rules, finals, out_ports, policy_set, topology, node.name, role, src_ip)
    return NodeResult(node.name, role, tuple(obs)), NodeTrace(node.name, role, flow, rules, text)


def traceflow(realization: "Realization", policy_set: "PolicySet | None", topology: Topology, src: str, dst: str,
              probe: Probe) -> tuple[Traceflow, list[NodeTrace]]:
    """Trace one packet from pod ``src`` to pod ``dst`` through the flows compiled from
    ``policy_set``; returns the Traceflow and each node's raw trace (kept for learners)."""
    sp, dp = topology.pods.get(src), topology.pods.get(dst)
    if sp is None or dp is None:
        missing = src if sp is None else dst
        raise NotFoundError(f"pod {missing!r} has no sandbox in the ovs lab (known: {', '.join(sorted(topology.pods))})")
    if src == dst:
        return Traceflow(src, dst, probe, "Failed", (),
                         "a pod reaching its own IP never enters OVS, so Traceflow observes nothing",
                         source_kind="ovs"), []
    src_node, dst_node = topology.node(sp.node), topology.node(dp.node)
    l4 = _l4(probe, probe.src_port or TRACE_SRC_PORT)
    dl_dst = dp.mac if sp.node == dp.node else src_node.gateway_mac
    flow = f"in_port={sp.ofport},{l4},dl_src={sp.mac},dl_dst={dl_dst},nw_src={sp.ip},nw_dst={dp.ip},nw_ttl=64"
    result, raw = _trace_node(realization, policy_set, topology, src_node, flow, "Sender", sp.ip)
    results, traces = [result], [raw]
    last = result.observations[-1] if result.observations else None
    if last is not None and last.tunnel_dst_ip and sp.node != dp.node:
        # The packet left through antrea-tun0: trace it again where it arrives, as Antrea's
        # receiver node reports it (outer header from the sender's node, inner MACs as rewritten).
        flow2 = (f"in_port={TUN_OFPORT},tun_src={src_node.node_ip},tun_dst={last.tunnel_dst_ip},{l4},"
                 f"dl_src={src_node.gateway_mac},dl_dst={GLOBAL_VIRTUAL_MAC},nw_src={sp.ip},nw_dst={dp.ip},nw_ttl=63")
        receiver = next((n for n in topology.nodes if n.node_ip == last.tunnel_dst_ip), dst_node)
        result, raw = _trace_node(realization, policy_set, topology, receiver, flow2, "Receiver", sp.ip)
        results.append(result)
        traces.append(raw)
    return Traceflow(src, dst, probe, "Succeeded", tuple(results), source_kind="ovs"), traces


__all__ = ["NodeTrace", "TracedRule", "traceflow", "parse_trace", "observations_for", "TRACE_SRC_PORT"]
