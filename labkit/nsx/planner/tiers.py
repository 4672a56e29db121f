"""Observed flows -> the application's tiers and which tiers talk on which ports (pure).

What a security admin defines in NSX for an Antrea cluster is Antrea groups by namespace and pod
labels (nsx.md §4.1: criteria Namespace Name Equals, Pod Tag Equals ``scope|tag``), one per
application tier. The planner derives them from the flows the way labkit's Theia-style
recommendation does (labkit/flows/recommend.py): a **workload** is a namespace plus its pods'
labels without the ones controllers add (``Workload.of``); a **tier** is the workload written as
an NSX admin would, by the namespace and the ``tier_label`` (``app``) when that label alone tells
the namespace's workloads apart, else by all the workload's labels.

Flows: every record the flow table marks ``allow`` between two pods of the cluster (found by
``ns/pod`` name, else by IP, as the recommendation does), on TCP or UDP (the only protocols NSX
accepts for Antrea clusters, nsx.md §5.2). As in the recommendation, namespaces in the allow list
(Antrea's own: ``kube-system``, ``flow-aggregator``, ``flow-visibility``) are not isolated: they
are outside the application's scope, and flows between two of them are not planned. Flows between
the application and them are kept (ingress into the application, and egress towards them when
egress is isolated), so isolation never cuts a connection that was seen. A pod talking to itself
never reaches a policy and is left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labkit.flows.recommend import NAMESPACE_ALLOW_LIST, Workload
from labkit.flows.records import PROTOCOL_NAMES
from labkit.nsx.planner.errors import PlanError
from labkit.policy.probe import Probe
from labkit.policy.reachability import Reachability

if TYPE_CHECKING:  # pragma: no cover
    from labkit.model.cluster import ClusterState
    from labkit.model.objects import Pod

NSX_PROTOCOLS = ("TCP", "UDP")
_NEEDED = ("sourceIP", "destinationIP", "protocolIdentifier", "destinationTransportPort", "verdict")


@dataclass(frozen=True, order=True)
class Tier:
    """Pods of one namespace selected by labels (none: the whole namespace)."""

    namespace: str
    labels: tuple[tuple[str, str], ...]

    @property
    def slug(self) -> str:
        """``frontend-web``: the namespace and the label values, for NSX ids."""
        return slug("-".join([self.namespace, *(v for _, v in self.labels)]))

    def __str__(self) -> str:
        labels = ",".join(f"{k}={v}" for k, v in self.labels)
        return f"{self.namespace}/{labels}" if labels else f"{self.namespace}/*"


@dataclass(frozen=True, order=True)
class Connection:
    """Pods that talked on one port (an observed pod pair)."""

    source: str  # ns/pod
    destination: str
    protocol: str
    port: int


@dataclass
class Observation:
    """What the flows show, in the planner's terms."""

    connections: dict[Connection, int]  # -> records seen
    tier_of: dict[str, Tier]  # every pod of the cluster -> its tier
    talks: dict[tuple[Tier, Tier], set[tuple[str, int]]]  # tier pair -> (protocol, port)
    app_namespaces: tuple[str, ...]  # isolated by the plan
    allow_list: tuple[str, ...]
    skipped: list[str] = field(default_factory=list)  # what could not be planned, and why

    def intended(self) -> dict[tuple[str, int], Reachability]:
        """The least-privilege matrix per observed port, over the application's pods: a pod pair
        is allowed exactly when it was observed on that port (or is a pod to itself)."""
        pods = sorted(k for k in self.tier_of if k.split("/")[0] in self.app_namespaces)
        seen = {(c.source, c.destination, c.protocol, c.port) for c in self.connections}
        out = {}
        for protocol, port in sorted({(c.protocol, c.port) for c in self.connections}):
            cells = {(s, d): "allow" if s == d or (s, d, protocol, port) in seen else "drop"
                     for s in pods for d in pods}
            out[(protocol, port)] = Reachability.from_cells(pods, pods, cells, Probe(protocol, port),
                                                            kind="expected", backend="flows")
        return out

    def pod_pairs(self, source: Tier, destination: Tier) -> int:
        return len({(c.source, c.destination) for c in self.connections
                    if self.tier_of[c.source] == source and self.tier_of[c.destination] == destination})


