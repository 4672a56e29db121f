"""Which datapath flows a NIC can hold, and why not the others.

OVS installs *megaflows* in its datapath (``ovs-appctl dpctl/dump-flows``): a match over the
packet's key (wildcarded where the OpenFlow pipeline did not look) and a list of datapath actions.
With ``other_config:hw-offload=true`` each new megaflow is also offered to the NIC through TC
flower; the NIC takes it or OVS keeps it in software. :func:`classify` reproduces that decision
for a :class:`NicProfile`, with the reason:

``offloaded``
    every match key and action is supported and the table has room;
``unsupported action``
    e.g. ``userspace(...)`` — Antrea's Reject and audit logging send packets to the agent
    (OpenFlow ``controller``), ``sample(...)`` for IPFIX, ``ct(...,helper=...)`` (ALGs);
``unsupported match``
    a key TC flower cannot express (``ct_tuple4``, ``nd``, ``nsh`` ...);
``table full``
    the NIC's flow table is at capacity;
``first packets of a connection``
    the flow handles ``ct_state(+new)`` packets: conntrack entries are offloaded only once the
    connection is established, so set-up packets are always switched in software.

:func:`parse_dump_flows` reads the text ``dpctl/dump-flows`` prints, so the ovs backend can feed
real lines; :func:`format_flow` writes the same format back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .profiles import NicProfile

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

OFFLOADED = "offloaded"
UNSUPPORTED_ACTION = "unsupported action"
UNSUPPORTED_MATCH = "unsupported match"
TABLE_FULL = "table full"
FIRST_PACKETS = "first packets of a connection"
NO_OFFLOAD = "NIC does not offload"
REASONS = (OFFLOADED, UNSUPPORTED_ACTION, UNSUPPORTED_MATCH, TABLE_FULL, FIRST_PACKETS, NO_OFFLOAD)

# OVS_CS_F_* bits (include/openvswitch/packets.h order: new, est, rel, rpl, inv, trk, snat, dnat)
_CT_BITS = ((0x01, "new"), (0x02, "est"), (0x04, "rel"), (0x08, "rpl"), (0x10, "inv"), (0x20, "trk"),
            (0x40, "snat"), (0x80, "dnat"))


@dataclass(frozen=True)
class Megaflow:
    """One datapath flow: match keys (``name -> argument text``) and actions, plus its counters."""

    match: dict[str, str]
    actions: tuple[str, ...]
    packets: int = 0
    bytes: int = 0
    used: str = "never"
    dp: str = ""  # "ovs" (kernel datapath) or "tc" when the dump says so
    offloaded: str = ""  # "yes" / "partial" / "" as dumped with -m
    ufid: str = ""
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def action_names(self) -> list[str]:
        return [_action_name(a) for a in self.actions]

    def ct_state(self) -> dict[str, bool]:
        """The conntrack flags this flow requires: ``ct_state(+est-new+trk)`` or, in ``-m`` output,
        ``ct_state(0x22/0x22)`` -> ``{"est": True, "trk": True}`` (only bits in the mask count)."""
        text = self.match.get("ct_state", "")
        if re.fullmatch(r"0x[0-9a-f]+(/0x[0-9a-f]+)?|\d+(/\d+)?", text):
            value, _, mask = text.partition("/")
            v, m = int(value, 0), int(mask, 0) if mask else 0xFF
            return {flag: bool(v & bit) for bit, flag in _CT_BITS if m & bit}
        return {flag: sign == "+" for sign, flag in re.findall(r"([+-])(\w+)", text)}


def split_top(text: str, sep: str = ",") -> list[str]:
    """Split at ``sep`` outside parentheses (datapath keys and actions nest)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    tail = text[start:].strip()
    if tail:
        parts.append(tail)
    return [p for p in parts if p]


