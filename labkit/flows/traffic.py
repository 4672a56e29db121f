"""Deterministic lab traffic, and the flow records Antrea's agents would export for it (sim).

Describe, then realize::

    run = lab.generate_traffic("shop", duration_s=60, seed=1)     # sim: synthesize_traffic(state, policy_set, ...)
    run.frame()                      # per-Node records, as the antrea-agents exported them
    run.aggregate().frame()          # after the Flow Aggregator (Aggregate mode)

* :class:`TrafficProfile` is plain data: rules "pods matching *source* open *connections per
  minute* to *destination* (pods, or a Service) on *port/protocol*, moving *bytes*";
* :func:`plan_connections` turns a profile into concrete connections (5-tuples, times, the
  endpoint a Service load-balanced to) for one cluster, from a seed: backend-neutral;
* :class:`SimFlowSource` is the ``sim`` realization: each connection's verdict comes from the
  policy engine (the same evaluation as ``lab.explain``), and it yields the records each Node's
  Flow Exporter would export. A backend that sends real packets (ovs) implements the same
  :class:`FlowSource` protocol by reading its datapath instead.

What the sim reproduces of the Flow Exporter (docs/network-flow-visibility.md,
pkg/agent/flowexporter): records are exported every ``activeFlowExportTimeout`` (5 s) while a
connection is active and once more when it ends, with total and delta counters and their
reverse (RFC 5103) forms; an agent fills only what it knows locally (its own Pods; the Service,
seen by Antrea Proxy on the source Node; the egress rule at the source, the ingress rule at the
destination); connections denied by a policy are exported too (the deny connection store, fed by
packet-ins), with the action Drop or Reject and the few packets the client sent; K8s NetworkPolicy
isolation drops are reported as policy type 1 with action Drop and no policy name, because the
datapath cannot tell which K8s policy isolated the Pod. The protocol filter is Antrea's default:
TCP, UDP and SCTP (no ICMP records).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from labkit.errors import LabkitError
from labkit.flows.records import (
    PROTOCOL_NUMBERS,
    ExportedRecord,
    FlowEndReason,
    FlowKey,
    FlowRecord,
    FlowType,
    PolicyType,
    RuleAction,
    records_to_frame,
)
from labkit.model.cluster import ClusterState
from labkit.model.objects import Pod, Service, ServicePort
from labkit.policy.compiler import PolicySet
from labkit.policy.evaluate import evaluate
from labkit.policy.probe import Probe
from labkit.policy.reachability import Decision, Explanation, Reachability

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from labkit.flows.aggregator import FlowAggregator

DEFAULT_START_S = 1_767_225_600  # 2026-01-01T00:00:00Z: runs repeat to the byte with the same seed
ACTIVE_FLOW_EXPORT_TIMEOUT_S = 5.0  # antrea-agent flowExporter.activeFlowExportTimeout default
EPHEMERAL_PORTS = (32768, 60999)  # Linux net.ipv4.ip_local_port_range default
EXPORTED_PROTOCOLS = ("TCP", "UDP", "SCTP")  # flowExporter.protocolFilter default (nil)

# Packet sizes used to turn bytes into packet counts: IPv4 (20) + TCP (20) + timestamps (12).
_TCP_HEADER = 52
_TCP_MSS = 1448
_UDP_HEADER = 28
_UDP_PAYLOAD = 1472
_SYN_BYTES = 60
_RST_BYTES = 40
# A dropped TCP connect: the client retransmits its SYN after 1 s and 2 s more (Linux
# TCP_TIMEOUT_INIT, doubling) before a typical 5 s client timeout gives up.
_SYN_RETRIES_S = (0.0, 1.0, 3.0)


class TrafficError(LabkitError):
    """A traffic profile that does not fit the lab (a selector matches nothing, a port is not
    exposed, an unsupported protocol); ``where`` names the rule and field."""

    def __init__(self, message: str, *, where: str = "", hint: str = "") -> None:
        self.where, self.hint = where, hint
        text = f"{where}: {message}" if where else message
        super().__init__(text + (f" (fix: {hint})" if hint else ""))


# --------------------------------------------------------------------------------------------
# Describe


@dataclass(frozen=True)
class TrafficRule:
    """Pods matching ``source`` connect to ``destination`` on ``port``/``protocol``.

    Selectors: ``"ns/pod-glob"`` (``"backend/cart"``, ``"frontend/web-*"``, ``"*/*"``),
    ``"ns/label=value[,label=value]"`` (``"frontend/app=web"``), or, as a destination,
    ``"svc/ns/name"`` for a Service (``port`` is then the Service port; the connection goes to
    one endpoint, picked at random as Antrea Proxy does, on the port's ``targetPort``).

    ``connections_per_minute`` is per source Pod for a Service, per (source, destination) Pod
    pair otherwise (a scraper scrapes every target). ``probe`` marks connections that are not
    part of the application (a scan, a compromised Pod): tools can leave them out.
    """

    name: str
    source: str
    destination: str
    port: int | str
    protocol: str = "TCP"
    connections_per_minute: float = 6.0
    request_bytes: int = 512
    response_bytes: int = 4096
    duration_s: float = 1.0
    probe: bool = False

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "rule") -> TrafficRule:
        """From the YAML form: ``{name, from, to, port, protocol, connectionsPerMinute,
        requestBytes, responseBytes, durationSeconds, probe}``."""
        keys = {"name": "name", "from": "source", "to": "destination", "port": "port",
                "protocol": "protocol", "connectionsPerMinute": "connections_per_minute",
                "requestBytes": "request_bytes", "responseBytes": "response_bytes",
                "durationSeconds": "duration_s", "probe": "probe"}
        unknown = sorted(set(data) - set(keys))
        if unknown:
            raise TrafficError(f"unknown field(s) {', '.join(unknown)}", where=where,
                               hint=f"use {', '.join(keys)}")
        missing = [k for k in ("name", "from", "to", "port") if k not in data]
        if missing:
            raise TrafficError(f"missing field(s) {', '.join(missing)}", where=where)
        return cls(**{keys[k]: v for k, v in data.items()})


@dataclass(frozen=True)
class TrafficProfile:
    """A named list of :class:`TrafficRule`."""

    name: str
    rules: tuple[TrafficRule, ...]

    def apps(self) -> TrafficProfile:
        """The application's own traffic (no probes): what a learning period should observe."""
        return TrafficProfile(self.name + "-apps", tuple(r for r in self.rules if not r.probe))

    def probes(self) -> TrafficProfile:
        return TrafficProfile(self.name + "-probes", tuple(r for r in self.rules if r.probe))

    def frame(self) -> "pd.DataFrame":
        """The rules as a table."""
        import pandas as pd

        return pd.DataFrame([r.__dict__ for r in self.rules],
                            columns=[f.name for f in dataclasses.fields(TrafficRule)])

    def only(self, *names: str) -> TrafficProfile:
        unknown = set(names) - {r.name for r in self.rules}
        if unknown:
            raise TrafficError(f"no rule(s) {', '.join(sorted(unknown))}", where=f"profile {self.name}",
                               hint=f"rules are {', '.join(r.name for r in self.rules)}")
        return TrafficProfile(self.name, tuple(r for r in self.rules if r.name in names))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "<dict>") -> TrafficProfile:
        """From ``{apiVersion: labkit.io/v1alpha1, kind: TrafficProfile, metadata: {name},
        spec: {rules: [...]}}``."""
        if not isinstance(data, Mapping) or data.get("kind") != "TrafficProfile":
            raise TrafficError("not a TrafficProfile", where=f"{source}: kind",
                               hint="kind: TrafficProfile, apiVersion: labkit.io/v1alpha1")
        name = (data.get("metadata") or {}).get("name", "traffic")
        rules = (data.get("spec") or {}).get("rules") or []
        return cls(name, tuple(TrafficRule.from_dict(r, f"{source}: spec.rules[{i}]")
                               for i, r in enumerate(rules)))

    @classmethod
    def load(cls, path: str | Path) -> TrafficProfile:
        import yaml

        try:
            data = yaml.safe_load(Path(path).read_bytes().decode("utf-8"))
        except (UnicodeDecodeError, yaml.YAMLError) as exc:
            raise TrafficError(f"not a YAML text file ({exc})", where=str(path),
                               hint="a TrafficProfile is YAML: kind: TrafficProfile, spec.rules") from None
        return cls.from_dict(data, source=str(path))


