"""Antrea Traceflow requested from NSX: the request as a lab trace, the result as NSX observations.

In the product the MP adapter turns an AntreaTraceflowConfig (``PUT /policy/api/v1/infra/antrea/
traceflows/{id}``) into an Antrea ``Traceflow`` CR and reports its results back (nsx.md §6). Here
the request becomes ``lab.traceflow(src, dst, port, protocol)``:

* ``source_external_id`` must be a pod of this cluster (a ContainerApplicationInstance);
* the destination is ``packet.ip_header.dst_ip`` when set (a pod IP or a Service ClusterIP), else
  ``destination_external_id`` (a pod or a Service). A Service is traced to its first endpoint pod
  (sorted by name) on the target port, as AntreaProxy would pick one;
* ``ip_header.protocol`` 6/17/1 -> TCP/UDP/ICMP (default ICMP, NSX's default packet); the port
  is ``transport_header.tcp_header.dst_port`` (or ``udp_header``).

Observations (Antrea -> NSX, nsx.md §6 [I]): component SpoofGuard/LB/Routing/NetworkPolicy/
Forwarding -> ``ANTREA_SPOOFGUARD``/``ANTREA_LB``/``ANTREA_ROUTING``/``ANTREA_DFW``/
``ANTREA_FORWARDING``; action Delivered/Received/Forwarded/Dropped ->
``AntreaTraceflowObservation<action>`` (Rejected and the ForwardedOutOf* actions fold into
Dropped and Forwarded, NSX has no others); ``container_node_id`` = the node's external_id. The
Antrea details the NSX UI also shows ride along: ``component_info``, ``network_policy``
(``AntreaClusterNetworkPolicy:<uuid>`` for NSX-realized policies), ``network_policy_rule`` (the NSX
``rule_id``), ``node_name`` and Antrea's own ``action``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from labkit.model.cluster import ClusterState
from labkit.policy.traceflow import Traceflow

PROTOCOLS = {6: "TCP", 17: "UDP", 1: "ICMP", 132: "SCTP"}
COMPONENTS = {"SpoofGuard": "ANTREA_SPOOFGUARD", "LB": "ANTREA_LB", "Routing": "ANTREA_ROUTING",
              "NetworkPolicy": "ANTREA_DFW", "Forwarding": "ANTREA_FORWARDING"}
OBSERVATION = "AntreaTraceflowObservation"
ACTIONS = {"Delivered": "Delivered", "Received": "Received", "Forwarded": "Forwarded",
           "ForwardedOutOfOverlay": "Forwarded", "ForwardedOutOfNetwork": "Forwarded",
           "Dropped": "Dropped", "Rejected": "Dropped"}


class TraceflowRequestError(ValueError):
    """The NSX request names something the lab cannot trace (message goes into ``reason``)."""


@dataclass(frozen=True)
class TraceRequest:
    source: str  # ns/pod
    destination: str  # ns/pod
    protocol: str
    port: int | None
    note: str = ""  # e.g. which endpoint a Service was traced to


def trace_request(config: dict[str, Any], state: ClusterState, by_external_id: dict[str, str]) -> TraceRequest:
    """``by_external_id``: external_id -> ``Pod:ns/name`` / ``Service:ns/name`` (from the inventory)."""
    source = by_external_id.get(str(config.get("source_external_id")), "")
    if not source.startswith("Pod:"):
        raise TraceflowRequestError(f"source {config.get('source_external_id')!r} is not a pod of this cluster")
    packet = config.get("packet") or {}
    ip_header = packet.get("ip_header") or {}
    protocol = PROTOCOLS.get(int(ip_header.get("protocol", 1)))
    if protocol is None:
        raise TraceflowRequestError(f"IP protocol {ip_header.get('protocol')} cannot be traced")
    transport = packet.get("transport_header") or {}
    header = transport.get("tcp_header") if protocol == "TCP" else transport.get("udp_header")
    port = int((header or {}).get("dst_port") or 0) or None
    if protocol in ("TCP", "UDP") and port is None:
        raise TraceflowRequestError(f"a {protocol} traceflow needs transport_header.*.dst_port")
    dst_ip = ip_header.get("dst_ip") or (packet.get("ipv6_header") or {}).get("dst_ip")
    if dst_ip:
        target = _by_ip(state, str(dst_ip))
    else:
        target = by_external_id.get(str(config.get("destination_external_id")), "")
    if not target:
        raise TraceflowRequestError("the destination is neither a pod nor a service of this cluster")
    kind, _, key = target.partition(":")
    note = ""
    if kind == "Service":
        key, port, note = _endpoint(state, key, protocol, port)
    return TraceRequest(source.partition(":")[2], key, protocol, port if protocol != "ICMP" else None, note)


def _by_ip(state: ClusterState, ip: str) -> str:
    for pod in state.pods:
        if pod.pod_ip == ip:
            return f"Pod:{pod.key}"
    for svc in state.services:
        if svc.cluster_ip == ip:
            return f"Service:{svc.namespace}/{svc.name}"
    return ""


def _endpoint(state: ClusterState, service_key: str, protocol: str, port: int | None) -> tuple[str, int | None, str]:
    namespace, _, name = service_key.partition("/")
    svc = next((s for s in state.services if s.namespace == namespace and s.name == name), None)
    if svc is None or not svc.selector:
        raise TraceflowRequestError(f"service {service_key} has no endpoints to trace to")
    pods = [p for p in state.pods if p.namespace == namespace and p.pod_ip
            and all(p.labels.get(k) == v for k, v in svc.selector.items())]
    if not pods:
        raise TraceflowRequestError(f"service {service_key} has no ready endpoints")
    pod = pods[0]
    target = port
    for sp in svc.ports:
        if sp.port == port and sp.protocol == protocol:
            if isinstance(sp.target_port, int):
                target = sp.target_port
            elif isinstance(sp.target_port, str):
                target = pod.named_port(sp.target_port, protocol) or port
    return pod.key, target, f"service {service_key} -> endpoint {pod.key}:{target}"


def observations(trace: Traceflow, node_ids: dict[str, str], now_ms: int | None = None) -> list[dict[str, Any]]:
    """The NSX observations of a finished trace, in path order."""
    stamp = int(time.time() * 1000) if now_ms is None else now_ms
    out = []
    for node, obs in trace.observations:
        item = {"component_type": COMPONENTS.get(obs.component, "UNKNOWN"),
                "observation_type": OBSERVATION + ACTIONS.get(obs.action, "Forwarded"),
                "container_node_id": node_ids.get(node, ""), "timestamp": stamp,
                "node_name": node, "action": obs.action}
        for name in ("component_info", "network_policy", "network_policy_rule", "tunnel_dst_ip"):
            value = getattr(obs, name)
            if value:
                item[name] = value
        out.append(item)
    return out


__all__ = ["TraceRequest", "TraceflowRequestError", "observations", "trace_request"]