def tiers_of(state: ClusterState, tier_label: str | None = "app") -> dict[str, Tier]:
    """Each pod's tier (``ns/pod`` -> :class:`Tier`)."""
    workloads: dict[str, Workload] = {p.key: Workload.of(p) for p in state.pods}
    by_namespace: dict[str, set[Workload]] = {}
    for w in workloads.values():
        by_namespace.setdefault(w.namespace, set()).add(w)
    out = {}
    for key, w in workloads.items():
        out[key] = Tier(w.namespace, _tier_labels(w, by_namespace[w.namespace], tier_label))
    return out


def _tier_labels(w: Workload, siblings: set[Workload], tier_label: str | None) -> tuple[tuple[str, str], ...]:
    """The tier label alone when it tells the namespace's workloads apart, else all labels."""
    if tier_label:
        values = [dict(s.labels).get(tier_label) for s in siblings]
        if None not in values and len(set(values)) == len(values):
            return ((tier_label, dict(w.labels)[tier_label]),)
    return w.labels


def observe(flows: Any, state: ClusterState, *, tier_label: str | None = "app",
            ns_allow_list: Iterable[str] = NAMESPACE_ALLOW_LIST) -> Observation:
    """The allowed pod-to-pod connections in ``flows`` and the tiers that talk (module docstring)."""
    allow_list = tuple(ns_allow_list)
    tier_of = tiers_of(state, tier_label)
    connections: dict[Connection, int] = {}
    skipped: dict[str, int] = {}
    for src, dst, protocol, port in _allowed_rows(flows, state):
        if src.key == dst.key:
            continue
        if protocol not in NSX_PROTOCOLS:
            why = (f"{src.key} -> {dst.key} {protocol}/{port}: NSX policies for Antrea clusters take TCP "
                   "and UDP services only, so this connection cannot be allowed and the default drop "
                   "will cut it")
            skipped[why] = skipped.get(why, 0) + 1
            continue
        if src.namespace in allow_list and dst.namespace in allow_list:
            continue  # both outside the application: no policy there (as the recommendation)
        c = Connection(src.key, dst.key, protocol, port)
        connections[c] = connections.get(c, 0) + 1
    talks: dict[tuple[Tier, Tier], set[tuple[str, int]]] = {}
    for c in connections:
        talks.setdefault((tier_of[c.source], tier_of[c.destination]), set()).add((c.protocol, c.port))
    app = sorted({ns for c in connections for ns in (c.source.split("/")[0], c.destination.split("/")[0])}
                 - set(allow_list))
    return Observation(connections, tier_of, dict(sorted(talks.items())), tuple(app), allow_list,
                       [f"{why} ({n} record(s))" for why, n in skipped.items()])


def _allowed_rows(flows: Any, state: ClusterState) -> Iterable[tuple[Pod, Pod, str, int]]:
    """(source Pod, destination Pod, protocol, port) of every allowed record between two pods."""
    if not hasattr(flows, "columns"):
        raise PlanError(f"plan_segmentation takes a flow DataFrame (lab.flows(run)), not {type(flows).__name__}")
    missing = [c for c in _NEEDED if c not in flows.columns]
    if missing:
        raise PlanError(f"the flow table lacks column(s) {', '.join(missing)}: pass the Flow Aggregator's "
                        "DataFrame, lab.flows(run) (or run.frame())")
    by_key = {p.key: p for p in state.pods}
    by_ip = {p.pod_ip: p for p in state.pods if p.pod_ip}
    allowed = flows[flows["verdict"] == "allow"]
    src = allowed["source"] if "source" in allowed else allowed["sourceIP"]
    dst = allowed["destination"] if "destination" in allowed else allowed["destinationIP"]
    for s, d, sip, dip, proto, port in zip(src, dst, allowed["sourceIP"], allowed["destinationIP"],
                                           allowed["protocolIdentifier"], allowed["destinationTransportPort"]):
        sp, dp = by_key.get(s) or by_ip.get(sip), by_key.get(d) or by_ip.get(dip)
        if sp is not None and dp is not None:
            yield sp, dp, PROTOCOL_NAMES.get(int(proto), str(proto)), int(port)


def slug(text: str) -> str:
    """``text`` as an NSX/Kubernetes-friendly id part: lowercase letters, digits and dashes."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", text.lower())).strip("-")[:60] or "pods"


__all__ = ["Connection", "Observation", "Tier", "observe", "slug", "tiers_of"]
