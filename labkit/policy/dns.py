"""The cluster DNS names of a lab's Services and Pods, and what an ``fqdn`` peer selects among them.

Antrea's agent implements ``fqdn`` egress peers from DNS answers (docs/antrea-network-policy.md
"FQDN based filtering"; v2.7.0 pkg/agent/controller/networkpolicy/fqdn.go): the A/AAAA records of
the names a selector matches become the rule's destination addresses. Policy rules are enforced
after AntreaProxy has rewritten a Service's ClusterIP to an endpoint, so:

* a **headless** Service name (``clusterIP: None``, with a selector) resolves to its endpoints'
  Pod IPs, and an ``fqdn`` rule matching it applies to traffic to those Pods ("will drop all egress
  traffic destined to headless Service svcA"; e2e testFQDNPolicyInClusterService);
* a **ClusterIP** Service name resolves to the ClusterIP, which no packet carries any more when
  the egress rules run: such a rule has no effect ("FQDN based policies do not work for Service
  DNS names created by Kubernetes ... except for headless Services"). labkit keeps the ClusterIP
  in the rule's addresses, as Antrea does, and it never matches.

The names are those CoreDNS serves in a kind cluster (Kubernetes "DNS for Services and Pods";
kind's Corefile has ``pods insecure``), under the cluster domain ``cluster.local``:

* ``<service>.<namespace>.svc.cluster.local``;
* for each endpoint of a headless Service, ``<hostname>.<service>.<namespace>.svc.cluster.local``
  when the Pod sets ``hostname`` and ``subdomain: <service>``, else ``<a-b-c-d>.<service>...``
  (its IP with dashes);
* ``<a-b-c-d>.<namespace>.pod.cluster.local`` for every Pod IP (in ``insecure`` mode CoreDNS answers
  any such name of an existing Namespace with the IP it spells).

Matching follows fqdn.go: the expression is lower-cased; without ``*`` it selects that exact name
(which the agent queries itself as soon as the rule exists); ``*`` matches any run of characters,
across dots (``toRegex``). Names are compared without a final dot, so an expression ending in
``.`` matches nothing. A wildcard only learns the names the selected Pods resolve: labkit assumes
they resolve the in-cluster names they connect to, and treats every name above as resolved.
Names outside the cluster resolve to addresses outside the lab: they select no Pod.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from ..model.cluster import ClusterState
from ..model.objects import IPBlock
from .groups import EMPTY, Members, Selection

CLUSTER_DOMAIN = "cluster.local"  # kind's kubelet clusterDomain


@dataclass(frozen=True)
class DNSRecord:
    """The A records of one name: addresses, the lab Pods they belong to, and what the name is."""

    name: str
    addresses: tuple[str, ...]
    pods: frozenset[str]
    what: str


def dashed(ip: str) -> str:
    return ip.replace(".", "-").replace(":", "-")


def cluster_dns(state: ClusterState, sel: Selection | None = None) -> dict[str, DNSRecord]:
    """Every name the cluster DNS answers for the lab's Services and Pods, with its A records."""
    sel = sel or Selection(state)
    ip_of = {p.key: p.pod_ip for p in sel.pods if p.pod_ip}
    records: dict[str, DNSRecord] = {}
    for svc in state.services:
        name = f"{svc.name}.{svc.namespace}.svc.{CLUSTER_DOMAIN}"
        if svc.type == "ExternalName":
            continue  # a CNAME to a name outside the cluster: no address of the lab
        if svc.cluster_ip and svc.cluster_ip != "None":
            records[name] = DNSRecord(name, (svc.cluster_ip,), frozenset(), f"ClusterIP Service {svc.namespace}/"
                                      f"{svc.name} (its ClusterIP)")
            continue
        # Headless: the endpoints (labkit's Pods are always ready); selector-less: no Endpoints modelled.
        endpoints = sorted(k for k in sel.service_pods(svc.namespace, svc.name) if k in ip_of)
        if not endpoints:
            continue
        records[name] = DNSRecord(name, tuple(ip_of[k] for k in endpoints), frozenset(endpoints),
                                  f"headless Service {svc.namespace}/{svc.name} (its endpoints)")
        for key in endpoints:
            pod = state.pod(key)
            host = pod.hostname if pod.hostname and pod.subdomain == svc.name else dashed(ip_of[key])
            sub = f"{host}.{name}"
            records[sub] = DNSRecord(sub, (ip_of[key],), frozenset({key}),
                                     f"endpoint {key} of headless Service {svc.namespace}/{svc.name}")
    for key, ip in ip_of.items():
        ns = key.partition("/")[0]
        name = f"{dashed(ip)}.{ns}.pod.{CLUSTER_DOMAIN}"
        records.setdefault(name, DNSRecord(name, (ip,), frozenset({key}), f"Pod {key}"))
    return records


def fqdn_regex(expression: str) -> re.Pattern[str]:
    """Antrea's toRegex: '.' literal, '*' any run of characters, anchored; on the lower-cased form."""
    pattern = expression.strip().lower().replace(".", "[.]").replace("*", ".*")
    return re.compile(f"^{pattern}$")


def fqdn_records(expression: str, records: dict[str, DNSRecord], state: ClusterState) -> list[DNSRecord]:
    """The records an ``fqdn`` expression selects."""
    fqdn = expression.lower()
    if "*" in fqdn:
        regex = fqdn_regex(fqdn)
        return [r for name, r in sorted(records.items()) if regex.match(name)]
    if fqdn in records:
        return [records[fqdn]]
    # "pods insecure": a dashed IP in an existing Namespace resolves to that IP, Pod or not.
    m = re.fullmatch(rf"(\d+)-(\d+)-(\d+)-(\d+)\.([a-z0-9-]+)\.pod\.{re.escape(CLUSTER_DOMAIN)}", fqdn)
    if m and state.namespace(m[5]) is not None:
        try:
            ip = str(ipaddress.IPv4Address(".".join(m.groups()[:4])))
        except ValueError:
            return []
        # CoreDNS does not check that the IP belongs to a Pod of that Namespace: the address is what counts.
        pods = frozenset(p.key for p in state.pods if p.pod_ip == ip)
        return [DNSRecord(fqdn, (ip,), pods, "a Pod IP name")]
    return []


def fqdn_members(expression: str, records: dict[str, DNSRecord], state: ClusterState) -> Members:
    """The peer an ``fqdn`` expression stands for: the Pods behind its addresses, plus (as /32
    blocks) the addresses that are no Pod's, e.g. ClusterIPs, which no policy-checked packet has."""
    found = fqdn_records(expression, records, state)
    if not found:
        return EMPTY
    pod_ips = {ip for r in found for ip in r.addresses if r.pods}
    others = sorted({ip for r in found for ip in r.addresses} - pod_ips)
    return Members(frozenset().union(*(r.pods for r in found)), tuple(IPBlock(f"{ip}/32") for ip in others))


__all__ = ["CLUSTER_DOMAIN", "DNSRecord", "cluster_dns", "fqdn_regex", "fqdn_records", "fqdn_members"]
