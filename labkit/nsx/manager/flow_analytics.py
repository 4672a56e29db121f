"""Antrea flow records seen the way an NSX security admin sees flows (pure, no I/O).

NSX itself does not consume Antrea's flows (nsx.md §7); the products that do are NSX Intelligence
(NSX Application Platform; "Plan & Troubleshoot > Discover & Take Action") and vRealize Network
Insight, which the Antrea docs name as a consumer of the Flow Aggregator's IPFIX. What this module
reproduces is what their user guides describe, applied to the records of an Antrea cluster:

* **Flow types** (NSX Intelligence user guide 4.1, "Working with Traffic Flows"): *Unprotected*
  when the flow met a rule with Source Any and Destination Any (a catch-all; "more granular
  security policies are needed"), *Blocked* when a more granular Drop or Reject rule decided it,
  *Allowed* when a more granular Allow rule did. For an Antrea-scoped rule the other side of a
  rule is its Applied To (nsx.md §5.2: a rule sets sources *or* destinations), so labkit counts a
  rule as a catch-all only when its sources, destinations **and** Applied To are all Any; a flow
  no NSX rule decided (no rule, or a Kubernetes/Antrea policy of the cluster) is Unprotected too.
* **Groups** (same guide, "Discover & Take Action"): flows are drawn between groups; a compute
  that is in no group is in *Uncategorized Computes*, an address that is no known compute is
  *Unknown*. A pod in two groups takes part in both groups' flows, so the per-group-pair counts
  may add up to more than the records.
* **Services** (NSX for vSphere Application Rule Manager, "Processed View"): the NSX service
  defined for the flow's protocol and port, else the raw ``protocol/port``.
* **The deciding rule**: Antrea's records name the policy and rule of each side
  (``ingress/egressNetworkPolicyName``, ``...RuleName``, ``...RuleAction``, docs/flows.md). The
  interworking adapter names each ClusterNetworkPolicy after its NSX policy's ``unique_id`` and
  each rule after the NSX ``rule_id`` (nsx.md §5.4), so a record's ACNP rule is an NSX rule when
  the names match one. The side that decided is egress when egress denied, else ingress when an
  ingress rule is named, else egress (as ``Explanation.deciding`` and docs/flows.md).

Records use the Flow Aggregator's IE names, with ``sourceIP``/``destinationIP``/
``destinationClusterIP`` for addresses as in Theia's ClickHouse ``flows`` table; times are epoch
seconds (IPFIX dateTimeSeconds). Which fields exist and their types is :data:`RECORD_FIELDS`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

ACNP_TYPE = 3  # ingress/egressNetworkPolicyType: 1 K8s NP, 2 ANNP, 3 ACNP, 4 CNP (docs/flows.md)
POLICY_KINDS = {1: "K8sNetworkPolicy", 2: "AntreaNetworkPolicy", 3: "AntreaClusterNetworkPolicy",
                4: "ClusterNetworkPolicy"}
ACTIONS = {1: "ALLOW", 2: "DROP", 3: "REJECT"}
PROTOCOLS = {1: "ICMP", 6: "TCP", 17: "UDP", 58: "IPv6-ICMP", 132: "SCTP"}
EGRESS_SUFFIX = "-out"  # the egress half of an Any-to-Any IN_OUT rule (docs/nsx-adapter.md)
UNCATEGORIZED = "UNCATEGORIZED"  # a pod in no group ("Uncategorized Computes")
UNKNOWN = "UNKNOWN"  # an address that is no pod of the cluster ("Unknown")
FLOW_TYPES = ("ALLOWED", "BLOCKED", "UNPROTECTED")

# The record's fields: name -> kind. ``ip`` an address, ``int`` a non-negative integer, ``str``.
_COUNTS = [f"{kind}{what}Count{where}" for kind in ("packet", "octet", "reversePacket", "reverseOctet")
           for what in ("Total", "Delta") for where in ("", "FromSourceNode", "FromDestinationNode")]
RECORD_FIELDS: dict[str, str] = {
    "sourceIP": "ip", "destinationIP": "ip", "destinationClusterIP": "ip",
    "sourceTransportPort": "int", "destinationTransportPort": "int", "protocolIdentifier": "int",
    "flowStartSeconds": "int", "flowEndSeconds": "int", "flowEndReason": "int", "flowType": "int",
    "flowEndSecondsFromSourceNode": "int", "flowEndSecondsFromDestinationNode": "int",
    "destinationServicePort": "int", "tcpState": "str", "destinationServicePortName": "str",
    **{f"{side}{what}": "str" for side in ("source", "destination")
       for what in ("PodName", "PodNamespace", "NodeName", "PodLabels")},
    **{f"{side}NetworkPolicy{what}": kind for side in ("ingress", "egress")
       for what, kind in (("Name", "str"), ("Namespace", "str"), ("Type", "int"), ("RuleName", "str"),
                          ("RuleAction", "int"))},
    **{name: "int" for name in _COUNTS},
    **{f"{d}hroughput{where}": "int" for d in ("t", "reverseT") for where in ("", "FromSourceNode",
                                                                              "FromDestinationNode")},
}
REQUIRED_FIELDS = ("sourceIP", "destinationIP", "protocolIdentifier", "destinationTransportPort")
_INT_MAX = {"sourceTransportPort": 65535, "destinationTransportPort": 65535, "destinationServicePort": 65535,
            "protocolIdentifier": 255}


def record_problems(record: Any, where: str) -> list[str]:
    """Every problem of one record (unknown field, wrong type, missing 5-tuple part)."""
    if not isinstance(record, dict):
        return [f"{where} must be an object of flow record fields"]
    problems = [f"{where}.{name}: unknown field of a flow record (known: the Flow Aggregator's "
                f"IE names, e.g. sourceIP, destinationTransportPort, ingressNetworkPolicyName)"
                for name in record if name not in RECORD_FIELDS]
    problems += [f"{where}.{name} is required" for name in REQUIRED_FIELDS if record.get(name) is None]
    for name, value in record.items():
        kind = RECORD_FIELDS.get(name)
        if kind is None or value is None:
            continue
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > _INT_MAX.get(name, 2**64 - 1):
                bound = f" <= {_INT_MAX[name]}" if name in _INT_MAX else ""
                problems.append(f"{where}.{name} {value!r} must be an integer >= 0{bound}")
        elif kind == "ip":
            if not isinstance(value, str) or (value and not _is_ip(value)):
                problems.append(f"{where}.{name} {value!r} is not an IP address")
        elif not isinstance(value, str):
            problems.append(f"{where}.{name} {value!r} must be a string")
    return problems


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------------- what a flow meets


@dataclass(frozen=True)
class ClusterView:
    """One cluster's inventory, as the analytics need it."""

    cluster_id: str
    cluster_name: str
    namespaces: dict[str, str]  # ContainerProject id -> name
    pods: tuple[dict[str, Any], ...]  # ContainerApplicationInstance objects
    groups_of_pod: dict[str, tuple[str, ...]]  # pod id -> Antrea group paths it is an effective member of
    by_name: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    by_ip: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def build(cls, cluster_id: str, cluster_name: str, namespaces: Iterable[dict[str, Any]],
              pods: Iterable[dict[str, Any]], groups_of_pod: dict[str, tuple[str, ...]]) -> ClusterView:
        names = {n["id"]: n.get("display_name", "") for n in namespaces}
        pods = tuple(pods)
        by_name = {(names.get(p.get("container_project_id", ""), ""), p.get("display_name", "")): p for p in pods}
        by_ip = {}
        for p in pods:
            for prop in p.get("origin_properties") or []:
                if isinstance(prop, dict) and prop.get("key") == "ip":
                    for ip in str(prop.get("value", "")).split(","):
                        by_ip[ip.strip()] = p
        return cls(cluster_id, cluster_name, names, pods, groups_of_pod, by_name, by_ip)

    def pod(self, namespace: str | None, name: str | None, ip: str | None) -> dict[str, Any] | None:
        if namespace and name and (namespace, name) in self.by_name:
            return self.by_name[(namespace, name)]
        return self.by_ip.get(ip or "")