# The shop (clusters/shop.yaml): the flows notebook 04 writes down as its intent, plus probes a
# compromised frontend or a misbehaving service would send.
SHOP_TRAFFIC = TrafficProfile("shop", (
    TrafficRule("web-to-api", "frontend/app=web", "svc/backend/api", 8080,
                connections_per_minute=30, request_bytes=400, response_bytes=6_000),
    TrafficRule("api-to-postgres", "backend/app=api", "svc/data/postgres", 5432,
                connections_per_minute=2, request_bytes=40_000, response_bytes=400_000,
                duration_s=25.0),  # a pooled connection, long enough for several exports
    TrafficRule("cart-to-redis", "backend/app=cart", "data/app=redis", 6379,
                connections_per_minute=12, request_bytes=200, response_bytes=1_500),
    TrafficRule("prometheus-scrapes-frontend", "monitoring/app=prometheus", "frontend/*", 8080,
                connections_per_minute=4, request_bytes=250, response_bytes=24_000),
    TrafficRule("prometheus-scrapes-backend", "monitoring/app=prometheus", "backend/*", 8080,
                connections_per_minute=4, request_bytes=250, response_bytes=24_000),
    TrafficRule("web-to-postgres", "frontend/app=web", "data/app=postgres", 5432,
                connections_per_minute=2, request_bytes=100, response_bytes=0, probe=True),
    TrafficRule("cart-to-postgres", "backend/app=cart", "svc/data/postgres", 5432,
                connections_per_minute=2, request_bytes=100, response_bytes=200, probe=True),
    TrafficRule("web-to-redis", "frontend/app=web", "data/app=redis", 6379,
                connections_per_minute=1, request_bytes=60, response_bytes=0, probe=True),
    TrafficRule("web-scans-prometheus", "frontend/app=web", "monitoring/app=prometheus", 9090,
                connections_per_minute=1, request_bytes=80, response_bytes=0, probe=True),
))
PROFILES: dict[str, TrafficProfile] = {"shop": SHOP_TRAFFIC}


