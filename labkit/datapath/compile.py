"""PolicySet + Topology -> the OpenFlow flows of one node's ``br-int`` (pure; no I/O).

What is reproduced from Antrea (docs/design/ovs-pipeline.md, pkg/agent/openflow; antrea.md §3):

* forwarding: ARP and IP spoof guards per local Pod; local Pods by MAC (L2ForwardingCalc), remote
  Pod CIDRs through ``antrea-tun0`` with ``tun_dst`` = the peer Node IP and the global virtual MAC
  (L3Forwarding), MAC rewrite + TTL decrement for routed packets;
* conntrack: everything through zone 65520; ``+inv`` dropped; established/related packets skip
  every rule table (priority 64990 bypass to the Metric table), so replies are never blocked and
  policy changes do not cut existing connections; new connections committed in ConntrackCommit;
* each rule is one **conjunctive match** (``conj_id``): clause 1 = source addresses (egress: the
  applied-to Pods' IPs; ingress: peer IPs / ipBlocks), clause 2 = destination (egress: peer IPs;
  ingress: the applied-to Pods' OVS ports in reg1), clause 3 = services (protocol, ``tp_dst``,
  ``tp_src`` as value/mask, ICMP type/code). A rule costs N + M + S flows, not N x M x S. A rule
  whose peers and services are "any" gets the "any IP" clause Antrea adds (a conjunction needs two);
* actions: Allow loads the conj id into reg5/reg6, commits with the id in ct_label (egress bits
  32..63, ingress 0..31) and goes to the Metric table (skipping K8s and baseline); Drop/Reject load
  the id into reg3 and set the deny mark, the Metric table drops (Reject: packet-in to the agent,
  which answers with a TCP RST / ICMP host-prohibited); Pass jumps to the K8s rule table;
* K8s NetworkPolicy: allow rules at one priority in EgressRule/IngressRule; isolation = per-Pod
  drop flows at priority 200 in the *DefaultRule tables; Antrea baseline rules below 200 there;
* priorities: one per distinct (tier priority, policy priority, rule index, policy) in evaluation
  order, counting down from 64000 in the Antrea tables and from 190 in the baseline band;
* policies are only programmed where their applied-to Pods run: a node without any gets no flows
  for the rule.

Cookies identify what installed a flow (:func:`decode_cookie`): the rule id for policy flows, so
``dump-flows`` counters and ``ofproto/trace`` lines map back to the policy and rule.
"""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from dataclasses import dataclass, field
from collections.abc import Callable

from ..errors import UnsupportedOperation
from ..policy.compiler import CompiledRule, PolicySet
from ..policy.groups import Members
from . import regs
from .openflow import FlowEntry, sort_key
from .ports import FULL_MASK, range_to_masks, render_port
from .pipeline import METRIC_TABLES, PIPELINE, RULE_TABLES, next_table
from .topology import CT_ZONE, GLOBAL_VIRTUAL_MAC, GW_OFPORT, TUN_OFPORT, NodeSpec, PodSpec, Topology

# ---------------------------------------------------------------------------- cookies and priorities

COOKIE_SHIFT = 48
COOKIE_CATEGORIES = {1: "pipeline", 2: "policy", 3: "isolation", 4: "conntrack"}
_CATEGORY_IDS = {v: k for k, v in COOKIE_CATEGORIES.items()}
ISOLATION_VALUE = {"Egress": 1, "Ingress": 2}

ANTREA_BAND_TOP = 64000  # Antrea-native tiers, counting down per distinct rule position
ESTABLISHED_BYPASS_PRIORITY = 64990  # above every rule (Antrea: 64990)
K8S_RULE_PRIORITY = 200  # every K8s allow rule (all Allow, so their order does not matter)
ISOLATION_PRIORITY = 200  # K8s default-deny per isolated Pod in *DefaultRule
BASELINE_BAND_TOP = 190  # baseline rules sit below the isolation drops
BASELINE_BAND_BOTTOM = 10
METRIC_PRIORITY = 200
PIPELINE_PRIORITY = 200


def _cookie(category: str, value: int) -> int:
    return (_CATEGORY_IDS[category] << COOKIE_SHIFT) | value


def cookie_for_rule(rule_id: int) -> int:
    """The cookie of every flow a compiled rule installs (rule ids start at 0, cookies at 1)."""
    return _cookie("policy", rule_id + 1)


