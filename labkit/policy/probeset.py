"""Probes that tell every connection apart: one per range of traffic that every rule treats alike.

A verdict depends on the destination port only through the rules' ``ports``: a numbered port, a
range (``port``-``endPort``), a named port (a number per destination Pod: its container port of
that name and protocol), or any port of the protocol (no ``port``); a rule without ``ports`` (and,
for Antrea, without ``protocols``) matches every protocol and port, ICMP included
(networking/v1 NetworkPolicyPort; Antrea docs/antrea-network-policy.md, "ports" and
"protocols"). So the port space of each protocol splits into *spans*, maximal ranges where every
rule of the policy sets in question matches either all ports or none, and one probe per span
decides the whole span. :func:`spanning_probes` returns them, with the ports each stands for;
traffic no rule names (a gap between named ports) is a span too, probed with a representative
port. ICMP splits the same way over (type, code): every type/code some rule names, the other
codes of a named type, and the types no rule names.

The source port is not spanned: a probe uses an ephemeral source port (see
:mod:`labkit.policy.probe`), as a client does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from ..model.objects import Pod
from .compiler import PolicySet
from .probe import Probe

PORT_PROTOCOLS = ("TCP", "UDP", "SCTP")
MAX_PORT = 65535
ECHO_REQUEST = 8  # the ICMP type a probe sends when no rule names types (ping)


@dataclass(frozen=True)
class ProbeSpan:
    """A probe and the traffic it stands for (every rule treats that traffic as it treats the probe).

    Ports: ``lo``..``hi``. ICMP: one ``icmp_type`` and ``icmp_code``; or one type and any code but
    ``excluded``; or (``icmp_type`` None) any type but ``excluded``.
    """

    probe: Probe
    traffic: str  # "80", "8000-9100", "1-79", "type 3 code 1", "types other than 0, 3" ...
    lo: int = 0
    hi: int = 0
    icmp_type: int | None = None
    icmp_code: int | None = None
    excluded: frozenset[int] = frozenset()

    @property
    def protocol(self) -> str:
        return self.probe.protocol

    @property
    def port(self) -> int | None:
        return self.probe.port

    def contains(self, probe: Probe) -> bool:
        """Does this span stand for ``probe``'s traffic?"""
        if probe.protocol != self.protocol:
            return False
        if probe.protocol != "ICMP":
            return self.lo <= (probe.port or 0) <= self.hi
        if self.icmp_type is None:
            return probe.icmp_type not in self.excluded
        if probe.icmp_type != self.icmp_type:
            return False
        return probe.icmp_code == self.icmp_code if self.icmp_code is not None else probe.icmp_code not in self.excluded

    def __str__(self) -> str:
        return f"{self.probe.protocol} {self.traffic}"


def _range_text(lo: int, hi: int) -> str:
    return str(lo) if lo == hi else f"{lo}-{hi}"


def _port_spans(protocol: str, cuts: set[int], served: set[int]) -> list[ProbeSpan]:
    bounds = sorted({1, MAX_PORT + 1} | {c for c in cuts if 1 <= c <= MAX_PORT + 1})
    spans = []
    for lo, nxt in zip(bounds, bounds[1:]):
        hi = nxt - 1
        # Probe a port some Pod serves when the span has one (the traffic people care about), else its first.
        inside = [p for p in served if lo <= p <= hi]
        spans.append(ProbeSpan(Probe(protocol, min(inside) if inside else lo), _range_text(lo, hi), lo, hi))
    return spans


def _icmp(icmp_type: int, icmp_code: int) -> Probe:
    return Probe("ICMP", None, icmp_type=icmp_type, icmp_code=icmp_code)


def _icmp_spans(specs: set[tuple[int | None, int | None]]) -> list[ProbeSpan]:
    types = sorted({t for t, _ in specs if t is not None})
    spans = []
    for t in types:
        codes = sorted({c for tt, c in specs if tt == t and c is not None})
        spans += [ProbeSpan(_icmp(t, c), f"type {t} code {c}", icmp_type=t, icmp_code=c) for c in codes]
        other = next((c for c in range(256) if c not in codes), None)
        if other is not None:
            text = f"type {t}" if not codes else f"type {t}, codes other than {', '.join(map(str, codes))}"
            spans.append(ProbeSpan(_icmp(t, other), text, icmp_type=t, excluded=frozenset(codes)))
    rest = ECHO_REQUEST if ECHO_REQUEST not in types else next((t for t in range(256) if t not in types), None)
    if rest is not None:
        text = "all types" if not types else f"types other than {', '.join(map(str, types))}"
        spans.append(ProbeSpan(_icmp(rest, 0), text, excluded=frozenset(types)))
    return spans


def spanning_probes(policy_sets: Iterable[PolicySet], pods: Iterable[Pod]) -> list[ProbeSpan]:
    """One probe per span of TCP, UDP and SCTP ports and of ICMP types/codes, over every rule of
    ``policy_sets``; named ports resolve on ``pods`` (give the pods of every state compared)."""
    rules = [r for ps in policy_sets for r in ps.rules if not r.to_services]
    pods = list(pods)
    named: dict[tuple[str, str], set[int]] = {}
    for rule in rules:
        for spec in rule.ports:
            if isinstance(spec.port, str) and (spec.port, spec.protocol) not in named:
                named[(spec.port, spec.protocol)] = {v for p in pods if (v := p.named_port(spec.port, spec.protocol))}
    spans: list[ProbeSpan] = []
    for protocol in PORT_PROTOCOLS:
        cuts: set[int] = set()
        for rule in rules:
            for spec in rule.ports:
                if spec.protocol != protocol or spec.port is None:
                    continue
                values = named[(spec.port, protocol)] if isinstance(spec.port, str) else \
                    [(spec.port, spec.end_port or spec.port)]
                for value in values:
                    lo, hi = value if isinstance(value, tuple) else (value, value)
                    cuts |= {lo, hi + 1}
        served = {cp.container_port for p in pods for cp in p.ports if cp.protocol == protocol}
        spans += _port_spans(protocol, cuts, served)
    spans += _icmp_spans({(spec.icmp_type, spec.icmp_code) for r in rules for spec in r.icmp})
    return spans


def probe_spans(probes: Sequence[Probe | tuple]) -> list[ProbeSpan]:
    """Spans of explicitly chosen probes: ``Probe`` objects or ``(protocol, port)`` tuples;
    ICMP as ``("ICMP", None)`` (echo request), ``("ICMP", type)`` or ``("ICMP", (type, code))``."""
    out = []
    for item in probes:
        if isinstance(item, Probe):
            probe = item
        else:
            if not isinstance(item, (tuple, list)) or len(item) != 2:
                raise ValueError(f"probe {item!r} must be (protocol, port), e.g. ('TCP', 80) or ('ICMP', None)")
            protocol, port = str(item[0]).upper(), item[1]
            if protocol == "ICMP":
                icmp_type, icmp_code = (port if isinstance(port, (tuple, list)) else
                                        (ECHO_REQUEST if port is None else port, 0))
                probe = Probe("ICMP", None, icmp_type=int(icmp_type), icmp_code=int(icmp_code))
            else:
                probe = Probe(protocol, port)
        if probe.protocol == "ICMP":
            out.append(ProbeSpan(probe, f"type {probe.icmp_type} code {probe.icmp_code}",
                                 icmp_type=probe.icmp_type, icmp_code=probe.icmp_code))
        else:
            out.append(ProbeSpan(probe, str(probe.port), probe.port, probe.port))
    return out


__all__ = ["ProbeSpan", "spanning_probes", "probe_spans", "PORT_PROTOCOLS"]