def traffic_profile(name_or_path: str | TrafficProfile) -> TrafficProfile:
    """A built-in profile by name (``"shop"``), a YAML file, or the profile itself."""
    if isinstance(name_or_path, TrafficProfile):
        return name_or_path
    if name_or_path in PROFILES:
        return PROFILES[name_or_path]
    if Path(name_or_path).exists():
        return TrafficProfile.load(name_or_path)
    raise TrafficError(f"no traffic profile {name_or_path!r}",
                       hint=f"use one of {', '.join(PROFILES)} or the path of a TrafficProfile YAML")


# --------------------------------------------------------------------------------------------
# Plan: concrete connections for one cluster


@dataclass(frozen=True)
class PlannedConnection:
    """One connection a client opens: its 5-tuple, when, and the Service behind it (if any)."""

    rule: str
    source: str  # ns/pod
    destination: str  # ns/pod (the endpoint, after Service load balancing)
    key: FlowKey
    protocol: str
    start_s: float
    end_s: float
    request_bytes: int
    response_bytes: int
    probe: bool = False
    service: str = ""  # ns/name
    service_port: int = 0
    service_port_name: str = ""  # as Antrea writes destinationServicePortName
    cluster_ip: str = ""


def _parse_pods(selector: str, where: str) -> tuple[str, str | None, dict[str, str] | None]:
    ns, sep, rest = selector.partition("/")
    if not sep or not ns or not rest:
        raise TrafficError(f"selector {selector!r} is not 'namespace/pod-glob', "
                           "'namespace/label=value' or 'svc/namespace/name'", where=where)
    if "=" not in rest:
        return ns, rest, None
    labels = {}
    for part in rest.split(","):
        k, eq, v = part.partition("=")
        if not eq or not k.strip():
            raise TrafficError(f"label selector {rest!r} is not 'key=value[,key=value]'", where=where)
        labels[k.strip()] = v.strip()
    return ns, None, labels


def select_pods(state: ClusterState, selector: str, where: str = "selector") -> list[Pod]:
    """The Pods a ``"ns/pod-glob"`` or ``"ns/label=value,..."`` selector matches, sorted."""
    ns, glob, labels = _parse_pods(selector, where)
    return [p for p in state.pods
            if fnmatch.fnmatchcase(p.namespace, ns)
            and (glob is None or fnmatch.fnmatchcase(p.name, glob))
            and (labels is None or all(p.labels.get(k) == v for k, v in labels.items()))]


def _service(state: ClusterState, selector: str, where: str) -> Service | None:
    kind, _, rest = selector.partition("/")
    if kind not in ("svc", "service"):
        return None
    ns, _, name = rest.partition("/")
    for svc in state.services:
        if svc.namespace == ns and svc.name == name:
            return svc
    known = ", ".join(f"svc/{s.namespace}/{s.name}" for s in state.services) or "none"
    raise TrafficError(f"no Service {rest!r}", where=where, hint=f"Services are: {known}")


