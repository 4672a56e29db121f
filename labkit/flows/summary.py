"""What the flow dashboards draw, computed once from a flow DataFrame (no plotting here).

Theia's Grafana panels (docs/network-flow-visibility.md) sum traffic per source/destination:
the Pod-to-Pod Sankey of bytes, the Network-Policy chord (green Allow, red Drop/Reject), the
Network Topology service map. The functions below compute those tables from any frame made
by :func:`~labkit.flows.records.records_to_frame`, per-Node or aggregated:

* a flow (5-tuple + ``flowStartSeconds``) counts once, with its largest total counters: the
  aggregator re-exports a flow at every active timeout (totals grow, deltas restart), and both
  Nodes of an inter-Node flow report the same totals;
* endpoints are grouped ``by`` ``"pod"`` (``ns/pod``), ``"workload"`` (``ns/name`` without
  the ReplicaSet suffixes, so the replicas of a Deployment are one node), or ``"namespace"``;
* by default the pipeline's own namespaces (kube-system, flow-aggregator, flow-visibility)
  are left out, as every Theia dashboard but Flow Records does.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

SYSTEM_NAMESPACES = ("kube-system", "flow-aggregator", "flow-visibility")
VERDICT_ORDER = ("allow", "drop", "reject")  # a group's verdict is its worst flow's
GroupBy = Literal["pod", "workload", "namespace"]

# ReplicaSet Pods are named <deployment>-<pod-template-hash>-<5 chars> (k8s.io/apimachinery
# SafeEncodeString alphabet); DaemonSet/Job Pods <owner>-<5 chars>.
_RS_SUFFIX = re.compile(r"-[bcdfghjklmnpqrstvwxz2456789]{6,10}-[bcdfghjklmnpqrstvwxz2456789]{5}$")
_FLOW_ID = ["sourceIP", "destinationIP", "sourceTransportPort", "destinationTransportPort", "protocolIdentifier",
            "flowStartSeconds"]


def workload_of(endpoint: str) -> str:
    """``frontend/web-z7x94qhlsx-hqj7z`` -> ``frontend/web``; IPs and bare Pods unchanged."""
    return _RS_SUFFIX.sub("", endpoint)


def namespace_of(endpoint: str) -> str:
    ns, sep, _ = endpoint.partition("/")
    return ns if sep else "external"


def group_key(endpoint: str, by: GroupBy) -> str:
    if by == "pod":
        return endpoint
    if by == "workload":
        return workload_of(endpoint)
    if by == "namespace":
        return namespace_of(endpoint)
    raise ValueError(f"by={by!r}: use 'pod', 'workload' or 'namespace'")


def one_per_flow(frame: "pd.DataFrame") -> "pd.DataFrame":
    """One row per flow: its latest record that carried news (non-zero deltas; the aggregator's
    last export of an idle flow carries none, and its throughput is reset), with the largest
    totals any record of the flow reported, both Pods named if any record names them (per-Node
    records of an inter-Node flow each know one side) and the worst verdict any Node saw (the
    source Node of a flow denied at ingress reports no ingress rule)."""
    if frame.empty:
        return frame.copy()
    news = (frame["packetDeltaCount"] + frame["reversePacketDeltaCount"]) > 0
    ranked = frame.assign(_news=news.astype(int)).sort_values(["_news", "flowEndSeconds"], kind="stable")
    ranked = ranked.drop(columns="_news")
    groups = ranked.groupby(_FLOW_ID, sort=False)
    latest = ranked.drop_duplicates(_FLOW_ID, keep="last").copy()
    for col in ("packetTotalCount", "octetTotalCount", "reversePacketTotalCount", "reverseOctetTotalCount"):
        latest[col] = groups[col].transform("max").loc[latest.index]
    for col in ("source", "destination"):
        named = ranked[col].where(ranked[col].str.contains("/", regex=False))
        latest[col] = named.groupby([ranked[c] for c in _FLOW_ID], sort=False).transform("first") \
            .loc[latest.index].fillna(latest[col])
    rank = ranked["verdict"].map(VERDICT_ORDER.index)
    worst = rank.groupby([ranked[c] for c in _FLOW_ID], sort=False).transform("max").loc[latest.index]
    latest["verdict"] = worst.map(lambda r: VERDICT_ORDER[int(r)])
    return latest.sort_index()


def edges(frame: "pd.DataFrame", by: GroupBy = "workload", *, hide_system: bool = True) -> "pd.DataFrame":
    """Traffic between groups: ``source``, ``destination``, ``flows``, ``packets``, ``bytes``
    (source to destination), ``reverse_bytes``, ``verdict`` (the worst of its flows), and
    ``allowed``/``denied`` flow counts. Sorted by bytes, largest first."""
    import pandas as pd

    columns = ["source", "destination", "flows", "packets", "bytes", "reverse_bytes", "verdict", "allowed", "denied"]
    flows = one_per_flow(frame)
    if flows.empty:
        return pd.DataFrame(columns=columns)
    src = flows["source"].map(lambda e: group_key(e, by))
    dst = flows["destination"].map(lambda e: group_key(e, by))
    table = pd.DataFrame({"source": src, "destination": dst, "packets": flows["packetTotalCount"],
                          "bytes": flows["octetTotalCount"], "reverse_bytes": flows["reverseOctetTotalCount"],
                          "rank": flows["verdict"].map(VERDICT_ORDER.index),
                          "allowed": (flows["verdict"] == "allow").astype(int),
                          "denied": (flows["verdict"] != "allow").astype(int)})
    if hide_system:
        system = table["source"].map(namespace_of).isin(SYSTEM_NAMESPACES) | \
            table["destination"].map(namespace_of).isin(SYSTEM_NAMESPACES)
        table = table[~system]
    out = table.groupby(["source", "destination"], as_index=False).agg(
        flows=("packets", "size"), packets=("packets", "sum"), bytes=("bytes", "sum"),
        reverse_bytes=("reverse_bytes", "sum"), rank=("rank", "max"), allowed=("allowed", "sum"),
        denied=("denied", "sum"))
    out["verdict"] = out["rank"].map(lambda r: VERDICT_ORDER[int(r)])
    return out[columns].sort_values(["bytes", "source", "destination"], ascending=[False, True, True],
                                    ignore_index=True)


def sankey(frame: "pd.DataFrame", by: GroupBy = "workload", *, limit: int = 50,
           hide_system: bool = True) -> tuple[list[str], "pd.DataFrame"]:
    """Nodes and links of a Sankey of bytes (both directions) from sources to destinations.

    Sources and destinations are separate nodes (``"<name> "`` on the right, trailing space) so a
    group that both sends and receives does not make a cycle. At most ``limit`` links, the
    largest (Theia caps its Sankey panels at 50)."""
    table = edges(frame, by, hide_system=hide_system).head(limit)
    left = sorted(set(table["source"]))
    right = sorted(set(table["destination"]))
    nodes = left + [name + " " for name in right]
    index = {name: i for i, name in enumerate(nodes)}
    links = table.assign(source_index=table["source"].map(index),
                         target_index=(table["destination"] + " ").map(index),
                         value=table["bytes"] + table["reverse_bytes"])
    return nodes, links


def policy_matrix(frame: "pd.DataFrame", by: GroupBy = "namespace", *,
                  hide_system: bool = True) -> tuple["pd.DataFrame", "pd.DataFrame"]:
    """Two source x destination tables: bytes, and the state of the traffic between them
    (``allow``, ``deny`` when every flow was dropped or rejected, ``mixed``, or ``""``)."""
    table = edges(frame, by, hide_system=hide_system)
    names = sorted(set(table["source"]) | set(table["destination"]))
    volume = table.pivot_table(index="source", columns="destination", values="bytes", aggfunc="sum",
                               fill_value=0).reindex(index=names, columns=names, fill_value=0)
    state = table.assign(state=[("allow" if d == 0 else "deny" if a == 0 else "mixed")
                                for a, d in zip(table["allowed"], table["denied"])])
    states = state.pivot(index="source", columns="destination", values="state").reindex(
        index=names, columns=names).fillna("")
    volume.index.name = states.index.name = "source"
    volume.columns.name = states.columns.name = "destination"
    return volume, states


__all__ = [
    "SYSTEM_NAMESPACES",
    "edges",
    "group_key",
    "namespace_of",
    "one_per_flow",
    "policy_matrix",
    "sankey",
    "workload_of",
]
