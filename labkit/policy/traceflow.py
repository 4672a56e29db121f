"""The Traceflow type: the path of one packet, as Antrea's Traceflow CR reports it in ``status``.

Every backend answers ``lab.traceflow`` with this type: the sim backend predicts it from the
policy engine's explanation (:mod:`labkit.backends.sim.traceflow`), the ovs backend reads it off
OVS packet tracing (:mod:`labkit.backends.ovs.ofproto_trace`) and the kind backend from a real
Traceflow CR (:mod:`labkit.backends.kind.traceflow_crd`). Field names follow the CRD
(``crd.antrea.io/v1beta1`` Traceflow; /work/shared/reference/antrea.md §2).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .probe import Probe
from .reachability import Explanation

IP_PROTOCOL_NUMBERS = {"ICMP": 1, "TCP": 6, "UDP": 17, "SCTP": 132}


# CRD field (camelCase) -> dataclass field; the CRD spells IP and MAC in capitals.
CRD_FIELDS = {"component": "component", "componentInfo": "component_info", "action": "action", "pod": "pod",
              "dstMAC": "dst_mac", "networkPolicy": "network_policy", "networkPolicyRule": "network_policy_rule",
              "egress": "egress", "ttl": "ttl", "translatedSrcIP": "translated_src_ip",
              "translatedDstIP": "translated_dst_ip", "tunnelDstIP": "tunnel_dst_ip", "egressIP": "egress_ip",
              "egressNode": "egress_node", "srcPodIP": "src_pod_ip"}


@dataclass(frozen=True)
class Observation:
    """One entry of a NodeResult's ``observations``: every field of Antrea's CRD, in snake_case."""

    component: str  # SpoofGuard | NetworkPolicy | Forwarding | LB | Routing | Egress
    action: str  # Forwarded | Received | Delivered | Dropped | Rejected | ForwardedOutOfNetwork | ...
    component_info: str = ""
    pod: str = ""
    network_policy: str = ""
    network_policy_rule: str = ""
    tunnel_dst_ip: str = ""
    src_pod_ip: str = ""
    dst_mac: str = ""
    egress: str = ""
    ttl: int = 0
    translated_src_ip: str = ""
    translated_dst_ip: str = ""
    egress_ip: str = ""
    egress_node: str = ""

    @classmethod
    def from_dict(cls, data: dict) -> "Observation":
        """From a CRD observation (camelCase); unknown fields are ignored."""
        kwargs = {CRD_FIELDS[k]: v for k, v in data.items() if k in CRD_FIELDS}
        kwargs.setdefault("component", "")
        kwargs.setdefault("action", "")
        return cls(**kwargs)

    def to_dict(self) -> dict:
        """camelCase, empty fields left out (as ``kubectl get tf -o yaml`` prints them)."""
        back = {v: k for k, v in CRD_FIELDS.items()}
        return {back[k]: v for k, v in asdict(self).items() if v}


@dataclass(frozen=True)
class NodeResult:
    node: str
    role: str  # Sender | Receiver
    observations: tuple[Observation, ...]
    timestamp: int = 0

    def to_dict(self) -> dict:
        out = {"node": self.node, "role": self.role, "observations": [o.to_dict() for o in self.observations]}
        if self.timestamp:
            out["timestamp"] = self.timestamp
        return out


@dataclass(frozen=True)
class Traceflow:
    """A finished trace: what a Traceflow CR holds once its phase is Succeeded or Failed."""

    source: str
    destination: str
    probe: Probe
    phase: str  # Succeeded | Failed
    results: tuple[NodeResult, ...] = ()
    reason: str = ""
    explanation: Explanation | None = field(default=None, compare=False, repr=False)
    # Set when the trace ran in a real cluster (the Traceflow CR's name and status fields).
    name: str = ""
    start_time: str = ""
    dataplane_tag: int = 0
    captured_packet: dict = field(default_factory=dict, compare=False)
    source_kind: str = "predicted"  # predicted (engine) | ovs (OVS packet tracing) | antrea (Traceflow CRD)

    @property
    def observations(self) -> list[tuple[str, Observation]]:
        """Every observation in path order (the sender node first), with its node."""
        ordered = sorted(self.results, key=lambda r: 0 if r.role == "Sender" else 1)
        return [(r.node, o) for r in ordered for o in r.observations]

    @property
    def final_action(self) -> str:
        """Delivered, Dropped or Rejected (the last observation's action), or '' if Failed."""
        obs = self.observations
        return obs[-1][1].action if obs else ""

    def to_dict(self) -> dict:
        """The Traceflow CR (``crd.antrea.io/v1beta1``) this trace corresponds to."""
        src_ns, _, src_pod = self.source.partition("/")
        dst_ns, _, dst_pod = self.destination.partition("/")
        header: dict[str, Any] = {"protocol": IP_PROTOCOL_NUMBERS[self.probe.protocol]}
        packet: dict[str, Any] = {"ipHeader": header}
        if self.probe.protocol in ("TCP", "UDP"):
            transport: dict[str, Any] = {"dstPort": self.probe.port}
            if self.probe.src_port:
                transport["srcPort"] = self.probe.src_port
            if self.probe.protocol == "TCP":
                transport["flags"] = 2  # SYN, Antrea's default
            packet["transportHeader"] = {self.probe.protocol.lower(): transport}
        status: dict[str, Any] = {"phase": self.phase, "results": [r.to_dict() for r in self.results]}
        if self.reason:
            status["reason"] = self.reason
        return {"apiVersion": "crd.antrea.io/v1beta1", "kind": "Traceflow",
                "spec": {"source": {"namespace": src_ns, "pod": src_pod},
                         "destination": {"namespace": dst_ns, "pod": dst_pod}, "packet": packet},
                "status": status}

    def to_frame(self):
        import pandas as pd

        rows = [{"node": node, "component": o.component, "component_info": o.component_info, "action": o.action,
                 "network_policy": o.network_policy, "network_policy_rule": o.network_policy_rule,
                 "tunnel_dst_ip": o.tunnel_dst_ip} for node, o in self.observations]
        return pd.DataFrame(rows, columns=["node", "component", "component_info", "action", "network_policy",
                                           "network_policy_rule", "tunnel_dst_ip"])

    def __str__(self) -> str:
        lines = [f"traceflow {self.source} -> {self.destination} {self.probe}: {self.phase}"
                 + (f" ({self.reason})" if self.reason else "")]
        for r in self.results:
            lines.append(f"  {r.node} ({r.role})")
            for o in r.observations:
                extra = " ".join(x for x in (o.network_policy, f"rule {o.network_policy_rule}"
                                             if o.network_policy_rule else "",
                                             f"tunnelDstIP {o.tunnel_dst_ip}" if o.tunnel_dst_ip else "") if x)
                lines.append(f"    {o.component:<14} {o.component_info:<18} {o.action:<10} {extra}".rstrip())
        return "\n".join(lines)

    _repr_pretty_ = lambda self, p, cycle: p.text(str(self))  # noqa: E731


__all__ = ["Observation", "NodeResult", "Traceflow", "CRD_FIELDS", "IP_PROTOCOL_NUMBERS"]