def _service_port(svc: Service, port: int | str, protocol: str, where: str) -> ServicePort:
    for sp in svc.ports:
        if sp.protocol == protocol and (sp.port == port or (sp.name and sp.name == port)):
            return sp
    ports = ", ".join(f"{p.port}/{p.protocol}" + (f" ({p.name})" if p.name else "") for p in svc.ports)
    raise TrafficError(f"Service {svc.namespace}/{svc.name} has no port {port}/{protocol}", where=where,
                       hint=f"its ports are {ports}")


def _target_port(pod: Pod, port: int | str | None, protocol: str) -> int | None:
    if port is None:
        return None
    if isinstance(port, int):
        return port
    if port.isdigit():
        return int(port)
    return pod.named_port(port, protocol)


def plan_connections(state: ClusterState, profile: TrafficProfile | str, *, duration_s: float = 60.0,
                     start_s: float = DEFAULT_START_S, seed: int = 0) -> list[PlannedConnection]:
    """Every connection ``profile`` opens in ``[start_s, start_s + duration_s)``, in time order.

    Deterministic: the same state, profile and seed give the same connections. Each stream
    (source Pod, or source and destination Pods) starts at a random phase of its interval;
    source ports are ephemeral (32768-60999) and unique per source address; a Service picks a
    random endpoint per connection."""
    profile = traffic_profile(profile)
    planned: list[PlannedConnection] = []
    used_ports: set[tuple[str, int]] = set()
    problems: list[str] = []
    for index, rule in enumerate(profile.rules):
        where = f"traffic profile {profile.name}, rule {index} ({rule.name})"
        try:
            planned += _plan_rule(state, rule, where, start_s, duration_s, seed, used_ports)
        except TrafficError as exc:
            problems.append(str(exc))
    if problems:
        raise TrafficError("; ".join(problems))
    planned.sort(key=lambda c: (c.start_s, c.source, c.key.source_transport_port))
    return planned


def _plan_rule(state: ClusterState, rule: TrafficRule, where: str, start_s: float, duration_s: float,
               seed: int, used_ports: set[tuple[str, int]]) -> list[PlannedConnection]:
    protocol = rule.protocol.upper()
    if protocol not in EXPORTED_PROTOCOLS:
        raise TrafficError(f"protocol {rule.protocol!r} is not exported by the Flow Exporter",
                           where=where + ", protocol",
                           hint="Antrea's default flowExporter.protocolFilter is TCP, UDP and SCTP")
    if rule.connections_per_minute <= 0 or rule.duration_s <= 0:
        raise TrafficError("connections_per_minute and duration_s must be > 0", where=where)
    sources = select_pods(state, rule.source, where + ", source")
    if not sources:
        raise TrafficError(f"source {rule.source!r} matches no Pod", where=where + ", source",
                           hint="check the namespace and labels with lab.pods")
    svc = _service(state, rule.destination, where + ", destination")
    if svc is not None:
        sp = _service_port(svc, rule.port, protocol, where + ", port")
        selector = dict(svc.selector or {})
        endpoints = [p for p in state.pods if p.namespace == svc.namespace and selector
                     and all(p.labels.get(k) == v for k, v in selector.items())
                     and _target_port(p, sp.target_port if sp.target_port is not None else sp.port,
                                      protocol) is not None]
        if not endpoints:
            raise TrafficError(f"Service {svc.namespace}/{svc.name} has no endpoint for port {sp.port}",
                               where=where + ", destination")
        streams = [(src, None) for src in sources]
    else:
        destinations = select_pods(state, rule.destination, where + ", destination")
        if not destinations:
            raise TrafficError(f"destination {rule.destination!r} matches no Pod", where=where + ", destination")
        streams = [(src, dst) for src in sources for dst in destinations if src.key != dst.key]
        sp, endpoints = None, []
    interval = 60.0 / rule.connections_per_minute
    out: list[PlannedConnection] = []
    for src, dst in streams:
        rng = random.Random(f"{seed}/{rule.name}/{src.key}/{dst.key if dst else svc.name}")
        t = start_s + rng.random() * interval
        while t < start_s + duration_s:
            endpoint = dst if dst is not None else rng.choice(endpoints)
            if endpoint.key == src.key:  # hairpin to itself never leaves the Pod: no flow
                t += interval
                continue
            if sp is not None:
                port = _target_port(endpoint, sp.target_port if sp.target_port is not None else sp.port, protocol)
            else:
                port = _target_port(endpoint, rule.port, protocol)
                if port is None:
                    raise TrafficError(f"Pod {endpoint.key} has no {protocol} port named {rule.port!r}",
                                       where=where + ", port")
            assert port is not None
            sport = _ephemeral_port(rng, src.pod_ip, used_ports)
            out.append(PlannedConnection(
                rule.name, src.key, endpoint.key,
                FlowKey(src.pod_ip, endpoint.pod_ip, PROTOCOL_NUMBERS[protocol], sport, port),
                protocol, t, t + rule.duration_s, rule.request_bytes, rule.response_bytes, rule.probe,
                service=f"{svc.namespace}/{svc.name}" if sp is not None else "",
                service_port=sp.port if sp is not None else 0,
                service_port_name=(f"{svc.namespace}/{svc.name}" + (f":{sp.name}" if sp.name else ""))
                if sp is not None else "",
                cluster_ip=svc.cluster_ip if sp is not None else ""))
            t += interval
    return out