def decode_cookie(cookie: int) -> tuple[str, int]:
    """``(category, value)``: ``("policy", rule_id)``, ``("isolation", 1 egress | 2 ingress)``, ..."""
    category = COOKIE_CATEGORIES.get(cookie >> COOKIE_SHIFT, "unknown")
    value = cookie & ((1 << COOKIE_SHIFT) - 1)
    return category, (value - 1 if category == "policy" else value)


PIPELINE_COOKIE = _cookie("pipeline", 0)
CONNTRACK_COOKIE = _cookie("conntrack", 0)


# ---------------------------------------------------------------------------- forwarding

def _flow(table: str, priority: int, match: str, actions: str, cookie: int = PIPELINE_COOKIE) -> FlowEntry:
    return FlowEntry(table, priority, match, actions, cookie)


def _goto(name: str) -> str:
    return f"goto_table:{name}"


def miss_flows() -> list[FlowEntry]:
    """Table-miss flows (priority 0): continue, drop or NORMAL, as each table declares."""
    out = []
    for t in PIPELINE:
        if t.miss == "next":
            out.append(_flow(t.name, 0, "", _goto(next_table(t.name).name)))
        elif t.miss == "normal":
            out.append(_flow(t.name, 0, "", "NORMAL"))
        else:
            out.append(_flow(t.name, 0, "", "drop"))
    return out


def _arp_reply(ip: str, mac: str) -> FlowEntry:
    """Answer an ARP request for ``ip`` from the switch itself (Antrea's ARPResponder does this for
    remote gateways; labkit does it for every local Pod and the gateway too, so a matrix of first
    packets does not flood every port with broadcasts; other ARP still goes to NORMAL)."""
    return _flow("ARPResponder", PIPELINE_PRIORITY, f"arp,arp_tpa={ip},arp_op=1",
                 "move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],"
                 f"set_field:{mac}->eth_src,set_field:2->arp_op,"
                 "move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],"
                 f"set_field:{mac}->arp_sha,"
                 "move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],"
                 f"set_field:{ip}->arp_spa,IN_PORT")