@dataclass(frozen=True)
class NSXRules:
    """NSX security policies by ``unique_id`` (the name of the ACNP realizing each), with rules by
    ``rule_id``, and NSX services by (protocol, port)."""

    policies: dict[str, dict[str, Any]]
    rules: dict[str, dict[str, dict[str, Any]]]  # policy unique_id -> rule_id -> rule
    services: dict[tuple[str, int], str]  # (TCP, 8080) -> /infra/services/HTTP-8080

    @classmethod
    def build(cls, policies: Iterable[tuple[dict[str, Any], list[dict[str, Any]]]],
              services: Iterable[dict[str, Any]]) -> NSXRules:
        by_uid, rules = {}, {}
        for policy, policy_rules in policies:
            uid = policy.get("unique_id")
            if uid:
                by_uid[uid] = policy
                rules[uid] = {str(r.get("rule_id")): r for r in policy_rules if r.get("rule_id") is not None}
        return cls(by_uid, rules, single_port_services(services))


def single_port_services(services: Iterable[dict[str, Any]]) -> dict[tuple[str, int], str]:
    """(protocol, port) -> the path of an NSX service whose one entry is that TCP/UDP port (the
    first by id when several are)."""
    known: dict[tuple[str, int], str] = {}
    for service in sorted(services, key=lambda s: s.get("id", "")):
        entries = service.get("service_entries") or []
        if len(entries) != 1 or entries[0].get("resource_type") != "L4PortSetServiceEntry":
            continue
        ports = entries[0].get("destination_ports") or []
        if len(ports) == 1 and str(ports[0]).isdigit() and entries[0].get("l4_protocol") in ("TCP", "UDP"):
            known.setdefault((entries[0]["l4_protocol"], int(ports[0])), service["path"])
    return known