def _ephemeral_port(rng: random.Random, ip: str, used: set[tuple[str, int]]) -> int:
    lo, hi = EPHEMERAL_PORTS
    for _ in range(1000):
        port = rng.randint(lo, hi)
        if (ip, port) not in used:
            used.add((ip, port))
            return port
    raise TrafficError(f"{ip} has no free ephemeral port left", hint="lower the connection rates")


# --------------------------------------------------------------------------------------------
# Decide: the policy engine's verdict for every connection


@dataclass(frozen=True)
class Connection:
    """A planned connection with the verdict the lab's policies give it, and why."""

    planned: PlannedConnection
    explanation: Explanation

    @property
    def verdict(self) -> str:
        return self.explanation.verdict


def decide(state: ClusterState, policy_set: PolicySet, planned: Sequence[PlannedConnection]) -> list[Connection]:
    """Evaluate every connection once per (protocol, port), as ``lab.expected_reachability``
    does; a rule whose ``sourcePort`` range makes the verdict depend on the source port is
    re-evaluated with the connection's real source port."""
    by_probe: dict[tuple[str, int], list[PlannedConnection]] = {}
    for c in planned:
        by_probe.setdefault((c.protocol, c.key.destination_transport_port), []).append(c)
    explained: dict[int, Explanation] = {}
    for (protocol, port), group in by_probe.items():
        probe = Probe(protocol, port)
        sources = sorted({c.source for c in group})
        destinations = sorted({c.destination for c in group})
        ev = evaluate(policy_set, state.pods, probe, sources, destinations)
        matrix = Reachability.from_evaluation(ev, probe, policy_set, backend="sim")
        cache: dict[tuple[str, str], Explanation] = {}
        for c in group:
            if ev.ambiguous_rules:
                exact = Probe(protocol, port, c.key.source_transport_port)
                one = evaluate(policy_set, state.pods, exact, [c.source], [c.destination])
                explained[id(c)] = Reachability.from_evaluation(one, exact, policy_set).explain(c.source, c.destination)
                continue
            pair = (c.source, c.destination)
            if pair not in cache:
                cache[pair] = matrix.explain(*pair)
            explained[id(c)] = cache[pair]
    return [Connection(c, explained[id(c)]) for c in planned]


def policy_fields(decision: Decision) -> dict[str, Any]:
    """The ``{ingress,egress}NetworkPolicy*`` values an agent reports for one side's decision
    (without the direction prefix): ``name``, ``namespace``, ``type``, ``rule_name``,
    ``rule_action``.

    Antrea fills them from the rule id in the conntrack label (allowed connections) or in the
    packet-in (denied ones): K8s NetworkPolicy rules have no names; an isolation drop names no
    policy at all (type 1, action Drop); no rule means action 0 and empty names."""
    none = {"name": "", "namespace": "", "type": PolicyType.NONE, "rule_name": "", "rule_action": RuleAction.NONE}
    if decision.stage in ("self", "default") and decision.rule is None:
        return none
    rule = decision.rule
    if rule is None:  # K8s NetworkPolicy isolation ("default deny")
        return {**none, "type": PolicyType.K8S, "rule_action": RuleAction.DROP}
    kind = {"K8sNetworkPolicy": PolicyType.K8S, "AntreaNetworkPolicy": PolicyType.ANNP,
            "AntreaClusterNetworkPolicy": PolicyType.ACNP}[rule.policy_kind]
    return {"name": rule.policy_name, "namespace": rule.policy_namespace, "type": kind,
            "rule_name": "" if kind == PolicyType.K8S else rule.rule_name,
            "rule_action": {"Allow": RuleAction.ALLOW, "Drop": RuleAction.DROP,
                            "Reject": RuleAction.REJECT}[rule.action]}