def forwarding_flows(topology: Topology, node: NodeSpec) -> list[FlowEntry]:
    pods = topology.pods_on(node.name)
    gw_mac = node.gateway_mac
    f: list[FlowEntry] = [
        _flow("PipelineRootClassifier", PIPELINE_PRIORITY, "arp", _goto("ARPSpoofGuard")),
        _flow("PipelineRootClassifier", PIPELINE_PRIORITY, "ip", _goto("Classifier")),
        _flow("ARPSpoofGuard", PIPELINE_PRIORITY, f"arp,in_port={GW_OFPORT}", _goto("ARPResponder")),
        _arp_reply(node.gateway_ip, gw_mac),
        _flow("Classifier", PIPELINE_PRIORITY, f"in_port={TUN_OFPORT}",
              f"{regs.source_load(regs.FROM_TUNNEL)},{regs.REWRITE_MAC_LOAD},{_goto('ConntrackZone')}"),
        _flow("Classifier", PIPELINE_PRIORITY, f"in_port={GW_OFPORT}",
              f"{regs.source_load(regs.FROM_GATEWAY)},{_goto('SpoofGuard')}"),
        _flow("SpoofGuard", PIPELINE_PRIORITY, f"ip,in_port={GW_OFPORT}", _goto("ConntrackZone")),
        # Packets from the tunnel were routed by the source node, which decremented the TTL.
        _flow("L3DecTTL", PIPELINE_PRIORITY + 10, f"ip,{regs.FROM_TUNNEL_MATCH}", _goto("L2ForwardingCalc")),
        _flow("L3DecTTL", PIPELINE_PRIORITY, f"ip,{regs.REWRITE_MAC_MATCH}", f"dec_ttl,{_goto('L2ForwardingCalc')}"),
        _flow("L2ForwardingCalc", PIPELINE_PRIORITY, f"dl_dst={gw_mac}",
              f"{regs.set_reg(regs.TARGET_PORT_REG, GW_OFPORT)},{regs.OUTPUT_TO_PORT_LOAD},"
              f"{_goto('IngressSecurityClassifier')}"),
        _flow("L2ForwardingCalc", PIPELINE_PRIORITY, f"dl_dst={GLOBAL_VIRTUAL_MAC}",
              f"{regs.set_reg(regs.TARGET_PORT_REG, TUN_OFPORT)},{regs.OUTPUT_TO_PORT_LOAD},"
              f"{_goto('IngressSecurityClassifier')}"),
        # Ingress rules are enforced where the destination Pod runs: leaving to the tunnel or the
        # gateway skips them (the remote node enforces; node -> Pod traffic is not policed here).
        _flow("IngressSecurityClassifier", PIPELINE_PRIORITY, f"reg1={TUN_OFPORT:#x}", _goto("ConntrackCommit")),
        _flow("IngressSecurityClassifier", PIPELINE_PRIORITY, f"reg1={GW_OFPORT:#x}", _goto("ConntrackCommit")),
        _flow("Output", PIPELINE_PRIORITY, regs.OUTPUT_TO_PORT_MATCH, f"output:{regs.TARGET_PORT_FIELD}"),
    ]
    for pod in pods:
        f += [
            _flow("ARPSpoofGuard", PIPELINE_PRIORITY, f"arp,in_port={pod.ofport},arp_spa={pod.ip},arp_sha={pod.mac}",
                  _goto("ARPResponder")),
            _arp_reply(pod.ip, pod.mac),
            _flow("Classifier", PIPELINE_PRIORITY - 10, f"in_port={pod.ofport}",
                  f"{regs.source_load(regs.FROM_POD)},{_goto('SpoofGuard')}"),
            _flow("SpoofGuard", PIPELINE_PRIORITY, f"ip,in_port={pod.ofport},dl_src={pod.mac},nw_src={pod.ip}",
                  _goto("ConntrackZone")),
            # Routed to a local Pod (from the tunnel or the gateway): set the gateway/Pod MACs.
            _flow("L3Forwarding", PIPELINE_PRIORITY, f"ip,{regs.REWRITE_MAC_MATCH},nw_dst={pod.ip}",
                  f"set_field:{gw_mac}->eth_src,set_field:{pod.mac}->eth_dst,{_goto('L3DecTTL')}"),
            _flow("L2ForwardingCalc", PIPELINE_PRIORITY, f"dl_dst={pod.mac}",
                  f"{regs.set_reg(regs.TARGET_PORT_REG, pod.ofport)},{regs.OUTPUT_TO_PORT_LOAD},"
                  f"{_goto('IngressSecurityClassifier')}"),
        ]
    for peer in topology.nodes:
        if peer.name == node.name:
            continue
        f.append(_flow("L3Forwarding", PIPELINE_PRIORITY, f"ip,nw_dst={peer.pod_cidr}",
                       f"set_field:{gw_mac}->eth_src,set_field:{GLOBAL_VIRTUAL_MAC}->eth_dst,"
                       f"set_field:{peer.node_ip}->tun_dst,{regs.REWRITE_MAC_LOAD},{_goto('L3DecTTL')}"))
    return f


def conntrack_flows() -> list[FlowEntry]:
    f = [
        _flow("ConntrackZone", PIPELINE_PRIORITY, "ip", f"ct(table=ConntrackState,zone={CT_ZONE})", CONNTRACK_COOKIE),
        _flow("ConntrackState", PIPELINE_PRIORITY - 10, "ct_state=+inv+trk,ip", "drop", CONNTRACK_COOKIE),
        _flow("ConntrackCommit", PIPELINE_PRIORITY, "ct_state=+new+trk,ip",
              f"ct(commit,table=Output,zone={CT_ZONE},exec(move:{regs.SOURCE_FIELD}->{regs.CT_MARK_SOURCE_FIELD}))",
              CONNTRACK_COOKIE),
    ]
    for (_, direction), name in RULE_TABLES.items():
        f.append(_flow(name, ESTABLISHED_BYPASS_PRIORITY, "ct_state=-new+trk,ip", _goto(METRIC_TABLES[direction]),
                       CONNTRACK_COOKIE))
    return f


# ---------------------------------------------------------------------------- policy rules

@dataclass
class _Conj:
    """One conjunction: clause match lists (None = any), the action, and what it came from."""

    rule: CompiledRule
    clauses: list[list[str]]
    conj_id: int = 0


