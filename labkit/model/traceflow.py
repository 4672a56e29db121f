"""An Antrea ``Traceflow`` request (``crd.antrea.io/v1beta1``), checked with the model's validation.

Traceflows are requests, not cluster state, so they never enter :class:`ClusterState`; the
Kubernetes API face stores them and fills their status. The checks are those of the CRD schema
and Antrea's Traceflow controller (``pkg/controller/traceflow/controller.go`` ``validateTraceflow``;
reference antrea.md §2.1): a source Pod (namespace + pod), exactly one destination (pod, service
or ip), ``ipHeader.protocol`` 1 (ICMP, the default), 6 (TCP), 17 (UDP) or 132 (SCTP), a
``dstPort`` for TCP/UDP, ``timeout`` 1-3600 s (default 20). Live-traffic traces are not modelled.
Problems come back as :class:`labkit.errors.Problem` with field paths, like every manifest.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ..errors import Problem
from .parse import _Ctx
from .yamlsrc import Document

PROTOCOLS = {1: "ICMP", 6: "TCP", 17: "UDP", 132: "SCTP"}
DEFAULT_TIMEOUT_S = 20  # DefaultTraceflowTimeout


@dataclass(frozen=True)
class TraceflowSpec:
    name: str
    source: str  # ns/pod
    destination_pod: str = ""  # ns/pod
    destination_ip: str = ""
    destination_service: str = ""  # ns/name
    protocol: str = "ICMP"
    dst_port: int | None = None
    src_port: int | None = None
    timeout_s: int = DEFAULT_TIMEOUT_S


def parse_traceflow(doc: Document) -> tuple[TraceflowSpec | None, list[Problem]]:
    ctx = _Ctx(doc)
    ctx.kind = "Traceflow"
    data = ctx.mapping(doc.data, "", required=True) or {}
    ctx.fields(data, "", ("apiVersion", "kind", "metadata", "spec", "status"))
    meta = ctx.mapping(data.get("metadata"), "metadata", required=True) or {}
    ctx.name = ctx.string(meta.get("name"), "metadata.name", required=True)
    spec = ctx.mapping(data.get("spec"), "spec", required=True) or {}
    ctx.fields(spec, "spec", ("source", "destination", "packet", "liveTraffic", "droppedOnly", "timeout"))
    if spec.get("liveTraffic") or spec.get("droppedOnly"):
        ctx.err("spec.liveTraffic", "live-traffic Traceflows are not modelled by labkit",
                "remove liveTraffic/droppedOnly: labkit injects the packet")
    src = ctx.mapping(spec.get("source"), "spec.source", required=True) or {}
    ctx.fields(src, "spec.source", ("namespace", "pod", "ip"))
    src_ns = ctx.string(src.get("namespace"), "spec.source.namespace", required=True)
    src_pod = ctx.string(src.get("pod"), "spec.source.pod", required=True)
    dst = ctx.mapping(spec.get("destination"), "spec.destination", required=True) or {}
    ctx.fields(dst, "spec.destination", ("namespace", "pod", "service", "ip"))
    targets = [k for k in ("pod", "service", "ip") if dst.get(k)]
    if len(targets) != 1:
        ctx.err("spec.destination", f"exactly one of pod, service and ip must be set, got {len(targets)}",
                "name the destination Pod (with namespace), a Service (with namespace) or an IP")
    dst_ns = ctx.string(dst.get("namespace"), "spec.destination.namespace",
                        required=bool(dst.get("pod") or dst.get("service")))
    dst_ip = ctx.string(dst.get("ip"), "spec.destination.ip")
    if dst_ip:
        try:
            ipaddress.ip_address(dst_ip)
        except ValueError:
            ctx.err("spec.destination.ip", f"{dst_ip!r} is not an IP address")
    packet = ctx.mapping(spec.get("packet"), "spec.packet") or {}
    ctx.fields(packet, "spec.packet", ("srcIP", "dstIP", "length", "ipHeader", "ipv6Header", "transportHeader"))
    if "ipv6Header" in packet:
        ctx.err("spec.packet.ipv6Header", "IPv6 traces are not modelled by labkit (the lab is IPv4)")
    header = ctx.mapping(packet.get("ipHeader"), "spec.packet.ipHeader") or {}
    ctx.fields(header, "spec.packet.ipHeader", ("protocol", "ttl", "flags"))
    number = ctx.integer(header.get("protocol"), "spec.packet.ipHeader.protocol", 0, 255)
    transport = ctx.mapping(packet.get("transportHeader"), "spec.packet.transportHeader") or {}
    ctx.fields(transport, "spec.packet.transportHeader", ("icmp", "udp", "tcp"))
    if number is None:  # Antrea: no protocol and no IPv6 header = ICMP, unless a TCP/UDP header says otherwise
        number = 6 if "tcp" in transport else 17 if "udp" in transport else 1
    protocol = PROTOCOLS.get(number)
    if protocol is None:
        ctx.err("spec.packet.ipHeader.protocol", f"protocol {number} is not supported",
                "use 1 (ICMP), 6 (TCP), 17 (UDP) or 132 (SCTP)")
        protocol = "ICMP"
    dst_port = src_port = None
    if protocol in ("TCP", "UDP"):
        layer = ctx.mapping(transport.get(protocol.lower()), f"spec.packet.transportHeader.{protocol.lower()}") or {}
        lpath = f"spec.packet.transportHeader.{protocol.lower()}"
        ctx.fields(layer, lpath, ("srcPort", "dstPort") + (("flags",) if protocol == "TCP" else ()))
        dst_port = ctx.integer(layer.get("dstPort"), f"{lpath}.dstPort", 1, 65535)
        src_port = ctx.integer(layer.get("srcPort"), f"{lpath}.srcPort", 1, 65535)
        if dst_port is None and layer.get("dstPort") is None:
            ctx.err(f"{lpath}.dstPort", "is required for a TCP or UDP Traceflow", "e.g. dstPort: 80")
    timeout = ctx.integer(spec.get("timeout"), "spec.timeout", 1, 3600)
    if ctx.problems:
        return None, ctx.problems
    return TraceflowSpec(ctx.name, f"{src_ns}/{src_pod}", f"{dst_ns}/{dst['pod']}" if dst.get("pod") else "",
                         dst_ip, f"{dst_ns}/{dst['service']}" if dst.get("service") else "", protocol, dst_port,
                         src_port, timeout or DEFAULT_TIMEOUT_S), []