def _side(direction: str, decision: Decision | None) -> dict[str, Any]:
    if decision is None:
        return {}
    return {f"{direction}_network_policy_{k}": int(v) if not isinstance(v, str) else v
            for k, v in policy_fields(decision).items()}


# --------------------------------------------------------------------------------------------
# Realize on sim: per-Node flow records


@runtime_checkable
class FlowSource(Protocol):
    """Where a backend's per-Node flow records come from (sim: synthesized; ovs: the datapath)."""

    def poll(self, until_s: float) -> list[ExportedRecord]:
        """Records the agents exported up to ``until_s`` (epoch seconds) and not returned before,
        in export order."""


@dataclass(frozen=True)
class _Counts:
    packets: int
    octets: int
    reverse_packets: int
    reverse_octets: int


def _allowed_counts(protocol: str, request: int, response: int) -> _Counts:
    if protocol == "UDP":
        fwd = max(1, math.ceil(request / _UDP_PAYLOAD))
        rev = math.ceil(response / _UDP_PAYLOAD)
        return _Counts(fwd, request + _UDP_HEADER * fwd, rev, response + _UDP_HEADER * rev)
    # TCP (SCTP is counted alike): handshake, data, delayed ACKs (one per two segments), FIN/ACK.
    fwd_data, rev_data = math.ceil(request / _TCP_MSS), math.ceil(response / _TCP_MSS)
    fwd = 2 + fwd_data + math.ceil(rev_data / 2) + 2
    rev = 1 + rev_data + math.ceil(fwd_data / 2) + 1
    return _Counts(fwd, request + _TCP_HEADER * fwd, rev, response + _TCP_HEADER * rev)


def _denied_counts(protocol: str, request: int, action: str) -> tuple[_Counts, float]:
    """What the client sent before giving up, and for how long (seconds)."""
    if protocol == "UDP":
        return _Counts(1, request + _UDP_HEADER, 0, 0), 0.0
    if action == "Reject":  # the agent answers the first SYN with an RST at once
        return _Counts(1, _SYN_BYTES, 0, 0), 0.0
    return _Counts(len(_SYN_RETRIES_S), _SYN_BYTES * len(_SYN_RETRIES_S), 0, 0), _SYN_RETRIES_S[-1]


