"""Flow visibility on the ovs backend: Open vSwitch's own IPFIX export, read by a labkit collector
in each node's namespace, turned into Antrea-style flow records.

::

    run = lab.generate_traffic("shop", duration_s=60, seed=1)   # real sockets between pod namespaces
    run.frame()            # per-Node records, from OVS IPFIX + conntrack
    run.aggregate()        # the Flow Aggregator, as on sim
    run.datapath           # per node: packets OVS counted vs packets the IPFIX records carry

Where the data comes from (see :mod:`labkit.datapath.sampling` for why flow sampling):

* **IPFIX** (RFC 7011, UDP): every node's ``br-int`` gets a ``Flow_Sample_Collector_Set`` whose
  ``IPFIX`` row targets ``127.0.0.1:<port>`` *inside the node's network namespace*: the labkit
  :class:`~labkit.flows.transport.IPFIXCollector` socket is opened there (setns), so the export
  never leaves the lab's namespaces. OVS aggregates samples per 5-tuple and observation point and
  exports every ``cache_active_timeout`` (1 s);
* the **observation point** of each record says what sampled it: the ConntrackState accounting
  flow (every packet: per-direction counters) or the flow of the rule that allowed (first packet)
  or denied (every denied packet) it — its cookie, hence the policy, rule and action;
* **conntrack** (``ovs-appctl dpctl/dump-conntrack zone=65520``) gives each committed
  connection's original direction and TCP state, as Antrea's Flow Exporter reads them.

A labkit flow exporter then builds one :class:`~labkit.flows.records.FlowRecord` per connection
and Node, with the same locality rules as the sim (an agent names its own Node's Pods; the
egress policy at the source, the ingress policy at the destination; Service fields from the
source Node) and Kubernetes metadata from the lab's state by IP. There is no AntreaProxy on the
ovs backend, so the Service a client addressed comes from the traffic plan (the connection goes
to the endpoint's IP directly).
"""

from __future__ import annotations

import re
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..._util.netns import entered
from ...datapath.compile import CONNTRACK_COOKIE, ISOLATION_VALUE, decode_cookie
from ...datapath.sampling import COLLECTOR_SET_ID, cookie_of_point
from ...datapath.pipeline import table_id
from ...errors import LabkitError
from ...flows.exporter import observation_domain_id
from ...flows.records import PROTOCOL_NUMBERS, ExportedRecord, FlowEndReason, FlowRecord, FlowType
from ...flows.traffic import (
    ACTIVE_FLOW_EXPORT_TIMEOUT_S,
    EXPORTED_PROTOCOLS,
    PlannedConnection,
    TrafficRun,
    decide,
    plan_connections,
    policy_fields,
    traffic_profile,
)
from ...flows.transport import IPFIXCollector
from ...model.cluster import ClusterState
from ...policy.compiler import PolicySet
from ...policy.reachability import Decision
from . import names
from .flowinfo import rule_of_cookie

if TYPE_CHECKING:  # pragma: no cover
    from ...datapath.topology import NodeSpec, Topology
    from .realize import Realization
    from .flowtraffic import ClientOutcome

CACHE_ACTIVE_TIMEOUT_S = 1  # OVS IPFIX flow cache: export every second (default 0: every sample)
CACHE_MAX_FLOWS = 65536
CT_ZONE_ARG = "zone=65520"
_EXPORTED = frozenset(PROTOCOL_NUMBERS[p] for p in EXPORTED_PROTOCOLS)
_IPFIX_STAT = re.compile(r"([a-z][a-z0-9 ]*?)=(\d+)")
_CT_LINE = re.compile(r"^(?P<proto>\w+),orig=\(src=(?P<src>[\d.]+),dst=(?P<dst>[\d.]+)"
                      r"(?:,sport=(?P<sport>\d+),dport=(?P<dport>\d+))?")