def enrich(record: dict[str, Any], flow_id: str, report_id: str, cluster: ClusterView,
           nsx: NSXRules) -> dict[str, Any]:
    """One record as the NSX flow view shows it (see the module docstring)."""
    protocol = PROTOCOLS.get(int(record.get("protocolIdentifier") or 0), str(record.get("protocolIdentifier")))
    port = int(record.get("destinationTransportPort") or 0)
    egress_action = int(record.get("egressNetworkPolicyRuleAction") or 0)
    ingress_action = int(record.get("ingressNetworkPolicyRuleAction") or 0)
    action = "ALLOW"
    if 3 in (egress_action, ingress_action):
        action = "REJECT"
    elif 2 in (egress_action, ingress_action):
        action = "DROP"
    if egress_action in (2, 3):
        side = "egress"
    elif int(record.get("ingressNetworkPolicyType") or 0):
        side = "ingress"
    elif int(record.get("egressNetworkPolicyType") or 0):
        side = "egress"
    else:
        side = ""
    cluster_policy = None
    rule = None
    if side:
        kind = int(record.get(f"{side}NetworkPolicyType") or 0)
        name = str(record.get(f"{side}NetworkPolicyName") or "")
        rule_name = str(record.get(f"{side}NetworkPolicyRuleName") or "")
        namespace = str(record.get(f"{side}NetworkPolicyNamespace") or "")
        cluster_policy = {"kind": POLICY_KINDS.get(kind, str(kind)), "name": f"{namespace}/{name}" if namespace else name,
                          "rule": rule_name, "direction": side.upper()}
        rule = _nsx_rule(nsx, kind, name, rule_name, side)
    catch_all = rule.pop("_catch_all") if rule is not None else True  # no NSX rule: unprotected too
    flow_type = "UNPROTECTED" if catch_all else ("ALLOWED" if action == "ALLOW" else "BLOCKED")
    packets = int(record.get("packetTotalCount") or 0) + int(record.get("reversePacketTotalCount") or 0)
    octets = int(record.get("octetTotalCount") or 0) + int(record.get("reverseOctetTotalCount") or 0)
    return {
        "id": flow_id,
        "report_id": report_id,
        "cluster_id": cluster.cluster_id,
        "cluster_name": cluster.cluster_name,
        "source": _endpoint(record, "source", cluster),
        "destination": {**_endpoint(record, "destination", cluster),
                        "kubernetes_service": record.get("destinationServicePortName") or "",
                        "cluster_ip": record.get("destinationClusterIP") or ""},
        "protocol": protocol,
        "source_port": int(record.get("sourceTransportPort") or 0),
        "destination_port": port,
        "service": nsx.services.get((protocol, port), f"{protocol}/{port}"),
        "action": action,
        "flow_type": flow_type,
        "rule": rule,
        "cluster_policy": cluster_policy,
        "packet_count": packets,
        "byte_count": octets,
        "flow_start_time": int(record.get("flowStartSeconds") or 0) * 1000,
        "flow_end_time": int(record.get("flowEndSeconds") or 0) * 1000,
        "tcp_state": record.get("tcpState") or "",
    }


def _endpoint(record: dict[str, Any], side: str, cluster: ClusterView) -> dict[str, Any]:
    ip = str(record.get(f"{side}IP") or "")
    pod = cluster.pod(record.get(f"{side}PodNamespace"), record.get(f"{side}PodName"), ip)
    if pod is None:
        return {"ip": ip, "pod": "", "namespace": UNKNOWN, "node": "", "external_id": "", "groups": [UNKNOWN]}
    groups = list(cluster.groups_of_pod.get(pod["id"], ())) or [UNCATEGORIZED]
    return {"ip": ip, "pod": pod.get("display_name", ""),
            "namespace": cluster.namespaces.get(pod.get("container_project_id", ""), ""),
            "node": record.get(f"{side}NodeName") or "", "external_id": pod["id"], "groups": groups}