@dataclass
class _Ctx:
    topology: Topology
    node: NodeSpec
    next_conj: int = 1
    flows: list[FlowEntry] = field(default_factory=list)

    def alloc(self) -> int:
        self.next_conj += 1
        return self.next_conj - 1


def _networks(members: Members, topology: Topology) -> list[str] | None:
    """Addresses of a peer set as nw_src/nw_dst values; None = any address."""
    if members.any_address:
        return None
    nets: list[ipaddress.IPv4Network] = []
    for block in members.ip_blocks:
        net = block.network()
        if net.version != 4:
            continue  # labkit's pod network is IPv4 only
        parts = [net]
        for exc in block.except_:
            excluded = ipaddress.ip_network(exc, strict=False)
            parts = [q for p in parts for q in (p.address_exclude(excluded) if excluded.subnet_of(p) else
                                                 ([] if p.subnet_of(excluded) else [p]))]
        nets += parts
    out = [str(n) for n in sorted(set(nets))]
    for key in sorted(members.pods):
        pod = topology.pods.get(key)
        if pod is None or not pod.ip:
            continue
        addr = ipaddress.ip_address(pod.ip)
        if not any(addr in n for n in nets):  # already covered by an ipBlock
            out.append(pod.ip)
    return out


def _services(rule: CompiledRule, resolve: Callable[[str, str], int | None]) -> list[str] | None:
    """Service clause matches; None = every protocol and port; [] = nothing can match."""
    if rule.matches_all_services:
        return None
    out: list[str] = []
    for spec in rule.ports:
        proto = spec.protocol.lower()
        if isinstance(spec.port, str):
            number = resolve(spec.port, spec.protocol)
            dst = [] if number is None else [(number, FULL_MASK)]
        elif spec.port is None:
            dst = [(0, 0)]
        elif spec.end_port is not None:
            dst = range_to_masks(spec.port, spec.end_port)
        else:
            dst = [(spec.port, FULL_MASK)]
        if spec.source_port is None:
            src = [(0, 0)]
        else:
            src = range_to_masks(spec.source_port, spec.source_end_port or spec.source_port)
        for dv, dm in dst:
            for sv, sm in src:
                parts = [proto, render_port("tp_dst", dv, dm), render_port("tp_src", sv, sm)]
                out.append(",".join(p for p in parts if p))
    for icmp in rule.icmp:
        parts = ["icmp"]
        if icmp.icmp_type is not None:
            parts.append(f"icmp_type={icmp.icmp_type}")
        if icmp.icmp_code is not None:
            parts.append(f"icmp_code={icmp.icmp_code}")
        out.append(",".join(parts))
    return list(dict.fromkeys(out))


def _named_port_key(rule: CompiledRule, pod: PodSpec | None) -> tuple:
    return tuple(pod.named_port(p.port, p.protocol) if pod else None
                 for p in rule.ports if isinstance(p.port, str))