_CT_STATE = re.compile(r"protoinfo=\(state=(\w+)")
_CT_STATES = re.compile(r"state_orig=(\w+),state_reply=(\w+)")
_CLOSED = ("FIN_WAIT_2", "TIME_WAIT", "CLOSED")


class FlowExportError(LabkitError):
    """The datapath's flow export could not be set up or read."""


Key = tuple[str, str, int, int, int]  # src ip, dst ip, protocol, src port, dst port


def _reverse(key: Key) -> Key:
    return (key[1], key[0], key[2], key[4], key[3])


@dataclass
class NodeCounters:
    """One node's view of a run: what OVS counted, and what its IPFIX records carried."""

    node: str
    accounting_flow_packets: int = 0  # n_packets of the ConntrackState sampling flow (dump-flows)
    accounting_ipfix_packets: int = 0  # packetDeltaCount of the accounting records received
    ovs_sampled_packets: int = 0  # "sampled pkts" of ovs-ofctl dump-ipfix-flow
    ipfix_sampled_packets: int = 0  # packetDeltaCount of every record received
    ipfix_records: int = 0
    collector_errors: int = 0

    @property
    def lost_packets(self) -> int:
        """Samples OVS took but no record delivered (0 when nothing was lost)."""
        return self.ovs_sampled_packets - self.ipfix_sampled_packets


@dataclass
class OvsTrafficRun(TrafficRun):
    """A :class:`~labkit.flows.traffic.TrafficRun` measured on the ovs backend: the records come
    from the datapath; ``outcomes`` is what each client saw; ``datapath`` compares OVS's counters
    with the IPFIX records (per node); ``time_scale`` is real seconds per profile second."""

    outcomes: list["ClientOutcome"] = field(default_factory=list, repr=False)
    datapath: dict[str, NodeCounters] = field(default_factory=dict)
    time_scale: float = 1.0
    real_elapsed_s: float = 0.0
    settle_s: float = 0.0


@dataclass
class _Seen:
    packets: int = 0
    octets: int = 0
    start_s: float = float("inf")
    end_s: float = 0.0

    def add(self, packets: int, octets: int, start_s: float, end_s: float) -> None:
        self.packets += packets
        self.octets += octets
        self.start_s = min(self.start_s, start_s)
        self.end_s = max(self.end_s, end_s)


