"""Least-privilege NetworkPolicies recommended from observed flows (Theia's policy recommendation).

::

    rec = recommend_policies(agg.frame(), lab.state)                  # K8s NetworkPolicies
    rec = recommend_policies(agg.frame(), lab.state, mode="antrea")   # ANNPs + baseline Reject
    lab.apply(rec.manifests); print(rec.yaml())

What is reproduced from Theia (plugins/policy-recommendation/policy_recommendation_job.py):

* a *workload* is a namespace plus its Pods' labels, without the labels controllers add
  (``pod-template-hash``, ``controller-revision-hash``, ``pod-template-generation``), so the
  replicas of a Deployment share one policy;
* each allowed flow becomes an ingress rule on the destination workload (from the source
  workload, on the destination port and protocol it used) and an egress rule on the source
  workload (to the destination workload). Peers name their namespace with the
  ``kubernetes.io/metadata.name`` label. Ports are the Pods' ports, after Service translation:
  policies are enforced after Antrea Proxy has picked an endpoint;
* ``mode="k8s"`` (Theia option 3) gives one ``networking.k8s.io/v1`` NetworkPolicy per
  workload; ``mode="antrea"`` (options 1 and 2) gives one Antrea NetworkPolicy per workload in
  the ``application`` tier at priority 5, plus Reject rules in the ``baseline`` tier, either
  per workload (``isolation="workloads"``, option 1) or cluster-wide (``"namespaces"``,
  option 2);
* namespaces in ``ns_allow_list`` (Antrea's own, by default) get no policy; in Antrea mode a
  ``platform``-tier ACNP allows all their traffic, as Theia's does.

Differences, on purpose: names are deterministic (``recommend-k8s-np-api-<hash>`` rather than a
random suffix), so a recommendation can be diffed and tested; in K8s mode "isolate the rest" is
a default-deny NetworkPolicy per namespace (Theia's option 3 adds none, so Pods that received
no traffic stayed open); DNS to ``kube-system/kube-dns`` stays allowed (``allow_dns``), since a
default deny without it breaks every name lookup on a real cluster; Theia's ``toServices`` egress
rules are not used, as they match only ClusterIP traffic and labkit's matrices probe Pod IPs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from labkit.errors import LabkitError
from labkit.flows.records import PROTOCOL_NAMES, FlowRecord
from labkit.model.cluster import ClusterState
from labkit.model.objects import Pod

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

MEANINGLESS_LABELS = ("pod-template-hash", "controller-revision-hash", "pod-template-generation")
NAMESPACE_ALLOW_LIST = ("kube-system", "flow-aggregator", "flow-visibility")
DEFAULT_POLICY_PRIORITY = 5
_NS_LABEL = "kubernetes.io/metadata.name"
_DNS_PEER = {"namespaceSelector": {"matchLabels": {_NS_LABEL: "kube-system"}},
             "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}
_DNS_PORTS = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]

Mode = Literal["k8s", "antrea"]
Isolation = Literal["namespaces", "workloads"]


class RecommendationError(LabkitError):
    """Flows or options a recommendation cannot be made from."""


@dataclass(frozen=True, order=True)
class Workload:
    """Pods of one namespace that share the same (meaningful) labels."""

    namespace: str
    labels: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, pod: Pod, remove_auto_labels: bool = True) -> Workload:
        labels = {k: v for k, v in pod.labels.items() if not (remove_auto_labels and k in MEANINGLESS_LABELS)}
        return cls(pod.namespace, tuple(sorted(labels.items())))

    @property
    def match_labels(self) -> dict[str, str]:
        return dict(self.labels)

    @property
    def slug(self) -> str:
        """A short readable name: the ``app`` label (or first label value), plus a hash."""
        values = dict(self.labels)
        head = values.get("app") or (self.labels[0][1] if self.labels else "all")
        digest = hashlib.sha1(repr((self.namespace, self.labels)).encode()).hexdigest()[:5]
        head = "".join(ch if ch.isalnum() or ch == "-" else "-" for ch in head.lower()).strip("-")[:40] or "pods"
        return f"{head}-{digest}"

    def peer(self) -> dict[str, Any]:
        return {"namespaceSelector": {"matchLabels": {_NS_LABEL: self.namespace}},
                "podSelector": {"matchLabels": self.match_labels}}

    def __str__(self) -> str:
        labels = ",".join(f"{k}={v}" for k, v in self.labels) or "*"
        return f"{self.namespace}/{labels}"


@dataclass(frozen=True, order=True)
class ObservedFlow:
    """Allowed traffic between two workloads on one port, with how much of it was seen."""

    source: Workload
    destination: Workload
    protocol: str
    port: int
    pod_pairs: int = field(default=0, compare=False)  # distinct (source Pod, destination Pod) seen


def _rows(flows: Any) -> Iterable[tuple[str, str, str, str, int, int, str]]:
    """(source ip, dest ip, source ns/pod, dest ns/pod, protocol number, dest port, verdict)."""
    if hasattr(flows, "columns"):  # a DataFrame from records_to_frame (per-Node or aggregated)
        frame = flows
        needed = {"sourceIP", "destinationIP", "protocolIdentifier", "destinationTransportPort", "verdict"}
        missing = needed - set(frame.columns)
        if missing:
            raise RecommendationError(f"the flow table lacks column(s) {', '.join(sorted(missing))}; "
                                      "pass a frame made by records_to_frame() (e.g. aggregator.frame())")
        src = frame["source"] if "source" in frame else frame["sourceIP"]
        dst = frame["destination"] if "destination" in frame else frame["destinationIP"]
        yield from zip(frame["sourceIP"], frame["destinationIP"], src, dst, frame["protocolIdentifier"],
                       frame["destinationTransportPort"], frame["verdict"])
        return
    for r in flows:
        if not isinstance(r, FlowRecord):
            raise RecommendationError(f"cannot recommend from {type(r).__name__}: pass a flow "
                                      "DataFrame or FlowRecords")
        yield (r.source_ip, r.destination_ip, r.source, r.destination, r.protocol_identifier,
               r.destination_transport_port, r.verdict)


def observed_flows(flows: Any, state: ClusterState, *, remove_auto_labels: bool = True,
                   ns_allow_list: Iterable[str] = NAMESPACE_ALLOW_LIST) -> list[ObservedFlow]:
    """The allowed workload-to-workload flows in ``flows`` (a flow DataFrame or FlowRecords).

    Pods are found by name when the record names them, else by IP in ``state`` (a per-Node
    record of an inter-Node flow knows only its own side). Denied flows, flows from or to
    addresses outside the cluster's Pods, and flows touching an allow-listed namespace are left
    out; a Pod talking to itself never reaches a policy."""
    by_key = {p.key: p for p in state.pods}
    by_ip = {p.pod_ip: p for p in state.pods if p.pod_ip}
    allowed_ns = set(ns_allow_list)
    counts: dict[tuple[Workload, Workload, str, int], set[tuple[str, str, int]]] = {}
    for sip, dip, src, dst, proto, port, verdict in _rows(flows):
        if verdict != "allow":
            continue
        s, d = by_key.get(src) or by_ip.get(sip), by_key.get(dst) or by_ip.get(dip)
        if s is None or d is None or s.key == d.key or {s.namespace, d.namespace} & allowed_ns:
            continue
        name = PROTOCOL_NAMES.get(int(proto))
        if name not in ("TCP", "UDP", "SCTP"):
            continue
        triple = (Workload.of(s, remove_auto_labels), Workload.of(d, remove_auto_labels), name, int(port))
        counts.setdefault(triple, set()).add((sip, dip, int(port)))
    return sorted(ObservedFlow(sw, dw, proto, port, len(seen)) for (sw, dw, proto, port), seen in counts.items())


@dataclass
class Recommendation:
    """Recommended manifests and the observed flows they were made from."""

    mode: str
    isolation: str
    flows: list[ObservedFlow]
    manifests: list[dict[str, Any]]

    def yaml(self) -> str:
        """All manifests, as one multi-document YAML (``kubectl apply -f`` ready)."""
        import yaml

        return "---\n".join(yaml.safe_dump(m, sort_keys=False) for m in self.manifests)

    def names(self) -> list[str]:
        """``kind/[namespace/]name`` of every manifest."""
        out = []
        for m in self.manifests:
            meta = m["metadata"]
            kind = {"networking.k8s.io/v1": "netpol"}.get(m["apiVersion"], "acnp" if m["kind"] ==
                                                          "ClusterNetworkPolicy" else "annp")
            out.append(f"{kind}/{meta['namespace']}/{meta['name']}" if "namespace" in meta else f"{kind}/{meta['name']}")
        return out

    def frame(self) -> "pd.DataFrame":
        """One row per observed flow: source and destination workloads, protocol, port, the
        number of distinct (source Pod, destination Pod) pairs seen."""
        import pandas as pd

        rows = [{"source": str(f.source), "destination": str(f.destination), "protocol": f.protocol,
                 "port": f.port, "pod_pairs": f.pod_pairs} for f in self.flows]
        return pd.DataFrame(rows, columns=["source", "destination", "protocol", "port", "pod_pairs"])

    def __str__(self) -> str:
        return (f"Recommendation ({self.mode}, isolation={self.isolation}): {len(self.manifests)} policies "
                f"from {len(self.flows)} observed flows\n" + "\n".join(f"  {n}" for n in self.names()))


def _ports(flows: Iterable[ObservedFlow]) -> list[dict[str, Any]]:
    return [{"protocol": proto, "port": port} for proto, port in sorted({(f.protocol, f.port) for f in flows})]


def _by_peer(flows: list[ObservedFlow], side: str) -> dict[Workload, list[ObservedFlow]]:
    out: dict[Workload, list[ObservedFlow]] = {}
    for f in flows:
        out.setdefault(getattr(f, side), []).append(f)
    return dict(sorted(out.items()))


def recommend_policies(flows: Any, state: ClusterState, *, mode: Mode = "k8s",
                       isolation: Isolation = "namespaces", deny_action: str = "Reject",
                       ns_allow_list: Iterable[str] = NAMESPACE_ALLOW_LIST, allow_dns: bool = True,
                       remove_auto_labels: bool = True, priority: float = DEFAULT_POLICY_PRIORITY) -> Recommendation:
    """Policies that allow exactly the allowed flows in ``flows`` (workload to workload, on the
    ports seen) and isolate everything else; see the module docstring for the two modes.

    ``flows``: a flow DataFrame (aggregated or per-Node, from
    :func:`~labkit.flows.records.records_to_frame`) or FlowRecords. ``state``: the lab's
    cluster (``lab.state``), for the Pods' labels. ``isolation``: ``"namespaces"`` isolates
    every Pod of every namespace outside ``ns_allow_list``; ``"workloads"`` only the workloads
    that got allow rules. ``deny_action``: ``Reject`` (Theia's) or ``Drop``, Antrea mode."""
    if mode not in ("k8s", "antrea"):
        raise RecommendationError(f"mode {mode!r} is not 'k8s' or 'antrea'")
    if isolation not in ("namespaces", "workloads"):
        raise RecommendationError(f"isolation {isolation!r} is not 'namespaces' or 'workloads'")
    if deny_action not in ("Reject", "Drop"):
        raise RecommendationError(f"deny_action {deny_action!r} is not 'Reject' or 'Drop'")
    allow_list = tuple(ns_allow_list)
    observed = observed_flows(flows, state, remove_auto_labels=remove_auto_labels, ns_allow_list=allow_list)
    workloads = sorted({f.source for f in observed} | {f.destination for f in observed})
    namespaces = sorted({p.namespace for p in state.pods} - set(allow_list))
    if mode == "k8s":
        manifests = _k8s(observed, workloads, namespaces, isolation, allow_dns)
    else:
        present = sorted({ns.name for ns in state.namespaces} & set(allow_list))
        manifests = _antrea(observed, workloads, namespaces, isolation, deny_action, allow_dns, priority,
                            present, allow_list)
    return Recommendation(mode, isolation, observed, manifests)


def _k8s(observed: list[ObservedFlow], workloads: list[Workload], namespaces: list[str], isolation: str,
         allow_dns: bool) -> list[dict[str, Any]]:
    manifests = []
    for w in workloads:
        ingress = [{"from": [peer.peer()], "ports": _ports(fs)}
                   for peer, fs in _by_peer([f for f in observed if f.destination == w], "source").items()]
        egress = [{"to": [peer.peer()], "ports": _ports(fs)}
                  for peer, fs in _by_peer([f for f in observed if f.source == w], "destination").items()]
        if isolation == "workloads":
            types = ["Ingress", "Egress"]  # isolate both directions, even where nothing was seen
            if allow_dns:
                egress.append({"to": [dict(_DNS_PEER)], "ports": list(_DNS_PORTS)})
        else:
            types = [t for t, rules in (("Ingress", ingress), ("Egress", egress)) if rules]
        spec: dict[str, Any] = {"podSelector": {"matchLabels": w.match_labels}, "policyTypes": types}
        if ingress:
            spec["ingress"] = ingress
        if egress:
            spec["egress"] = egress
        manifests.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                          "metadata": {"name": f"recommend-k8s-np-{w.slug}", "namespace": w.namespace},
                          "spec": spec})
    if isolation == "namespaces":
        for ns in namespaces:
            spec = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
            if allow_dns:
                spec["egress"] = [{"to": [dict(_DNS_PEER)], "ports": list(_DNS_PORTS)}]
            manifests.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                              "metadata": {"name": "recommend-k8s-np-default-deny", "namespace": ns},
                              "spec": spec})
    return manifests