def _rule_conjunctions(rule: CompiledRule, ctx: _Ctx) -> list[_Conj]:
    """The conjunctions one rule needs on this node (several only when named ports resolve differently)."""
    if rule.to_services:
        # toServices matches traffic to a Service's ClusterIP (AntreaProxy); labkit's ovs backend has
        # no Service load-balancing, and Pod-IP traffic never matches such a rule (as in Antrea).
        return []
    topo = ctx.topology
    local = sorted((topo.pods[k] for k in rule.applied_to if k in topo.pods and topo.pods[k].node == ctx.node.name),
                   key=lambda p: p.ofport)
    if not local:
        return []  # Antrea only programs a rule on nodes that run one of its applied-to Pods
    named = any(isinstance(p.port, str) for p in rule.ports)
    peers = _networks(rule.peers, topo)
    out: list[_Conj] = []
    if rule.direction == "Egress":
        src = [f"ip,nw_src={p.ip}" for p in local]
        if not named:
            services = _services(rule, lambda n, pr: None)
            dst = None if peers is None else [f"ip,nw_dst={a}" for a in peers]
            out.append(_Conj(rule, [src, dst, services]))
        else:
            # A named port means a different number per destination Pod: one conjunction per
            # distinct resolution, each with the destinations that resolve that way.
            groups: dict[tuple, list[str]] = defaultdict(list)
            for key in sorted(rule.peers.pods):
                pod = topo.pods.get(key)
                if pod is not None:
                    groups[_named_port_key(rule, pod)].append(pod.ip)
            for resolution, ips in groups.items():
                numbers = iter(resolution)
                by_name = {p.port: next(numbers) for p in rule.ports if isinstance(p.port, str)}
                services = _services(rule, lambda n, pr, m=by_name: m.get(n))
                out.append(_Conj(rule, [src, [f"ip,nw_dst={ip}" for ip in ips], services]))
    else:
        src = None if peers is None else [f"ip,nw_src={a}" for a in peers]
        if not named:
            out.append(_Conj(rule, [src, [f"ip,reg1={p.ofport:#x}" for p in local], _services(rule, lambda n, pr: None)]))
        else:
            groups_i: dict[tuple, list[PodSpec]] = defaultdict(list)
            for pod in local:
                groups_i[_named_port_key(rule, pod)].append(pod)
            for pods in groups_i.values():
                services = _services(rule, lambda n, pr, p=pods[0]: p.named_port(n, pr))
                out.append(_Conj(rule, [src, [f"ip,reg1={p.ofport:#x}" for p in pods], services]))
    kept = []
    for conj in out:
        clauses = [c for c in conj.clauses if c is not None]
        if any(len(c) == 0 for c in clauses):
            continue  # an empty clause can never match (no peer, no resolvable port)
        if len(clauses) < 2:
            clauses.append(["ip"])  # Antrea's "any IP" clause: a conjunction needs two dimensions
        conj.clauses = clauses
        conj.conj_id = ctx.alloc()
        kept.append(conj)
    return kept


def _action(rule: CompiledRule, conj_id: int) -> str:
    direction = rule.direction
    metric = METRIC_TABLES[direction]
    if rule.action == "Allow":
        # The rule only names itself; its metric flow commits the connection with the rule id
        # (see _metric_flows).
        return f"{regs.set_reg(regs.TF_CONJ_REG[direction], conj_id)},{_goto(metric)}"
    disposition = regs.disposition_load(rule.action)
    if rule.action == "Pass":
        return f"{regs.set_reg(regs.CONJ_ID_REG, conj_id)},{disposition},{_goto(RULE_TABLES[('k8s', direction)])}"
    return f"{regs.set_reg(regs.CONJ_ID_REG, conj_id)},{regs.DENY_LOAD},{disposition},{_goto(metric)}"


def _metric_flows(rule: CompiledRule, conj_id: int, cookie: int) -> list[FlowEntry]:
    direction = rule.direction
    metric = METRIC_TABLES[direction]
    after_table = next_table(metric).name
    after = _goto(after_table)
    if rule.action == "Allow":
        # As Antrea's metric tables do: the first packet of a connection allowed by the rule is
        # counted here and committed with the rule id in ct_label, continuing (after the
        # recirculation) in the next table. The commit must carry ``table=``: a ct() without it
        # does not recirculate, and OVS clears the conntrack fields after it, so a later
        # ``ct_state=+new+trk`` match (this very flow, were the commit done in the rule table)
        # would never see the packet and the rule's counters would stay at zero.
        commit = (f"ct(commit,table={after_table},zone={CT_ZONE},"
                  f"exec({regs.ct_label_load(direction, conj_id)}))")
        return [
            _flow(metric, METRIC_PRIORITY, f"ct_state=+new+trk,{regs.TF_CONJ_REG[direction]}={conj_id:#x},ip",
                  commit, cookie),
            _flow(metric, METRIC_PRIORITY, f"ct_state=-new+trk,{regs.ct_label_match(direction, conj_id)},ip",
                  after, cookie),
        ]
    if rule.action in ("Drop", "Reject"):
        # Reject: the packet goes to the agent (packet-in), which answers the client; nothing is forwarded.
        action = "drop" if rule.action == "Drop" else "controller(max_len=65535)"
        return [_flow(metric, METRIC_PRIORITY, f"{regs.DENY_MATCH},reg3={conj_id:#x},ip", action, cookie)]
    return []


def _priorities(rules: list[CompiledRule], top: int, bottom: int, stage: str) -> dict[tuple, int]:
    keys = list(dict.fromkeys(r.sort_key for r in rules))
    if top - len(keys) + 1 < bottom:
        raise UnsupportedOperation(f"{len(keys)} distinct {stage} rule positions do not fit the priority band "
                                   f"{bottom}-{top} of the ovs backend; use the sim backend for this policy set")
    return {k: top - i for i, k in enumerate(keys)}


