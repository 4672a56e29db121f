"""A probe (one connection attempt) and whether a rule's ports/protocols match it.

Port semantics reproduced:
* K8s NetworkPolicy and Antrea rules: no ``ports`` (and, for Antrea, no ``protocols``) = every
  protocol and port, ICMP included; a port entry without ``port`` = every port of its protocol;
  ``endPort`` = inclusive range; a named port is resolved against the destination pod's
  container ports of that protocol (so it may mean different numbers on different pods).
* Antrea ``sourcePort``/``sourceEndPort`` match the client's source port. A probe that does not fix
  its source port uses an ephemeral one from Linux's default ``ip_local_port_range``
  (32768-60999): a source range covering all of it always matches, one disjoint from it never
  does, and a partial overlap depends on the port the kernel picks (reported as ambiguous).
* Antrea ``protocols: [{icmp: {icmpType, icmpCode}}]``: absent type/code = any.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model.objects import Pod
from .compiler import CompiledRule

EPHEMERAL_PORTS = (32768, 60999)  # Linux net.ipv4.ip_local_port_range default
PROBE_PROTOCOLS = ("TCP", "UDP", "SCTP", "ICMP")


@dataclass(frozen=True)
class Probe:
    protocol: str = "TCP"
    port: int | None = 80
    src_port: int | None = None
    icmp_type: int = 8  # echo request
    icmp_code: int = 0

    def __post_init__(self) -> None:
        if self.protocol not in PROBE_PROTOCOLS:
            raise ValueError(f"protocol {self.protocol!r} is not supported; use one of {', '.join(PROBE_PROTOCOLS)}")
        if self.protocol != "ICMP" and (self.port is None or not 1 <= int(self.port) <= 65535):
            raise ValueError(f"port must be 1-65535 for {self.protocol}, got {self.port!r}")
        if self.src_port is not None and not 1 <= int(self.src_port) <= 65535:
            raise ValueError(f"src_port must be 1-65535, got {self.src_port!r}")

    def __str__(self) -> str:
        if self.protocol == "ICMP":
            return f"ICMP type {self.icmp_type} code {self.icmp_code}"
        return f"{self.protocol}/{self.port}"


AMBIGUOUS = "ambiguous"


def source_port_match(lo: int | None, hi: int | None, probe: Probe) -> bool | str:
    """Does a sourcePort range (lo..hi, None = any) match the probe's source port? True, False or AMBIGUOUS."""
    if lo is None:
        return True
    hi = hi if hi is not None else lo
    if probe.src_port is not None:
        return lo <= probe.src_port <= hi
    e_lo, e_hi = EPHEMERAL_PORTS
    if lo <= e_lo and hi >= e_hi:
        return True
    if hi < e_lo or lo > e_hi:
        return False
    return AMBIGUOUS


def service_match(rule: CompiledRule, probe: Probe, dst: Pod | None) -> bool | str:
    """Does the rule's port/protocol part match the probe towards ``dst``? True, False or AMBIGUOUS."""
    if rule.to_services:
        return False  # toServices matches Service ClusterIP traffic only, never direct pod IPs
    if rule.matches_all_services:
        return True
    result: bool | str = False
    if probe.protocol == "ICMP":
        for spec in rule.icmp:
            if (spec.icmp_type is None or spec.icmp_type == probe.icmp_type) and \
                    (spec.icmp_code is None or spec.icmp_code == probe.icmp_code):
                return True
        return False
    for spec in rule.ports:
        if spec.protocol != probe.protocol:
            continue
        if spec.port is None:
            port_ok = True
        elif isinstance(spec.port, str):
            port_ok = dst is not None and dst.named_port(spec.port, spec.protocol) == probe.port
        elif spec.end_port is not None:
            port_ok = spec.port <= probe.port <= spec.end_port
        else:
            port_ok = spec.port == probe.port
        if not port_ok:
            continue
        src_ok = source_port_match(spec.source_port, spec.source_end_port, probe)
        if src_ok is True:
            return True
        if src_ok == AMBIGUOUS:
            result = AMBIGUOUS
    return result


def uses_named_ports(rule: CompiledRule) -> bool:
    return any(isinstance(p.port, str) for p in rule.ports)
