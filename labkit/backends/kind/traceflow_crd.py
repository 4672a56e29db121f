"""Traceflow on a real cluster: create a ``crd.antrea.io/v1beta1`` Traceflow, watch, read, delete.

The CR and its status are Antrea's (docs/traceflow-guide.md; reference §2): a cluster-scoped
``Traceflow`` with ``spec.source {namespace, pod}``, ``spec.destination {namespace, pod}`` and
``spec.packet {ipHeader.protocol, transportHeader.tcp|udp {dstPort[, srcPort], flags}}``; the
controller sets ``status.phase`` Running -> Succeeded | Failed and each Node reports
``status.results[] {node, role, timestamp, observations[]}``. Traceflow traces ICMP, TCP and UDP
only. ``antctl traceflow`` deletes its CR after reading the result; so do we. The CR is created and
watched through the Kubernetes client (:meth:`.kube.KubeClient.watch`: a watch with the field
selector ``metadata.name=<name>`` until the phase is final or the Traceflow's own timeout + 10 s
has passed).

Results are the same :class:`~labkit.policy.traceflow.Traceflow` type the sim backend predicts
and the widgets draw.
"""

from __future__ import annotations

import uuid
from typing import Any

from ...errors import CommandError, UnsupportedOperation
from ...policy.probe import Probe
from ...policy.traceflow import NodeResult, Observation, Traceflow
from .kube import KubeClient
from .workloads import MANAGED_BY

IP_PROTOCOL_NUMBERS = {"ICMP": 1, "TCP": 6, "UDP": 17}
DEFAULT_TIMEOUT_S = 20  # DefaultTraceflowTimeout
FINAL_PHASES = ("Succeeded", "Failed")

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


def _probe_of(packet: dict) -> Probe:
    """The labkit Probe a Traceflow spec's packet describes (ICMP when no transport header)."""
    protocol = {v: k for k, v in IP_PROTOCOL_NUMBERS.items()}.get((packet.get("ipHeader") or {}).get("protocol", 1),
                                                                  "ICMP")
    transport = (packet.get("transportHeader") or {}).get(protocol.lower()) or {}
    if protocol == "ICMP":
        return Probe("ICMP", None)
    return Probe(protocol, int(transport.get("dstPort") or 1), transport.get("srcPort") or None)


def parse_traceflow(obj: dict) -> Traceflow:
    """A Traceflow from ``kubectl get traceflow <name> -o json``."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    src, dst = spec.get("source") or {}, spec.get("destination") or {}

    def who(end: dict) -> str:
        if end.get("pod"):
            return f"{end.get('namespace', 'default')}/{end['pod']}"
        if end.get("service"):
            return f"{end.get('namespace', 'default')}/svc/{end['service']}"
        return end.get("ip", "")

    results = tuple(NodeResult(r.get("node", ""), r.get("role", ""),
                               tuple(Observation.from_dict(o) for o in r.get("observations") or []),
                               int(r.get("timestamp") or 0))
                    for r in status.get("results") or [])
    return Traceflow(who(src), who(dst), _probe_of(spec.get("packet") or {}), status.get("phase", ""), results,
                     status.get("reason", ""), name=(obj.get("metadata") or {}).get("name", ""),
                     start_time=status.get("startTime", ""), dataplane_tag=int(status.get("dataplaneTag") or 0),
                     captured_packet=status.get("capturedPacket") or {}, source_kind="antrea")


def run_traceflow(kube: KubeClient, cr: dict) -> Traceflow:
    """Create the CR, watch it until Succeeded/Failed (spec.timeout + 10 s at most), delete it."""
    name = cr["metadata"]["name"]
    limit_s = cr["spec"].get("timeout", DEFAULT_TIMEOUT_S) + 10
    kube.create(cr, hint="the Traceflow CRD comes with Antrea; check 'kubectl get crd traceflows.crd.antrea.io'")
    try:
        phase = "pending"
        for event in kube.watch("crd.antrea.io", "Traceflow", name, limit_s):
            obj = event.get("object") or {}
            if event.get("type") == "DELETED":
                break
            result = parse_traceflow(obj)
            phase = result.phase or phase
            if result.phase in FINAL_PHASES:
                return result
        raise CommandError(f"Traceflow {name} still {phase} after {limit_s} s; fix: check the "
                           "antrea-controller logs (kubectl -n kube-system logs deploy/antrea-controller)")
    finally:
        kube.delete(cr)


__all__ = ["render_traceflow", "parse_traceflow", "run_traceflow", "traceflow_name"]