class FlowExport:
    """Per-node IPFIX collectors and OVS's IPFIX configuration for one ovs lab."""

    def __init__(self, realization: "Realization") -> None:
        self.realization = realization
        self.collectors: dict[str, IPFIXCollector] = {}

    # ------------------------------------------------------------------ set up / tear down

    def start(self, topology: "Topology") -> None:
        try:
            for node in topology.nodes:
                self._start_node(node)
        except BaseException:
            self.stop()
            raise

    def _start_node(self, node: "NodeSpec") -> None:
        inst = self.realization.instance(node)
        # The collector's socket is created inside the node's namespace: 127.0.0.1 there is where
        # that node's ovs-vswitchd sends (loopback is per namespace).
        with entered(inst.netns):
            collector = IPFIXCollector("127.0.0.1", 0, protocol="udp", max_records=1_000_000).start()
        self.collectors[node.name] = collector
        inst.vsctl(["--", "--id=@br", "get", "Bridge", names.INT_BRIDGE,
                    "--", "--id=@i", "create", "IPFIX", f'targets="127.0.0.1:{collector.port}"',
                    f"cache_active_timeout={CACHE_ACTIVE_TIMEOUT_S}", f"cache_max_flows={CACHE_MAX_FLOWS}",
                    f"obs_domain_id={observation_domain_id(node.name)}",
                    "--", "create", "Flow_Sample_Collector_Set", f"id={COLLECTOR_SET_ID}", "bridge=@br", "ipfix=@i"])

    def stop(self) -> None:
        """Close every collector (OVS's configuration goes with its daemons). Idempotent."""
        collectors, self.collectors = self.collectors, {}
        for collector in collectors.values():
            collector.stop()

    # ------------------------------------------------------------------ reading OVS

    def ipfix_stats(self, node: "NodeSpec") -> dict[str, int]:
        """``ovs-ofctl dump-ipfix-flow br-int`` of the collector set: flows, current flows, sampled
        pkts, ipv4 ok, tx pkts, ... (OVS's own counters of what it sampled and sent)."""
        text = self.realization.instance(node).ofctl(["dump-ipfix-flow", names.INT_BRIDGE]).stdout
        return {k.strip(): int(v) for k, v in _IPFIX_STAT.findall(text.partition(":")[2].partition(":")[2])}

    def accounting_packets(self, node: "NodeSpec") -> int:
        """n_packets of the ConntrackState sampling flow (every IPv4 packet the node tracked)."""
        out = self.realization.instance(node).ofctl(
            ["dump-flows", names.INT_BRIDGE, f"table={table_id('ConntrackState')},cookie={CONNTRACK_COOKIE:#x}/-1"]).stdout
        total = 0
        for line in out.splitlines():
            if "sample(" in line:
                total += int(re.search(r"n_packets=(\d+)", line)[1])  # type: ignore[index]
        return total

    def conntrack(self, node: "NodeSpec") -> dict[Key, str]:
        """Committed connections of zone 65520: original 5-tuple -> TCP state (kernel names, as
        Antrea reports ``tcpState``; '' for UDP)."""
        text = self.realization.instance(node).appctl(["dpctl/dump-conntrack", CT_ZONE_ARG])
        out: dict[Key, str] = {}
        for line in text.splitlines():
            m = _CT_LINE.match(line.strip())
            if m is None or m["proto"] not in ("tcp", "udp", "sctp"):
                continue
            key = (m["src"], m["dst"], PROTOCOL_NUMBERS[m["proto"].upper()], int(m["sport"] or 0), int(m["dport"] or 0))
            # Without -m, OVS prints one state the way the kernel names it (ct_dpif_format_tcp_stat:
            # ESTABLISHED, TIME_WAIT, SYN_SENT, CLOSE...); with -m, one per direction.
            one, both = _CT_STATE.search(line), _CT_STATES.search(line)
            out[key] = one[1] if one else (tcp_state(*both.groups()) if both else "")
        return out

    def quiesce(self, topology: "Topology", timeout_s: float = 3.0) -> None:
        """Wait until no node's OVS holds unexported IPFIX flows (so a run starts clean)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(self.ipfix_stats(n).get("current flows", 0) == 0 for n in topology.nodes):
                return
            time.sleep(0.2)


def tcp_state(orig: str, reply: str) -> str:
    """The userspace conntrack's per-direction TCP states as one kernel-style state (what Antrea
    reads from the kernel's conntrack): both sides closed -> TIME_WAIT, a reset -> CLOSE, ..."""
    if orig == "SYN_SENT" and reply in ("CLOSED", "LISTEN"):
        return "SYN_SENT"
    if orig == "ESTABLISHED" and reply == "ESTABLISHED":
        return "ESTABLISHED"
    if orig in _CLOSED and reply in _CLOSED:
        return "CLOSE" if "CLOSED" in (orig, reply) else "TIME_WAIT"
    if "SYN" in reply:
        return "SYN_RECV"
    if "FIN" in orig or orig == "CLOSING":
        return "FIN_WAIT"
    if reply in ("CLOSE_WAIT", "LAST_ACK"):
        return reply
    return orig


# --------------------------------------------------------------------------------------------
# Records


def _key(record: Any) -> Key | None:
    proto = record.get("protocolIdentifier")
    src, dst = record.get("sourceIPv4Address"), record.get("destinationIPv4Address")
    if proto not in _EXPORTED or src is None or dst is None:
        return None
    return (str(src), str(dst), int(proto), int(record.get("sourceTransportPort", 0)),
            int(record.get("destinationTransportPort", 0)))