class SimFlowSource:
    """The ``sim`` backend's Flow Exporters: every Node's records for decided connections."""

    def __init__(self, state: ClusterState, connections: Iterable[Connection], *,
                 active_flow_export_timeout_s: float = ACTIVE_FLOW_EXPORT_TIMEOUT_S,
                 start_s: float | None = None) -> None:
        if active_flow_export_timeout_s <= 0:
            raise TrafficError("active_flow_export_timeout_s must be > 0")
        self._pods = {p.key: p for p in state.pods}
        self.connections = list(connections)
        self.interval_s = active_flow_export_timeout_s
        self.start_s = start_s if start_s is not None else min(
            (c.planned.start_s for c in self.connections), default=DEFAULT_START_S)
        exports: list[tuple[tuple, ExportedRecord]] = []
        for c in self.connections:
            exports += self._exports(c)
        exports.sort(key=lambda item: item[0])
        self.exports: list[ExportedRecord] = [e for _, e in exports]
        self._cursor = 0

    def poll(self, until_s: float) -> list[ExportedRecord]:
        start = self._cursor
        while self._cursor < len(self.exports) and self.exports[self._cursor].export_time_s <= until_s:
            self._cursor += 1
        return self.exports[start:self._cursor]

    # -- one connection -----------------------------------------------------------------------

    def _tick_after(self, t: float, strictly: bool) -> float:
        k = (t - self.start_s) / self.interval_s
        index = math.floor(k) + 1 if strictly else math.ceil(k)
        return self.start_s + max(index, 1) * self.interval_s

    def _exports(self, c: Connection) -> list[tuple[tuple, ExportedRecord]]:
        p = c.planned
        src, dst = self._pods[p.source], self._pods[p.destination]
        intra = src.node_name == dst.node_name
        exp = c.explanation
        base = dict(source_ip=p.key.source_ip, destination_ip=p.key.destination_ip,
                    source_transport_port=p.key.source_transport_port,
                    destination_transport_port=p.key.destination_transport_port,
                    protocol_identifier=p.key.protocol_identifier,
                    flow_type=int(FlowType.INTRA_NODE if intra else FlowType.INTER_NODE))
        src_meta = dict(source_pod_name=src.name, source_pod_namespace=src.namespace, source_node_name=src.node_name,
                        destination_cluster_ip=p.cluster_ip, destination_service_port=p.service_port,
                        destination_service_port_name=p.service_port_name)
        dst_meta = dict(destination_pod_name=dst.name, destination_pod_namespace=dst.namespace,
                        destination_node_name=dst.node_name)
        out: list[tuple[tuple, ExportedRecord]] = []

        def emit(node: str, when: float, record: FlowRecord, deny_store: bool) -> None:
            # Within one agent, conntrack connections are exported before denied ones
            # (flowexporter: conntrack priority queue, then deny priority queue).
            order = (when, node, deny_store, p.start_s, p.key.source_transport_port)
            out.append((order, ExportedRecord(node, when, record)))

        if exp.verdict == "allow":
            counts = _allowed_counts(p.protocol, p.request_bytes, p.response_bytes)
            meta_src = {**src_meta, **_side("egress", exp.egress)}
            meta_dst = {**dst_meta, **_side("ingress", exp.ingress)}
            previous = _Counts(0, 0, 0, 0)
            tick = self._tick_after(p.start_s, strictly=True)
            while True:
                now = min(tick, p.end_s)
                fraction = (now - p.start_s) / (p.end_s - p.start_s)
                total = _Counts(*(round(v * fraction) for v in (counts.packets, counts.octets,
                                                                 counts.reverse_packets, counts.reverse_octets)))
                ended = tick >= p.end_s
                # flowEndSeconds is when the agent's conntrack poll last saw the connection
                # (its StopTime), so it grows with every export even for a closed connection.
                stats = dict(flow_start_seconds=int(p.start_s), flow_end_seconds=int(tick),
                             flow_end_reason=int(FlowEndReason.END_OF_FLOW if ended else FlowEndReason.ACTIVE_TIMEOUT),
                             packet_total_count=total.packets, octet_total_count=total.octets,
                             packet_delta_count=total.packets - previous.packets,
                             octet_delta_count=total.octets - previous.octets,
                             reverse_packet_total_count=total.reverse_packets,
                             reverse_octet_total_count=total.reverse_octets,
                             reverse_packet_delta_count=total.reverse_packets - previous.reverse_packets,
                             reverse_octet_delta_count=total.reverse_octets - previous.reverse_octets,
                             tcp_state=("TIME_WAIT" if ended else "ESTABLISHED") if p.protocol == "TCP" else "")
                if intra:
                    emit(src.node_name, tick, FlowRecord(**base, **stats, **meta_src, **meta_dst), False)
                else:
                    emit(src.node_name, tick, FlowRecord(**base, **stats, **meta_src), False)
                    emit(dst.node_name, tick, FlowRecord(**base, **stats, **meta_dst), False)
                previous = total
                if ended:
                    break
                tick += self.interval_s
            return out

        # Denied: the side that decided is egress (at the source) or ingress (at the destination).
        denied_at_egress = exp.egress.action != "Allow"
        action = exp.egress.action if denied_at_egress else exp.ingress.action
        counts, lasted_s = _denied_counts(p.protocol, p.request_bytes, action)
        end = p.start_s + lasted_s
        tick = self._tick_after(end, strictly=False)
        deny_stats = dict(flow_start_seconds=int(p.start_s), flow_end_seconds=int(end),
                          flow_end_reason=int(FlowEndReason.IDLE_TIMEOUT),
                          packet_total_count=counts.packets, octet_total_count=counts.octets,
                          packet_delta_count=counts.packets, octet_delta_count=counts.octets)
        egress = _side("egress", exp.egress)
        if denied_at_egress:
            # The packet never leaves the source Node: only its agent knows, and the ingress
            # side was never evaluated.
            meta = {**src_meta, **egress, **(dst_meta if intra else {})}
            emit(src.node_name, tick, FlowRecord(**base, **deny_stats, **meta), True)
            return out
        ingress = _side("ingress", exp.ingress)
        if intra:
            emit(src.node_name, tick, FlowRecord(**base, **deny_stats, **src_meta, **dst_meta, **egress, **ingress), True)
            return out
        # Inter-Node, denied at the destination: the source Node committed the connection in
        # conntrack (egress allowed it) and exports it like any other; the destination Node's
        # deny connection store exports the denied one.
        rejected = action == "Reject" and p.protocol != "UDP"
        src_stats = {**deny_stats,
                     "flow_end_reason": int(FlowEndReason.END_OF_FLOW if rejected else FlowEndReason.IDLE_TIMEOUT),
                     "reverse_packet_total_count": 1 if rejected else 0,
                     "reverse_octet_total_count": _RST_BYTES if rejected else 0,
                     "reverse_packet_delta_count": 1 if rejected else 0,
                     "reverse_octet_delta_count": _RST_BYTES if rejected else 0,
                     "tcp_state": ("CLOSE" if rejected else "SYN_SENT") if p.protocol == "TCP" else ""}
        emit(src.node_name, tick, FlowRecord(**base, **src_stats, **src_meta, **egress), False)
        emit(dst.node_name, tick, FlowRecord(**base, **deny_stats, **dst_meta, **ingress), True)
        return out