def _nsx_rule(nsx: NSXRules, kind: int, name: str, rule_name: str, side: str) -> dict[str, Any] | None:
    """The NSX rule an ACNP rule realizes, with the fields the view shows (None if not NSX's)."""
    if kind != ACNP_TYPE or name not in nsx.policies:
        return None
    policy = nsx.policies[name]
    rule_id = rule_name.removesuffix(EGRESS_SUFFIX)
    rule = nsx.rules.get(name, {}).get(rule_id)
    if rule is None:  # a rule NSX no longer has (the record is older than the change)
        return None
    scoped = [p for p in policy.get("scope") or [] if "/groups/" in p] + [
        p for p in rule.get("scope") or [] if p != "ANY"]
    catch_all = (_any(rule.get("source_groups")) and _any(rule.get("destination_groups")) and not scoped)
    return {"policy_path": policy["path"], "policy_name": policy.get("display_name", policy["id"]),
            "category": policy.get("category", ""), "rule_path": rule["path"],
            "rule_name": rule.get("display_name", rule["id"]), "rule_id": int(rule["rule_id"]),
            "action": rule.get("action", ""), "direction": side.upper(), "_catch_all": catch_all}


def _any(values: Any) -> bool:
    return not values or values == ["ANY"]


# ---------------------------------------------------------------------------- filters and summaries

FILTERS = ("report_id", "source_group", "destination_group", "source_namespace", "destination_namespace",
           "action", "flow_type", "service", "rule_path", "policy_path")


def matches(flow: dict[str, Any], filters: dict[str, str]) -> bool:
    """Whether a view record passes every filter (comma-separated values are alternatives; a group
    may be written as its path or its id)."""
    for name, raw in filters.items():
        wanted = {v.strip() for v in raw.split(",") if v.strip()}
        if not wanted:
            continue
        if name == "report_id":
            values = {flow["report_id"]}
        elif name in ("source_group", "destination_group"):
            groups = flow[name.split("_")[0]]["groups"]
            values = set(groups) | {g.rsplit("/", 1)[-1] for g in groups}
        elif name in ("source_namespace", "destination_namespace"):
            values = {flow[name.split("_")[0]]["namespace"]}
        elif name in ("rule_path", "policy_path"):
            values = {(flow.get("rule") or {}).get(name, "")}
        else:
            values = {str(flow.get(name, ""))}
        if not values & wanted:
            return False
    return True


GROUP_BY: dict[str, Callable[[dict[str, Any]], list[tuple[tuple[str, str], ...]]]] = {
    "cluster": lambda f: [(("cluster_name", f["cluster_name"]),)],
    "namespace": lambda f: [(("source_namespace", f["source"]["namespace"]),
                             ("destination_namespace", f["destination"]["namespace"]))],
    "group": lambda f: [(("source_group", s), ("destination_group", d))
                        for s in f["source"]["groups"] for d in f["destination"]["groups"]],
    "service": lambda f: [(("service", f["service"]),)],
    "rule": lambda f: [(("policy_path", (f.get("rule") or {}).get("policy_path", "")),
                        ("rule_path", (f.get("rule") or {}).get("rule_path", "")),
                        ("cluster_policy", _cluster_policy(f)))],
    "talker": lambda f: [(("source", _who(f["source"])), ("destination", _who(f["destination"])))],
}


def _who(end: dict[str, Any]) -> str:
    return f"{end['namespace']}/{end['pod']}" if end["pod"] else end["ip"]


def _cluster_policy(flow: dict[str, Any]) -> str:
    policy = flow.get("cluster_policy")
    return f"{policy['kind']}:{policy['name']}" if policy else ""


def summarize(flows: Iterable[dict[str, Any]], group_by: str) -> list[dict[str, Any]]:
    """Counts per key of ``group_by`` (:data:`GROUP_BY`): records, per action and flow type,
    packets and bytes. Sorted by records (``talker``: by bytes), largest first."""
    rows: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
    for flow in flows:
        for key in GROUP_BY[group_by](flow):
            row = rows.get(key)
            if row is None:
                row = rows[key] = {**dict(key), "record_count": 0, "allowed_count": 0, "dropped_count": 0,
                                   "rejected_count": 0, "unprotected_count": 0, "packet_count": 0, "byte_count": 0}
            row["record_count"] += 1
            row[{"ALLOW": "allowed_count", "DROP": "dropped_count", "REJECT": "rejected_count"}[flow["action"]]] += 1
            row["unprotected_count"] += flow["flow_type"] == "UNPROTECTED"
            row["packet_count"] += flow["packet_count"]
            row["byte_count"] += flow["byte_count"]
    order = "byte_count" if group_by == "talker" else "record_count"
    return sorted(rows.values(), key=lambda r: (-r[order], tuple(str(v) for v in r.values())))


__all__ = [
    "FILTERS",
    "FLOW_TYPES",
    "GROUP_BY",
    "RECORD_FIELDS",
    "REQUIRED_FIELDS",
    "UNCATEGORIZED",
    "UNKNOWN",
    "ClusterView",
    "NSXRules",
    "enrich",
    "matches",
    "record_problems",
    "single_port_services",
    "summarize",
]