def policy_flows(policy_set: PolicySet, topology: Topology, node: NodeSpec) -> list[FlowEntry]:
    ctx = _Ctx(topology, node)
    flows: list[FlowEntry] = []
    for stage in ("antrea", "k8s", "baseline"):
        for direction in ("Egress", "Ingress"):
            rules = policy_set.ordered(stage, direction)
            table = RULE_TABLES[(stage, direction)]
            if stage == "antrea":
                prio = _priorities(rules, ANTREA_BAND_TOP, K8S_RULE_PRIORITY + 1, stage)
            elif stage == "baseline":
                prio = _priorities(rules, BASELINE_BAND_TOP, BASELINE_BAND_BOTTOM, stage)
            else:
                prio = {r.sort_key: K8S_RULE_PRIORITY for r in rules}
            for rule in rules:
                cookie = cookie_for_rule(rule.rule_id)
                p = prio[rule.sort_key]
                for conj in _rule_conjunctions(rule, ctx):
                    n = len(conj.clauses)
                    for k, clause in enumerate(conj.clauses, start=1):
                        for match in clause:
                            flows.append(_flow(table, p, match, f"conjunction({conj.conj_id},{k}/{n})", cookie))
                    flows.append(_flow(table, p, f"conj_id={conj.conj_id},ip", _action(rule, conj.conj_id), cookie))
                    flows += _metric_flows(rule, conj.conj_id, cookie)
    # K8s isolation: a Pod selected by a K8s NetworkPolicy for a direction drops whatever no K8s
    # rule allowed ("default deny"); the egress side matches its IP, the ingress side its port.
    for key in sorted(policy_set.isolation["Egress"]):
        pod = topology.pods.get(key)
        if pod is not None and pod.node == node.name:
            flows.append(_flow("EgressDefaultRule", ISOLATION_PRIORITY, f"ip,nw_src={pod.ip}", "drop",
                               _cookie("isolation", ISOLATION_VALUE["Egress"])))
    for key in sorted(policy_set.isolation["Ingress"]):
        pod = topology.pods.get(key)
        if pod is not None and pod.node == node.name:
            flows.append(_flow("IngressDefaultRule", ISOLATION_PRIORITY, f"ip,reg1={pod.ofport:#x}", "drop",
                               _cookie("isolation", ISOLATION_VALUE["Ingress"])))
    return flows


_CONJ_ACTION = re.compile(r"conjunction\(\d+,\d+/\d+\)")


def _merge(flows: list[FlowEntry]) -> list[FlowEntry]:
    """One OpenFlow flow per (table, priority, match): clause flows shared by several conjunctions
    carry all their ``conjunction(...)`` actions (as Antrea's flow cache merges them)."""
    merged: dict[tuple, FlowEntry] = {}
    for f in flows:
        old = merged.get(f.key)
        if old is None:
            merged[f.key] = f
        elif old.actions.startswith("conjunction(") and f.actions.startswith("conjunction("):
            actions = ",".join(dict.fromkeys(_CONJ_ACTION.findall(old.actions) + _CONJ_ACTION.findall(f.actions)))
            merged[f.key] = FlowEntry(f.table, f.priority, f.match, actions, min(old.cookie, f.cookie))
        elif old != f:
            raise ValueError(f"two different flows for one match:\n  {old}\n  {f}")
    return list(merged.values())


def compile_flows(policy_set: PolicySet, topology: Topology, node: str) -> list[FlowEntry]:
    """Every flow of ``node``'s br-int, sorted by table and descending priority."""
    spec = topology.node(node)
    flows = miss_flows() + forwarding_flows(topology, spec) + conntrack_flows() + policy_flows(policy_set, topology, spec)
    return sorted(_merge(flows), key=sort_key)


__all__ = ["compile_flows", "cookie_for_rule", "decode_cookie", "forwarding_flows", "conntrack_flows", "policy_flows",
           "miss_flows", "ANTREA_BAND_TOP", "K8S_RULE_PRIORITY", "ISOLATION_PRIORITY", "PIPELINE_COOKIE",
           "CONNTRACK_COOKIE", "ISOLATION_VALUE"]