# --------------------------------------------------------------------------------------------
# The whole run


@dataclass
class TrafficRun:
    """The outcome of ``lab.generate_traffic`` (:func:`synthesize_traffic` on sim)."""

    profile: TrafficProfile
    start_s: float
    duration_s: float
    seed: int
    connections: list[Connection]
    exports: list[ExportedRecord]
    pods: dict[str, Pod] = field(default_factory=dict, repr=False)

    @property
    def records(self) -> list[FlowRecord]:
        """Every per-Node record, in export order."""
        return [e.record for e in self.exports]

    def frame(self) -> "pd.DataFrame":
        """The per-Node records as a DataFrame (see :func:`records_to_frame`), plus
        ``exporter`` (the Node) and ``exportTime``."""
        import pandas as pd

        frame = records_to_frame(self.records)
        frame.insert(0, "exporter", [e.exporter for e in self.exports])
        frame.insert(1, "exportTime", pd.to_datetime([e.export_time_s for e in self.exports], unit="s", utc=True))
        return frame

    def connections_frame(self) -> "pd.DataFrame":
        """One row per connection: rule, source, destination, Service, port, verdict and the
        deciding policy on each side (labkit's view, before any flow record)."""
        import pandas as pd

        rows = []
        for c in self.connections:
            p, e = c.planned, c.explanation
            rows.append({"rule": p.rule, "probe": p.probe, "source": p.source, "destination": p.destination,
                         "service": p.service, "protocol": p.protocol, "port": p.key.destination_transport_port,
                         "start": pd.Timestamp(p.start_s, unit="s", tz="UTC"), "verdict": e.verdict,
                         "egress_policy": e.egress.to_dict()["policy"], "ingress_policy": e.ingress.to_dict()["policy"]})
        return pd.DataFrame(rows, columns=["rule", "probe", "source", "destination", "service", "protocol", "port",
                                           "start", "verdict", "egress_policy", "ingress_policy"])

    def aggregate(self, **options: Any) -> "FlowAggregator":
        """Replay the exports through a Flow Aggregator (Aggregate mode) until every flow has
        been exported; ``options`` go to :class:`~labkit.flows.aggregator.FlowAggregator`."""
        from labkit.flows.aggregator import FlowAggregator, pods_by_ip

        options.setdefault("pods", pods_by_ip(self.pods.values()))
        aggregator = FlowAggregator(**options)
        aggregator.replay(self.exports)
        return aggregator


def synthesize_traffic(state: ClusterState, policy_set: PolicySet, profile: TrafficProfile | str = "shop", *,
                       duration_s: float = 60.0, start_s: float = DEFAULT_START_S, seed: int = 0,
                       active_flow_export_timeout_s: float = ACTIVE_FLOW_EXPORT_TIMEOUT_S) -> TrafficRun:
    """Plan ``profile`` on a cluster, decide every connection with its policies, and synthesize the
    records each Node's Flow Exporter would export: the sim backend's realization of
    ``lab.generate_traffic`` (backends with a datapath play the profile for real instead)."""
    profile = traffic_profile(profile)
    planned = plan_connections(state, profile, duration_s=duration_s, start_s=start_s, seed=seed)
    connections = decide(state, policy_set, planned)
    source = SimFlowSource(state, connections, active_flow_export_timeout_s=active_flow_export_timeout_s,
                           start_s=start_s)
    return TrafficRun(profile, start_s, duration_s, seed, connections, source.exports,
                      {p.key: p for p in state.pods})


__all__ = [
    "ACTIVE_FLOW_EXPORT_TIMEOUT_S",
    "Connection",
    "DEFAULT_START_S",
    "FlowSource",
    "PROFILES",
    "PlannedConnection",
    "SHOP_TRAFFIC",
    "SimFlowSource",
    "TrafficError",
    "TrafficProfile",
    "TrafficRule",
    "TrafficRun",
    "decide",
    "synthesize_traffic",
    "plan_connections",
    "policy_fields",
    "select_pods",
    "traffic_profile",
]
