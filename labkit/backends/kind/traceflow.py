"""Traceflow on a real cluster: create a ``crd.antrea.io/v1beta1`` Traceflow, poll, read, delete.

The CR and its status are Antrea's (docs/traceflow-guide.md; reference §2): a cluster-scoped
``Traceflow`` with ``spec.source {namespace, pod}``, ``spec.destination {namespace, pod}`` and
``spec.packet {ipHeader.protocol, transportHeader.tcp|udp {dstPort[, srcPort], flags}}``; the
controller sets ``status.phase`` Running -> Succeeded | Failed and each Node reports
``status.results[] {node, role, timestamp, observations[]}``. Traceflow traces ICMP, TCP and UDP
only. ``antctl traceflow`` deletes its CR after reading the result; so do we.

The observation types here mirror :mod:`labkit.widgets.traceflow` field for field; they live in
this package because backends may not import widgets (import-linter layers). The lead's wiring
can move one set below both (see docs/backend-kind.md).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from ...errors import CommandError, UnsupportedOperation
from ...policy.probe import Probe
from .tools import Shell
from .workloads import MANAGED_BY

IP_PROTOCOL_NUMBERS = {"ICMP": 1, "TCP": 6, "UDP": 17}
DEFAULT_TIMEOUT_S = 20  # DefaultTraceflowTimeout
FINAL_PHASES = ("Succeeded", "Failed")

# CRD (camelCase) -> dataclass field; the CRD spells IP in capitals.
_FIELDS = {"component": "component", "componentInfo": "component_info", "action": "action", "pod": "pod",
           "dstMAC": "dst_mac", "networkPolicy": "network_policy", "networkPolicyRule": "network_policy_rule",
           "egress": "egress", "ttl": "ttl", "translatedSrcIP": "translated_src_ip",
           "translatedDstIP": "translated_dst_ip", "tunnelDstIP": "tunnel_dst_ip", "egressIP": "egress_ip",
           "egressNode": "egress_node", "srcPodIP": "src_pod_ip"}


@dataclass(frozen=True)
class Observation:
    """One ``status.results[].observations[]`` entry (every CRD field, snake_case)."""

    component: str
    action: str
    component_info: str = ""
    pod: str = ""
    dst_mac: str = ""
    network_policy: str = ""
    network_policy_rule: str = ""
    egress: str = ""
    ttl: int = 0
    translated_src_ip: str = ""
    translated_dst_ip: str = ""
    tunnel_dst_ip: str = ""
    egress_ip: str = ""
    egress_node: str = ""
    src_pod_ip: str = ""

    @classmethod
    def from_dict(cls, data: dict) -> "Observation":
        kwargs = {_FIELDS[k]: v for k, v in data.items() if k in _FIELDS}
        kwargs.setdefault("component", "")
        kwargs.setdefault("action", "")
        return cls(**kwargs)

    def to_dict(self) -> dict:
        back = {v: k for k, v in _FIELDS.items()}
        return {back[k]: v for k, v in asdict(self).items() if v}


@dataclass(frozen=True)
class NodeResult:
    node: str
    role: str  # Sender | Receiver
    timestamp: int = 0
    observations: tuple[Observation, ...] = ()


@dataclass(frozen=True)
class TraceflowResult:
    """A finished Traceflow as read back from the cluster."""

    name: str
    source: str
    destination: str
    phase: str
    reason: str = ""
    results: tuple[NodeResult, ...] = ()
    start_time: str = ""
    dataplane_tag: int = 0
    captured_packet: dict = field(default_factory=dict)
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def observations(self) -> list[tuple[str, Observation]]:
        """Every observation in path order (sender node first), with its node."""
        ordered = sorted(self.results, key=lambda r: 0 if r.role == "Sender" else 1)
        return [(r.node, o) for r in ordered for o in r.observations]

    @property
    def final_action(self) -> str:
        obs = self.observations
        return obs[-1][1].action if obs else ""


def traceflow_name(lab: str) -> str:
    return f"labkit-{lab}-{uuid.uuid4().hex[:8]}"


def render_traceflow(name: str, src: str, dst: str, probe: Probe, timeout_s: int = DEFAULT_TIMEOUT_S) -> dict:
    """The Traceflow CR for one probe between two pods (``ns/name``)."""
    if probe.protocol not in IP_PROTOCOL_NUMBERS:
        raise UnsupportedOperation(f"Antrea Traceflow traces ICMP, TCP and UDP, not {probe.protocol}; "
                                   "use lab.explain() (any backend) for SCTP")
    src_ns, _, src_pod = src.partition("/")
    dst_ns, _, dst_pod = dst.partition("/")
    packet: dict[str, Any] = {"ipHeader": {"protocol": IP_PROTOCOL_NUMBERS[probe.protocol]}}
    if probe.protocol in ("TCP", "UDP"):
        transport: dict[str, Any] = {"dstPort": int(probe.port)}
        if probe.src_port:
            transport["srcPort"] = int(probe.src_port)
        if probe.protocol == "TCP":
            transport["flags"] = 2  # SYN, Antrea's default
        packet["transportHeader"] = {probe.protocol.lower(): transport}
    return {"apiVersion": "crd.antrea.io/v1beta1", "kind": "Traceflow",
            "metadata": {"name": name, "labels": {MANAGED_BY[0]: MANAGED_BY[1]}},
            "spec": {"source": {"namespace": src_ns, "pod": src_pod},
                     "destination": {"namespace": dst_ns, "pod": dst_pod},
                     "packet": packet, "timeout": int(timeout_s)}}


def parse_traceflow(obj: dict) -> TraceflowResult:
    """A TraceflowResult from ``kubectl get traceflow <name> -o json``."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    src, dst = spec.get("source") or {}, spec.get("destination") or {}

    def who(end: dict) -> str:
        if end.get("pod"):
            return f"{end.get('namespace', 'default')}/{end['pod']}"
        if end.get("service"):
            return f"{end.get('namespace', 'default')}/svc/{end['service']}"
        return end.get("ip", "")

    results = tuple(NodeResult(r.get("node", ""), r.get("role", ""), int(r.get("timestamp") or 0),
                               tuple(Observation.from_dict(o) for o in r.get("observations") or []))
                    for r in status.get("results") or [])
    return TraceflowResult((obj.get("metadata") or {}).get("name", ""), who(src), who(dst),
                           status.get("phase", ""), status.get("reason", ""), results, status.get("startTime", ""),
                           int(status.get("dataplaneTag") or 0), status.get("capturedPacket") or {}, obj)