def _decision(cookie: int, policy_set: PolicySet | None) -> Decision | None:
    category, value = decode_cookie(cookie)
    if category == "isolation":
        direction = {v: k for k, v in ISOLATION_VALUE.items()}.get(value, "Ingress")
        return Decision(direction, "Drop", "k8s", None)
    rule = rule_of_cookie(cookie, policy_set)
    if rule is None:
        return None
    return Decision(rule.direction, rule.action, rule.stage, rule)


def build_records(node: str, decoded: Iterable[Any], conntrack: dict[Key, str], state: ClusterState,
                  policy_set: PolicySet | None, planned: Iterable[PlannedConnection], export_time_s: float
                  ) -> list[ExportedRecord]:
    """One node's flow records from its OVS IPFIX records and conntrack table."""
    accounting: dict[Key, _Seen] = defaultdict(_Seen)
    decisions: dict[Key, dict[str, Decision]] = defaultdict(dict)
    for r in decoded:
        key = _key(r)
        if key is None:
            continue
        exported = float(r.export_time)
        start = exported - r.get("flowStartDeltaMicroseconds", 0) / 1e6
        end = exported - r.get("flowEndDeltaMicroseconds", 0) / 1e6
        cookie = cookie_of_point(int(r.get("observationPointId", 0)))
        if cookie == CONNTRACK_COOKIE:
            accounting[key].add(int(r.get("packetDeltaCount", 0)), int(r.get("octetDeltaCount", 0)), start, end)
            continue
        decision = _decision(cookie, policy_set)
        if decision is not None:
            old = decisions[key].get(decision.direction)
            if old is None or old.action == "Allow":  # a deny of a retransmission wins over an earlier allow
                decisions[key][decision.direction] = decision
    plan = {(p.key.source_ip, p.key.destination_ip, p.key.protocol_identifier, p.key.source_transport_port,
             p.key.destination_transport_port): p for p in planned}
    origins = set(plan) | set(conntrack) | set(decisions)
    connections: dict[Key, None] = {}
    for key in accounting:
        connections.setdefault(key if key in origins or _reverse(key) not in origins else _reverse(key))
    pods = {p.pod_ip: p for p in state.pods if p.pod_ip}
    out = []
    for orig in connections:
        fwd, rev = accounting.get(orig, _Seen()), accounting.get(_reverse(orig), _Seen())
        src, dst = pods.get(orig[0]), pods.get(orig[1])
        local_src = src is not None and src.node_name == node
        local_dst = dst is not None and dst.node_name == node
        sides = decisions.get(orig, {})
        denied = any(d.action in ("Drop", "Reject") for d in sides.values())
        state_name = conntrack.get(orig, "")
        if orig[2] != PROTOCOL_NUMBERS["TCP"]:
            state_name = ""
        if denied or state_name == "SYN_SENT":
            reason = FlowEndReason.IDLE_TIMEOUT
        elif state_name in ("TIME_WAIT", "CLOSE", ""):
            reason = FlowEndReason.END_OF_FLOW
        else:
            reason = FlowEndReason.ACTIVE_TIMEOUT
        start = min(fwd.start_s, rev.start_s)
        end = max(fwd.end_s, rev.end_s)
        values: dict[str, Any] = dict(
            source_ip=orig[0], destination_ip=orig[1], protocol_identifier=orig[2],
            source_transport_port=orig[3], destination_transport_port=orig[4],
            flow_start_seconds=int(start if start != float("inf") else export_time_s), flow_end_seconds=int(end),
            flow_end_reason=int(reason),
            packet_total_count=fwd.packets, octet_total_count=fwd.octets,
            packet_delta_count=fwd.packets, octet_delta_count=fwd.octets,
            reverse_packet_total_count=rev.packets, reverse_octet_total_count=rev.octets,
            reverse_packet_delta_count=rev.packets, reverse_octet_delta_count=rev.octets,
            tcp_state=state_name,
            flow_type=int(FlowType.INTRA_NODE if src is not None and dst is not None and src.node_name == dst.node_name
                          else FlowType.INTER_NODE))
        if local_src:
            values.update(source_pod_name=src.name, source_pod_namespace=src.namespace, source_node_name=node)
            p = plan.get(orig)
            if p is not None and p.service:
                values.update(destination_cluster_ip=p.cluster_ip, destination_service_port=p.service_port,
                              destination_service_port_name=p.service_port_name)
        if local_dst:
            values.update(destination_pod_name=dst.name, destination_pod_namespace=dst.namespace,
                          destination_node_name=node)
        for direction, decision in sides.items():
            prefix = "egress" if direction == "Egress" else "ingress"
            for k, v in policy_fields(decision).items():
                values[f"{prefix}_network_policy_{k}"] = v if isinstance(v, str) else int(v)
        out.append(ExportedRecord(node, export_time_s, FlowRecord(**values)))
    out.sort(key=lambda e: (e.record.flow_start_seconds, e.record.source_ip, e.record.source_transport_port))
    return out