def parse_flow(line: str) -> Megaflow:
    """One ``dpctl/dump-flows`` line, e.g.::

        recirc_id(0),in_port(eth0),eth_type(0x0800),ipv4(src=192.168.1.17,frag=no), packets:2235857,
        bytes:147599302, used:0.550s, actions:ct(zone=65520),recirc(0x18)
    """
    line = line.strip()
    head, sep, actions_text = line.partition("actions:")
    if not sep:
        raise ValueError(f"not a datapath flow (no 'actions:'): {line[:80]!r}")
    match: dict[str, str] = {}
    stats: dict[str, str] = {}
    for item in split_top(head.rstrip().rstrip(",")):
        name, paren, rest = item.partition("(")
        if paren:
            match[name.strip()] = rest.removesuffix(")")
            continue
        key, colon, value = item.partition(":")
        if colon:  # packets:, bytes:, used:, flags:, dp:, offloaded:, ufid:, dp-extra-info:
            stats[key.strip()] = value.strip()
        else:
            match[item.strip()] = ""
    actions = tuple(split_top(actions_text.strip())) or ("drop",)
    return Megaflow(match, actions, int(stats.pop("packets", 0) or 0), int(stats.pop("bytes", 0) or 0),
                    stats.pop("used", "never"), stats.pop("dp", ""), stats.pop("offloaded", ""),
                    stats.pop("ufid", ""), stats)


def parse_dump_flows(text: str) -> list[Megaflow]:
    """Every flow of a ``dpctl/dump-flows`` output (blank lines and headers skipped)."""
    return [parse_flow(line) for line in text.splitlines() if "actions:" in line]


def format_flow(flow: Megaflow) -> str:
    """A flow in ``dpctl/dump-flows`` syntax (``parse_flow(format_flow(f)) == f``)."""
    keys = ",".join(f"{k}({v})" for k, v in flow.match.items())
    stats = f"packets:{flow.packets}, bytes:{flow.bytes}, used:{flow.used}"
    for key, value in flow.extra.items():
        stats += f", {key}:{value}"
    if flow.dp:
        stats += f", dp:{flow.dp}"
    if flow.offloaded:
        stats += f", offloaded:{flow.offloaded}"
    ufid = f"ufid:{flow.ufid}, " if flow.ufid else ""
    return f"{ufid}{keys}, {stats}, actions:{','.join(flow.actions)}"


def _action_name(action: str) -> str:
    """The offload-relevant name of a datapath action (``set(tunnel(...))`` -> ``set_tunnel``)."""
    name = action.split("(", 1)[0].strip()
    if name in ("set", "set_masked"):
        inner = action[action.index("(") + 1:].split("(", 1)[0]
        return f"set_{inner}"
    if name.isdigit() or name not in _KNOWN_ACTIONS:
        return "output" if re.fullmatch(r"[\w.@-]+", action) and "(" not in action else name
    return name


_KNOWN_ACTIONS = {"drop", "ct", "ct_clear", "recirc", "userspace", "sample", "clone", "trunc", "hash", "meter",
                  "push_vlan", "pop_vlan", "push_mpls", "pop_mpls", "tnl_push", "tnl_pop", "check_pkt_len",
                  "push_eth", "pop_eth", "push_nsh", "pop_nsh", "lb_output", "add_mpls", "dec_ttl", "psample"}


@dataclass(frozen=True)
class OffloadDecision:
    flow: Megaflow
    offloaded: bool
    reason: str
    detail: str = ""


def wildcarded(argument: str) -> bool:
    """True when every field of a key has a zero mask (``skb_mark(0/0)``, ``packet_type(ns=0/0,id=0/0)``):
    ``dpctl/dump-flows -m`` prints such keys, but the flow does not actually match on them."""
    fields = split_top(argument)
    return bool(fields) and all(re.search(r"/(0x)?0+$|/0\.0\.0\.0$|/(00:){5}00$|/::$", f) for f in fields)


def _unsupported(flow: Megaflow, profile: NicProfile) -> tuple[str, str] | None:
    for key in flow.match:
        if key not in profile.matches and not wildcarded(flow.match[key]):
            return UNSUPPORTED_MATCH, f"match on {key}({flow.match[key][:40]}) cannot be expressed in TC flower"
    for flag in flow.ct_state():
        if flag not in profile.ct_state_flags:
            return UNSUPPORTED_MATCH, f"ct_state flag {flag} is not offloadable on {profile.name}"
    for action, name in zip(flow.actions, flow.action_names, strict=True):
        if name in profile.unsupported_actions:
            return UNSUPPORTED_ACTION, f"{action[:60]}: {profile.unsupported_actions[name]}"
        if name not in profile.actions:
            return UNSUPPORTED_ACTION, f"{action[:60]}: not an action {profile.name} offloads"
        if name == "ct" and "helper=" in action and not profile.ct_helpers:
            return UNSUPPORTED_ACTION, f"{action}: conntrack helpers (ALGs) are not offloaded by TC"
        if name == "ct" and "nat" in action and not profile.ct_nat:
            return UNSUPPORTED_ACTION, f"{action}: NAT in conntrack is not offloaded on {profile.name}"
    return None