def run_traceflow(shell: Shell, kubectl: list[str], cr: dict, *, poll_s: float = 0.5,
                  sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic
                  ) -> TraceflowResult:
    """Create the CR, poll until Succeeded/Failed (spec.timeout + 10 s at most), delete it."""
    name = cr["metadata"]["name"]
    shell.run([*kubectl, "create", "-f", "-"], input=json.dumps(cr), timeout_s=30,
              hint="the Traceflow CRD comes with Antrea; check 'kubectl get crd traceflows.crd.antrea.io'")
    deadline = clock() + cr["spec"].get("timeout", DEFAULT_TIMEOUT_S) + 10
    try:
        while True:
            out = shell.run([*kubectl, "get", "traceflows.crd.antrea.io", name, "-o", "json"], timeout_s=30)
            result = parse_traceflow(json.loads(out.stdout))
            if result.phase in FINAL_PHASES:
                return result
            if clock() > deadline:
                raise CommandError(f"Traceflow {name} still {result.phase or 'pending'} after "
                                   f"{cr['spec'].get('timeout', DEFAULT_TIMEOUT_S) + 10} s; fix: check the "
                                   "antrea-controller logs (kubectl -n kube-system logs deploy/antrea-controller)")
            sleep(poll_s)
    finally:
        shell.run([*kubectl, "delete", "traceflows.crd.antrea.io", name, "--ignore-not-found"], timeout_s=30,
                  check=False)


__all__ = ["Observation", "NodeResult", "TraceflowResult", "render_traceflow", "parse_traceflow", "run_traceflow",
           "traceflow_name"]