# --------------------------------------------------------------------------------------------
# A whole run


class LiveExporter:
    """The agents' export loop: every ``interval_s`` (Antrea's ``activeFlowExportTimeout``, scaled
    to the compressed clock) each node exports the connections whose counters or TCP state changed
    since its last export, with totals and deltas; ``flowEndSeconds`` is the export time (Antrea's
    StopTime: the poll that last saw the connection), so it grows with every export."""

    def __init__(self, export: FlowExport, topology: "Topology", state: ClusterState, policy_set: PolicySet,
                 planned: list[PlannedConnection], interval_s: float = 1.0) -> None:
        self.export, self.topology, self.state, self.policy_set = export, topology, state, policy_set
        self.planned = planned
        self.interval_s = max(1.0, interval_s)  # >= 1 s: flowEndSeconds (whole seconds) must grow per export
        self.received: dict[str, list] = {n.name: [] for n in topology.nodes}
        self.exports: list[ExportedRecord] = []
        self._last: dict[tuple[str, Key], tuple] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors: list[str] = []

    def start(self) -> "LiveExporter":
        self._thread = threading.Thread(target=self._loop, name="labkit-ovs-flow-exporter", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.poll()
            except Exception as exc:  # noqa: BLE001 - the run reports it; the final poll retries
                self.errors.append(repr(exc))

    def poll(self) -> list[ExportedRecord]:
        """Read the collectors and conntrack now; export what changed. Returns the new exports."""
        with self._lock:
            now = time.time()
            new: list[ExportedRecord] = []
            for node in self.topology.nodes:
                self.received[node.name] += [r for r in self.export.collectors[node.name].take() if not r.is_options]
                if not self.received[node.name]:
                    continue
                current = build_records(node.name, self.received[node.name], self.export.conntrack(node), self.state,
                                        self.policy_set, self.planned, now)
                for e in current:
                    r = e.record
                    totals = (r.packet_total_count, r.octet_total_count, r.reverse_packet_total_count,
                              r.reverse_octet_total_count, r.tcp_state, r.ingress_network_policy_rule_action,
                              r.egress_network_policy_rule_action)
                    previous = self._last.get((node.name, tuple(r.key.__dict__.values())))
                    if previous == totals:
                        continue
                    before = previous or (0, 0, 0, 0)
                    record = r.replace(packet_delta_count=totals[0] - before[0], octet_delta_count=totals[1] - before[1],
                                       reverse_packet_delta_count=totals[2] - before[2],
                                       reverse_octet_delta_count=totals[3] - before[3],
                                       flow_end_seconds=int(now))
                    self._last[(node.name, tuple(r.key.__dict__.values()))] = totals
                    new.append(ExportedRecord(node.name, now, record))
            self.exports += new
            return new


def generate_traffic(export: FlowExport, lab: str, topology: "Topology", state: ClusterState, policy_set: PolicySet,
                     profile: Any = "shop", *, duration_s: float = 60.0, seed: int = 0,
                     real_time_s: float | None = None,
                     active_flow_export_timeout_s: float = ACTIVE_FLOW_EXPORT_TIMEOUT_S,
                     settle_timeout_s: float = 10.0) -> OvsTrafficRun:
    """Plan ``profile`` for ``duration_s`` of profile time, play it as real connections between the
    pods of ovs lab ``lab`` in ``real_time_s`` (default: at most 3 s), and read every node's flow
    records from ``export`` (started, with sampling flows installed) while it runs (every
    ``active_flow_export_timeout_s`` of profile time, at least 1 s)."""
    from .flowtraffic import drive

    profile = traffic_profile(profile)
    real = min(duration_s, 3.0) if real_time_s is None else real_time_s
    if real <= 0 or duration_s <= 0:
        raise FlowExportError(f"duration_s ({duration_s}) and real_time_s ({real_time_s}) must be > 0")
    scale = real / duration_s
    start_s = time.time()
    planned = plan_connections(state, profile, duration_s=duration_s, start_s=start_s, seed=seed)
    missing = sorted({p for c in planned for p in (c.source, c.destination) if p not in topology.pods})
    if missing:
        raise FlowExportError(f"pods without a sandbox in the ovs lab: {', '.join(missing)}; schedule them "
                              "(a node with room) or leave them out of the traffic profile")
    connections = decide(state, policy_set, planned)
    export.quiesce(topology)
    for collector in export.collectors.values():
        collector.take()
    base = {n.name: (export.accounting_packets(n), export.ipfix_stats(n).get("sampled pkts", 0))
            for n in topology.nodes}
    live = LiveExporter(export, topology, state, policy_set, planned, active_flow_export_timeout_s * scale).start()
    t0 = time.monotonic()
    try:
        outcomes = drive(lab, planned, time_scale=scale)
    finally:
        live.stop()
    real_elapsed = time.monotonic() - t0
    counters = _settle(export, live, topology, base, settle_timeout_s)
    settle = time.monotonic() - t0 - real_elapsed
    exports = sorted(live.exports, key=lambda e: e.export_time_s)
    return OvsTrafficRun(profile, start_s, duration_s, seed, connections, exports, {p.key: p for p in state.pods},
                         outcomes=outcomes, datapath=counters, time_scale=scale, real_elapsed_s=real_elapsed,
                         settle_s=settle)


def _settle(export: FlowExport, live: LiveExporter, topology: "Topology", base: dict[str, tuple[int, int]],
            timeout_s: float) -> dict[str, NodeCounters]:
    """Export until every sample OVS took has arrived as an IPFIX record (or ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while True:
        live.poll()
        counters = {}
        for node in topology.nodes:
            records = live.received[node.name]
            accounting = sum(int(r.get("packetDeltaCount", 0)) for r in records
                             if cookie_of_point(int(r.get("observationPointId", 0))) == CONNTRACK_COOKIE)
            stats = export.ipfix_stats(node)
            counters[node.name] = NodeCounters(
                node.name, export.accounting_packets(node) - base[node.name][0], accounting,
                stats.get("sampled pkts", 0) - base[node.name][1],
                sum(int(r.get("packetDeltaCount", 0)) for r in records), len(records),
                len(export.collectors[node.name].errors))
        done = all(c.accounting_flow_packets == c.accounting_ipfix_packets and c.lost_packets == 0
                   for c in counters.values())
        if done or time.monotonic() > deadline:
            return counters
        time.sleep(0.25)


__all__ = ["FlowExport", "FlowExportError", "LiveExporter", "NodeCounters", "OvsTrafficRun", "build_records", "generate_traffic",
           "tcp_state"]