def classify(flows: Iterable[Megaflow], profile: NicProfile) -> list[OffloadDecision]:
    """Offload decision per flow, in order: the NIC table fills up in the order flows arrive."""
    decisions, used = [], 0
    for flow in flows:
        if not profile.offloads:
            decisions.append(OffloadDecision(flow, False, NO_OFFLOAD, f"{profile.name} has no offload engine"))
            continue
        problem = _unsupported(flow, profile)
        if problem:
            decisions.append(OffloadDecision(flow, False, *problem))
            continue
        if flow.ct_state().get("new"):
            # The flow itself is offloadable, but the packets it matches are the ones conntrack has
            # not yet seen established: they are switched by the kernel datapath (tc software path)
            # until the connection's ct entry is offloaded.
            decisions.append(OffloadDecision(flow, False, FIRST_PACKETS,
                                             "ct_state(+new): conntrack entries reach hardware only when established"))
            continue
        if used >= profile.flow_capacity:
            decisions.append(OffloadDecision(flow, False, TABLE_FULL,
                                             f"{profile.flow_capacity} flows already offloaded on {profile.name}"))
            continue
        used += 1
        decisions.append(OffloadDecision(flow, True, OFFLOADED))
    return decisions


def decisions_table(decisions: list[OffloadDecision]) -> pd.DataFrame:
    import pandas as pd

    rows = [{"match": ",".join(f"{k}({v})" for k, v in d.flow.match.items() if k != "recirc_id" or v != "0")[:90],
             "actions": ",".join(d.flow.actions)[:70], "packets": d.flow.packets, "bytes": d.flow.bytes,
             "where": "NIC" if d.offloaded else "host CPU", "reason": d.reason, "detail": d.detail}
            for d in decisions]
    return pd.DataFrame(rows, columns=["match", "actions", "packets", "bytes", "where", "reason", "detail"])


def offload_stats(decisions: list[OffloadDecision]) -> dict[str, float]:
    """Share of flows, packets and bytes handled on the NIC vs the host CPU (from the flow counters)."""
    total_p = sum(d.flow.packets for d in decisions) or 1
    total_b = sum(d.flow.bytes for d in decisions) or 1
    nic_p = sum(d.flow.packets for d in decisions if d.offloaded)
    nic_b = sum(d.flow.bytes for d in decisions if d.offloaded)
    return {"flows": len(decisions), "flows_offloaded": sum(d.offloaded for d in decisions),
            "packets_nic_share": nic_p / total_p, "packets_host_share": 1 - nic_p / total_p,
            "bytes_nic_share": nic_b / total_b, "bytes_host_share": 1 - nic_b / total_b}


def reasons_table(decisions: list[OffloadDecision]) -> pd.DataFrame:
    """Flows, packets and bytes per reason."""
    import pandas as pd

    rows = {}
    for d in decisions:
        row = rows.setdefault(d.reason, {"flows": 0, "packets": 0, "bytes": 0})
        row["flows"] += 1
        row["packets"] += d.flow.packets
        row["bytes"] += d.flow.bytes
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "reason"
    return frame


__all__ = [
    "FIRST_PACKETS",
    "NO_OFFLOAD",
    "OFFLOADED",
    "REASONS",
    "TABLE_FULL",
    "UNSUPPORTED_ACTION",
    "UNSUPPORTED_MATCH",
    "Megaflow",
    "OffloadDecision",
    "classify",
    "decisions_table",
    "format_flow",
    "offload_stats",
    "parse_dump_flows",
    "parse_flow",
    "reasons_table",
    "split_top",
    "wildcarded",
]