def _rule_name(prefix: str, peer: Workload) -> str:
    return f"{prefix}-{peer.namespace}-{peer.slug}"[:63].rstrip("-")


def _antrea(observed: list[ObservedFlow], workloads: list[Workload], namespaces: list[str], isolation: str,
            deny_action: str, allow_dns: bool, priority: float, present_allow_list: list[str],
            allow_list: tuple[str, ...]) -> list[dict[str, Any]]:
    manifests: list[dict[str, Any]] = []
    for ns in present_allow_list:  # Theia: the CNI's own namespaces keep all their traffic
        manifests.append({"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy",
                          "metadata": {"name": f"recommend-allow-acnp-{ns}"},
                          "spec": {"tier": "platform", "priority": priority,
                                   "appliedTo": [{"namespaceSelector": {"matchLabels": {_NS_LABEL: ns}}}],
                                   "ingress": [{"action": "Allow", "name": "allow-all-ingress",
                                                "from": [{"podSelector": {}}]}],
                                   "egress": [{"action": "Allow", "name": "allow-all-egress",
                                               "to": [{"podSelector": {}}]}]}})
    for w in workloads:
        ingress = [{"action": "Allow", "name": _rule_name("from", peer), "from": [peer.peer()], "ports": _ports(fs)}
                   for peer, fs in _by_peer([f for f in observed if f.destination == w], "source").items()]
        egress = [{"action": "Allow", "name": _rule_name("to", peer), "to": [peer.peer()], "ports": _ports(fs)}
                  for peer, fs in _by_peer([f for f in observed if f.source == w], "destination").items()]
        spec: dict[str, Any] = {"tier": "application", "priority": priority,
                                "appliedTo": [{"podSelector": {"matchLabels": w.match_labels}}]}
        if ingress:
            spec["ingress"] = ingress
        if egress:
            spec["egress"] = egress
        manifests.append({"apiVersion": "crd.antrea.io/v1beta1", "kind": "NetworkPolicy",
                          "metadata": {"name": f"recommend-allow-anp-{w.slug}", "namespace": w.namespace},
                          "spec": spec})
    if allow_dns:
        manifests.append({"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy",
                          "metadata": {"name": "recommend-allow-acnp-dns"},
                          "spec": {"tier": "application", "priority": priority,
                                   "appliedTo": [{"namespaceSelector": {}}],
                                   "egress": [{"action": "Allow", "name": "allow-dns", "to": [dict(_DNS_PEER)],
                                               "ports": list(_DNS_PORTS)}]}})
    deny_rules = {"ingress": [{"action": deny_action, "name": f"{deny_action.lower()}-ingress",
                               "from": [{"namespaceSelector": {}}]}],
                  "egress": [{"action": deny_action, "name": f"{deny_action.lower()}-egress",
                              "to": [{"namespaceSelector": {}}]}]}
    if isolation == "namespaces":
        applied = [{"namespaceSelector": {"matchExpressions": [
            {"key": _NS_LABEL, "operator": "NotIn", "values": sorted(allow_list)}]}}] if allow_list else [
            {"namespaceSelector": {}}]
        manifests.append({"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy",
                          "metadata": {"name": f"recommend-{deny_action.lower()}-all-acnp"},
                          "spec": {"tier": "baseline", "priority": priority, "appliedTo": applied, **deny_rules}})
    else:
        for w in workloads:
            manifests.append({"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy",
                              "metadata": {"name": f"recommend-{deny_action.lower()}-acnp-{w.namespace}-{w.slug}"[:63]},
                              "spec": {"tier": "baseline", "priority": priority, "appliedTo": [w.peer()],
                                       **deny_rules}})
    return manifests


def describe_workloads(state: ClusterState, remove_auto_labels: bool = True) -> Mapping[str, Workload]:
    """Each Pod's workload (``ns/pod`` -> :class:`Workload`): what a recommended policy selects."""
    return {p.key: Workload.of(p, remove_auto_labels) for p in state.pods}


__all__ = [
    "DEFAULT_POLICY_PRIORITY",
    "MEANINGLESS_LABELS",
    "NAMESPACE_ALLOW_LIST",
    "ObservedFlow",
    "Recommendation",
    "RecommendationError",
    "Workload",
    "describe_workloads",
    "observed_flows",
    "recommend_policies",
]
