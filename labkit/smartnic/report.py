"""One offload report for every backend: which datapath flows a NIC would hold, and the packets.

:class:`OffloadReport` is what ``lab.offload_report()`` returns. On ``ovs`` its flows are the
real megaflows of each node's datapath (``ovs-appctl dpctl/dump-flows``, with their counters) and
its upcall figures come from ``ovs-appctl dpif-netdev/pmd-stats-show``; on ``sim`` they come from
the sim's flow model (:data:`labkit.smartnic.workload_model.SAMPLE_DUMP`) and are labelled ``modelled``.

Packet accounting (the same rule for both sources):

* a packet *pass* that hits a megaflow the NIC holds counts as **NIC**;
* a pass that hits a megaflow the NIC cannot hold counts as **host** (the kernel/userspace
  datapath switches it on a host core);
* a pass that misses every megaflow is an **upcall**: ovs-vswitchd runs the OpenFlow pipeline for
  it (the first packet of every new flow), always on the CPU that runs OVS, counted as host.

OVS counts per datapath pass: a packet recirculated after conntrack (``ct(...),recirc(...)``)
counts once per pass, in the flows' counters and in pmd-stats alike, so the two can be compared
one to one. ``passes_per_packet`` (OVS's "avg. datapath passes per packet") converts back.

Megaflows aggregate connections: after the first connection, a new connection's SYN hits the
cached ``ct_state(+new)`` megaflow and its later packets the ``+est`` ones, so the measured split
hardly moves with churn. A NIC offloads conntrack *entries* one connection at a time, once
established; ``ct_setup_passes`` (clearly labelled *modelled*) moves each new connection's
remaining set-up packets from the NIC to the host, as the sim's workload model does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .offload import OffloadDecision

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from .profiles import NicProfile

# dpif-netdev/pmd-stats-show lines (lib/dpif-netdev.c pmd_info_show_stats), OVS 3.1 spelling
_PMD_STATS = {
    "packets received": "packets_received",
    "packet recirculations": "recirculations",
    "phwol hits": "phwol_hits",
    "mfex opt hits": "mfex_opt_hits",
    "simple match hits": "simple_match_hits",
    "emc hits": "emc_hits",
    "smc hits": "smc_hits",
    "megaflow hits": "megaflow_hits",
    "miss with success upcall": "upcalls",
    "miss with failed upcall": "failed_upcalls",
}


def parse_pmd_stats(text: str) -> dict[str, int]:
    """Sum ``dpif-netdev/pmd-stats-show`` over every thread (main thread and PMDs).

    Keys: packets_received, recirculations, phwol_hits, mfex_opt_hits, simple_match_hits, emc_hits,
    smc_hits, megaflow_hits, upcalls, failed_upcalls, and ``hits`` (every cache level together:
    the passes that found a megaflow, which is what the flows' own counters add up to).
    """
    totals = dict.fromkeys(_PMD_STATS.values(), 0)
    for line in text.splitlines():
        label, sep, value = line.strip().partition(":")
        key = _PMD_STATS.get(label.strip())
        if sep and key and re.fullmatch(r"\s*\d+\s*", value):
            totals[key] += int(value)
    totals["hits"] = sum(totals[k] for k in ("phwol_hits", "simple_match_hits", "emc_hits", "smc_hits",
                                             "megaflow_hits"))
    return totals


@dataclass(frozen=True)
class NodeOffload:
    """The offload picture of one node: its NIC profile, per-flow decisions and OVS's counters."""

    node: str
    profile: "NicProfile"
    decisions: tuple[OffloadDecision, ...]
    counters: dict[str, int] = field(default_factory=dict)  # parse_pmd_stats(), empty when modelled
    switch_location: str = "host"  # where ovs-vswitchd runs: host | dpu (its own namespace)

    @property
    def packets_nic(self) -> int:
        return sum(d.flow.packets for d in self.decisions if d.offloaded)

    @property
    def packets_host_flows(self) -> int:
        return sum(d.flow.packets for d in self.decisions if not d.offloaded)

    @property
    def upcalls(self) -> int:
        return self.counters.get("upcalls", 0) + self.counters.get("failed_upcalls", 0)

    @property
    def packets_host(self) -> int:
        return self.packets_host_flows + self.upcalls

    @property
    def flows_offloaded(self) -> int:
        return sum(d.offloaded for d in self.decisions)

    @property
    def new_connections(self) -> int:
        """Connections that started in the window, as this node's datapath saw them: each one's first
        packet passes a ``ct_state(+new)`` megaflow once, and each such megaflow was created by one
        upcalled packet its counter does not include."""
        return sum(d.flow.packets + 1 for d in self.decisions if d.flow.ct_state().get("new"))

    @property
    def ct_setup_passes(self) -> int:
        """(Modelled) passes that hit offloadable flows but would still be switched in software
        because the connection's conntrack entry is not in the NIC yet: Antrea's doc sees SYN,
        SYN-ACK, ACK and the first data packet on the representor, i.e. ``setupPacketsInSoftware``
        packets per connection, of which the first already counts as host (+new flow or upcall)."""
        if not self.profile.offloads:
            return 0
        received = self.counters.get("packets_received", 0)
        per_packet = (received + self.counters.get("recirculations", 0)) / received if received else 1.0
        extra = self.new_connections * max(self.profile.setup_packets_in_software - 1, 0) * per_packet
        return min(self.packets_nic, round(extra))

    def totals(self) -> dict[str, Any]:
        total = self.packets_nic + self.packets_host
        offloadable = self.flows_offloaded
        capacity = self.profile.flow_capacity
        received, passes = self.counters.get("packets_received", 0), self.counters.get("recirculations", 0)
        return {
            "node": self.node, "profile": self.profile.name, "switch runs on": self.switch_location,
            "flows": len(self.decisions), "flows_offloaded": offloadable,
            "flows_host": len(self.decisions) - offloadable,
            "capacity": capacity, "capacity_used": round(offloadable / capacity, 4) if capacity else 0.0,
            "packets_nic": self.packets_nic, "packets_host": self.packets_host,
            "packets_host_flows": self.packets_host_flows, "upcalls": self.upcalls,
            "nic_share": round(self.packets_nic / total, 4) if total else 0.0,
            "passes_per_packet": round((received + passes) / received, 2) if received else None,
            "new_connections": self.new_connections,
            "ct_setup_passes (modelled)": self.ct_setup_passes,
            "nic_share with ct set-up (modelled)":
                round((self.packets_nic - self.ct_setup_passes) / total, 4) if total else 0.0,
        }


@dataclass(frozen=True)
class OffloadReport:
    """Per-node offload decisions and packet counts; ``source`` says ``measured`` or ``modelled``."""

    nodes: tuple[NodeOffload, ...]
    backend: str
    source: str  # "measured" (real OVS flows and counters) | "modelled" (the sim's flow model)
    notes: tuple[str, ...] = ()

    # ------------------------------------------------------------------ numbers

    @property
    def decisions(self) -> list[OffloadDecision]:
        return [d for n in self.nodes for d in n.decisions]

    @property
    def packets_nic(self) -> int:
        return sum(n.packets_nic for n in self.nodes)

    @property
    def packets_host(self) -> int:
        return sum(n.packets_host for n in self.nodes)

    @property
    def nic_share(self) -> float:
        total = self.packets_nic + self.packets_host
        return self.packets_nic / total if total else 0.0

    def node(self, name: str) -> NodeOffload:
        for n in self.nodes:
            if n.node == name:
                return n
        raise KeyError(f"no node {name!r} in this report; nodes: {', '.join(n.node for n in self.nodes)}")

    def summary(self) -> dict[str, Any]:
        flows = self.decisions
        return {"backend": self.backend, "source": self.source, "nodes": len(self.nodes), "flows": len(flows),
                "flows_offloaded": sum(d.offloaded for d in flows), "packets_nic": self.packets_nic,
                "packets_host": self.packets_host, "nic_share": round(self.nic_share, 4)}

    # ------------------------------------------------------------------ DataFrame views

    def flows(self) -> "pd.DataFrame":
        """One row per datapath flow: node, match, actions, packets, bytes, where (NIC/host CPU), reason."""
        import pandas as pd

        from .offload import decisions_table

        frames = []
        for n in self.nodes:
            frame = decisions_table(list(n.decisions))
            frame.insert(0, "node", n.node)
            frames.append(frame)
        if not frames:
            return pd.DataFrame(columns=["node", "match", "actions", "packets", "bytes", "where", "reason", "detail"])
        return pd.concat(frames, ignore_index=True)

    def totals(self) -> "pd.DataFrame":
        """One row per node: flows offloaded vs host, capacity use, packets on the NIC vs the host."""
        import pandas as pd

        return pd.DataFrame([n.totals() for n in self.nodes]).set_index("node")

    def reasons(self) -> "pd.DataFrame":
        """Flows, packets and bytes per (node, reason)."""
        import pandas as pd

        rows: dict[tuple[str, str], dict[str, int]] = {}
        for n in self.nodes:
            for d in n.decisions:
                row = rows.setdefault((n.node, d.reason), {"flows": 0, "packets": 0, "bytes": 0})
                row["flows"] += 1
                row["packets"] += d.flow.packets
                row["bytes"] += d.flow.bytes
            if n.upcalls:
                rows[(n.node, UPCALL)] = {"flows": 0, "packets": n.upcalls, "bytes": 0}
        frame = pd.DataFrame([{"node": k[0], "reason": k[1], **v} for k, v in rows.items()],
                             columns=["node", "reason", "flows", "packets", "bytes"])
        return frame.set_index(["node", "reason"])

    def _repr_html_(self) -> str:
        head = (f"<b>Offload report</b> ({self.backend}, {self.source}): {self.nic_share:.0%} of packet passes "
                f"on the NIC, {self.packets_nic} NIC / {self.packets_host} host")
        notes = "".join(f"<br><small>{n}</small>" for n in self.notes)
        return head + notes + self.totals().to_html()

    def __repr__(self) -> str:
        return (f"<OffloadReport {self.backend} ({self.source}) nodes={len(self.nodes)} flows={len(self.decisions)} "
                f"nic_share={self.nic_share:.2%}>")


# The reason shown for packets that missed every megaflow (OVS upcall to ovs-vswitchd).
UPCALL = "upcall (first packet of a flow, slow path)"


def modelled_report(profile: "NicProfile", flow_capacity: int | None = None) -> OffloadReport:
    """The sim's report: the Antrea-shaped sample dump classified against ``profile``.

    Its counters are the sample's own (no upcalls are modelled), so ``source`` is ``modelled``.
    """
    from dataclasses import replace

    from .offload import classify
    from .workload_model import sample_flows

    if flow_capacity is not None:
        profile = replace(profile, flow_capacity=flow_capacity)
    node = NodeOffload("sample-node", profile, tuple(classify(sample_flows(), profile)),
                       switch_location="dpu" if profile.isolated_from_host else "host")
    return OffloadReport((node,), "sim", "modelled",
                         ("flows and counters from labkit.smartnic.workload_model.SAMPLE_DUMP (Antrea-shaped); "
                          "no upcalls are modelled",))


__all__ = ["NodeOffload", "OffloadReport", "UPCALL", "modelled_report", "parse_pmd_stats"]
