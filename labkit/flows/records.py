"""Flow records as Antrea's Flow Exporter and Flow Aggregator export them, and their IPFIX form.

A :class:`FlowRecord` is what one ``antrea-agent`` exports for one connection (one direction of
observation: the Node it runs on); an :class:`AggregatedFlowRecord` is what the Flow Aggregator
exports in ``Aggregate`` mode after correlating the source-Node and destination-Node records of
the same 5-tuple (docs/network-flow-visibility.md).

Names: attributes are the snake_case of the IPFIX Information Element names of
:mod:`labkit.flows.ies` (``source_pod_name`` is ``sourcePodName``, Antrea enterprise 56506).
Addresses are version-agnostic (``source_ip``): on the wire they become ``sourceIPv4Address`` or
``sourceIPv6Address``, and in a DataFrame they are the ``sourceIP`` column, as in Theia's
ClickHouse ``flows`` table. DataFrame columns are the IE names, so a filter written here
(``flows[flows.ingressNetworkPolicyRuleAction == 2]``) reads like the SQL a learner will later
write against Theia.

Codes (go-ipfix ``pkg/registry``, Antrea ``pkg/apis/flow/v1alpha1``):

* ``*NetworkPolicyType``: 1 K8s NetworkPolicy, 2 Antrea NetworkPolicy (ANNP), 3 Antrea
  ClusterNetworkPolicy (ACNP), 4 upstream ClusterNetworkPolicy (v2.7), 0 none;
* ``*NetworkPolicyRuleAction``: 0 none, 1 Allow, 2 Drop, 3 Reject;
* ``flowType``: 1 intra-Node, 2 inter-Node, 3 to-external, 4 from-external, 0 unknown;
* ``flowEndReason`` (RFC 5102): 1 idle timeout, 2 active timeout, 3 end of flow, 4 forced end.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from labkit.flows.ies import IPFIXError
from labkit.flows.wire import Template

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


class PolicyType(IntEnum):
    NONE = 0
    K8S = 1  # networking.k8s.io NetworkPolicy
    ANNP = 2  # crd.antrea.io NetworkPolicy
    ACNP = 3  # crd.antrea.io ClusterNetworkPolicy
    CNP = 4  # policy.networking.k8s.io ClusterNetworkPolicy (Antrea >= v2.7)


class RuleAction(IntEnum):
    NONE = 0
    ALLOW = 1
    DROP = 2
    REJECT = 3


class FlowType(IntEnum):
    UNKNOWN = 0
    INTRA_NODE = 1
    INTER_NODE = 2
    TO_EXTERNAL = 3
    FROM_EXTERNAL = 4


class FlowEndReason(IntEnum):
    NONE = 0
    IDLE_TIMEOUT = 1
    ACTIVE_TIMEOUT = 2
    END_OF_FLOW = 3
    FORCED_END = 4
    LACK_OF_RESOURCES = 5


PROTOCOL_NUMBERS = {"ICMP": 1, "TCP": 6, "UDP": 17, "SCTP": 132, "IPV6-ICMP": 58}
PROTOCOL_NAMES = {number: name for name, number in PROTOCOL_NUMBERS.items()}


@dataclass(frozen=True)
class FlowKey:
    """The 5-tuple both Antrea and the Flow Aggregator key connections by."""

    source_ip: str
    destination_ip: str
    protocol_identifier: int
    source_transport_port: int
    destination_transport_port: int

    def __str__(self) -> str:
        proto = PROTOCOL_NAMES.get(self.protocol_identifier, str(self.protocol_identifier))
        return (f"{proto} {self.source_ip}:{self.source_transport_port} -> "
                f"{self.destination_ip}:{self.destination_transport_port}")


@dataclass(frozen=True)
class FlowRecord:
    """One connection as one antrea-agent's Flow Exporter reports it.

    An agent only knows its own Node's Pods: for an inter-Node flow the source Node fills the
    ``source_*`` Pod fields and the egress NetworkPolicy fields, the destination Node the
    ``destination_*`` Pod fields and the ingress ones (and, with Antrea Proxy, only the source
    Node saw the Service, so only it fills ``destination_service_port_name`` and
    ``destination_cluster_ip``). ``destination_ip``/``destination_transport_port`` are the
    endpoint's, after Service load balancing.
    """

    source_ip: str
    destination_ip: str
    source_transport_port: int
    destination_transport_port: int
    protocol_identifier: int
    flow_start_seconds: int = 0
    flow_end_seconds: int = 0
    flow_end_reason: int = 0
    packet_total_count: int = 0
    octet_total_count: int = 0
    packet_delta_count: int = 0
    octet_delta_count: int = 0
    reverse_packet_total_count: int = 0
    reverse_octet_total_count: int = 0
    reverse_packet_delta_count: int = 0
    reverse_octet_delta_count: int = 0
    source_pod_name: str = ""
    source_pod_namespace: str = ""
    source_node_name: str = ""
    destination_pod_name: str = ""
    destination_pod_namespace: str = ""
    destination_node_name: str = ""
    destination_cluster_ip: str = ""  # "" unless the flow targeted a Service (0.0.0.0 on the wire)
    destination_service_port: int = 0
    destination_service_port_name: str = ""  # "<ns>/<svc>" plus ":<port-name>" for named ports
    ingress_network_policy_name: str = ""
    ingress_network_policy_namespace: str = ""
    ingress_network_policy_type: int = 0
    ingress_network_policy_rule_name: str = ""
    ingress_network_policy_rule_action: int = 0
    egress_network_policy_name: str = ""
    egress_network_policy_namespace: str = ""
    egress_network_policy_type: int = 0
    egress_network_policy_rule_name: str = ""
    egress_network_policy_rule_action: int = 0
    tcp_state: str = ""
    flow_type: int = 0

    # -- derived ------------------------------------------------------------------------------

    @property
    def key(self) -> FlowKey:
        return FlowKey(self.source_ip, self.destination_ip, self.protocol_identifier,
                       self.source_transport_port, self.destination_transport_port)

    @property
    def ip_version(self) -> int:
        return 6 if ":" in self.source_ip else 4

    @property
    def source(self) -> str:
        """``namespace/pod`` as labkit names pods, or the IP when the Pod is unknown."""
        return (f"{self.source_pod_namespace}/{self.source_pod_name}" if self.source_pod_name
                else self.source_ip)

    @property
    def destination(self) -> str:
        return (f"{self.destination_pod_namespace}/{self.destination_pod_name}"
                if self.destination_pod_name else self.destination_ip)

    @property
    def verdict(self) -> str:
        """``allow``, ``drop`` or ``reject``, as labkit's reachability matrix says it.

        A connection is denied when either side's rule action is Drop or Reject; Reject wins
        because the client saw the RST (or ICMP unreachable) it sends."""
        actions = (self.egress_network_policy_rule_action, self.ingress_network_policy_rule_action)
        if RuleAction.REJECT in actions:
            return "reject"
        if RuleAction.DROP in actions:
            return "drop"
        return "allow"

    def replace(self, **changes: Any) -> FlowRecord:
        return dataclasses.replace(self, **changes)

    def to_ipfix(self) -> dict[str, Any]:
        """The record as ``{IE name: value}`` for :class:`~labkit.flows.ipfix.Template`."""
        return _to_ipfix(self)


@dataclass(frozen=True)
class AggregatedFlowRecord(FlowRecord):
    """A record the Flow Aggregator exports in Aggregate mode: both sides' metadata, plus the
    per-Node counters (IEs 120-135), throughput in bits/s (145-150), each Node's last
    ``flowEndSeconds`` (151-152) and, with ``recordContents.podLabels``, the Pods' labels as
    JSON (143-144)."""

    packet_total_count_from_source_node: int = 0
    octet_total_count_from_source_node: int = 0
    packet_delta_count_from_source_node: int = 0
    octet_delta_count_from_source_node: int = 0
    reverse_packet_total_count_from_source_node: int = 0
    reverse_octet_total_count_from_source_node: int = 0
    reverse_packet_delta_count_from_source_node: int = 0
    reverse_octet_delta_count_from_source_node: int = 0
    packet_total_count_from_destination_node: int = 0
    octet_total_count_from_destination_node: int = 0
    packet_delta_count_from_destination_node: int = 0
    octet_delta_count_from_destination_node: int = 0
    reverse_packet_total_count_from_destination_node: int = 0
    reverse_octet_total_count_from_destination_node: int = 0
    reverse_packet_delta_count_from_destination_node: int = 0
    reverse_octet_delta_count_from_destination_node: int = 0
    source_pod_labels: str = ""
    destination_pod_labels: str = ""
    throughput: int = 0
    reverse_throughput: int = 0
    throughput_from_source_node: int = 0
    throughput_from_destination_node: int = 0
    reverse_throughput_from_source_node: int = 0
    reverse_throughput_from_destination_node: int = 0
    flow_end_seconds_from_source_node: int = 0
    flow_end_seconds_from_destination_node: int = 0


@dataclass(frozen=True)
class ExportedRecord:
    """A record as it left an agent: which Node exported it, and when (seconds since the epoch)."""

    exporter: str
    export_time_s: float
    record: FlowRecord


# --------------------------------------------------------------------------------------------
# Names: attribute <-> IE <-> DataFrame column


def camel(name: str) -> str:
    """``source_pod_name`` -> ``sourcePodName``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


# Version-agnostic address attributes -> (IPv4 IE, IPv6 IE, DataFrame column).
_ADDRESSES: dict[str, tuple[str, str, str]] = {
    "source_ip": ("sourceIPv4Address", "sourceIPv6Address", "sourceIP"),
    "destination_ip": ("destinationIPv4Address", "destinationIPv6Address", "destinationIP"),
    "destination_cluster_ip": ("destinationClusterIPv4", "destinationClusterIPv6",
                               "destinationClusterIP"),
}
# Antrea v2.7 deprecated destinationClusterIPv4/v6 (106/107) for destinationServiceIPv4/v6
# (168/169); labkit sends both with the same value so collectors of either era read it.
_SERVICE_IP_IES = ("destinationServiceIPv4", "destinationServiceIPv6")
_FLOW_FIELDS = tuple(f.name for f in fields(FlowRecord))
_AGGREGATED_FIELDS = tuple(f.name for f in fields(AggregatedFlowRecord) if f.name not in _FLOW_FIELDS)
_INT_FIELDS = frozenset(f.name for f in fields(AggregatedFlowRecord) if f.type in ("int", int))
AGGREGATED_ATTRIBUTES = frozenset(_AGGREGATED_FIELDS)  # what only aggregated records have


def column(attribute: str) -> str:
    """The DataFrame column (and, addresses aside, the IE name) of a record attribute."""
    return _ADDRESSES[attribute][2] if attribute in _ADDRESSES else camel(attribute)


FLOW_COLUMNS: tuple[str, ...] = tuple(column(a) for a in _FLOW_FIELDS)
AGGREGATED_COLUMNS: tuple[str, ...] = tuple(column(a) for a in _AGGREGATED_FIELDS)
DERIVED_COLUMNS: tuple[str, ...] = ("source", "destination", "verdict")


def _ie_names(attribute: str, ipv6: bool) -> list[str]:
    if attribute in _ADDRESSES:
        names = [_ADDRESSES[attribute][1 if ipv6 else 0]]
        if attribute == "destination_cluster_ip":
            names.append(_SERVICE_IP_IES[1 if ipv6 else 0])
        return names
    return [camel(attribute)]


# Precomputed (attribute, IE names) per IP family and record kind: conversions run per record.
_TO_IPFIX = {(ipv6, aggregated): tuple((a, tuple(_ie_names(a, ipv6)))
                                       for a in _FLOW_FIELDS + (_AGGREGATED_FIELDS if aggregated else ()))
             for ipv6 in (False, True) for aggregated in (False, True)}

# How record_from_ipfix reads IPFIX values; the batch decoder (frames.py) applies the same rules
# to whole columns. VALUE_IES: (attribute, IE name, is an integer) of every non-address
# attribute; ADDRESS_IES: (attribute, IEs that may carry it, the first non-empty one wins);
# AGGREGATED_IES: any of these in a record makes it an AggregatedFlowRecord.
VALUE_IES = tuple((a, camel(a), a in _INT_FIELDS) for a in _FLOW_FIELDS + _AGGREGATED_FIELDS
                  if a not in _ADDRESSES)
AGGREGATED_IES = tuple(camel(a) for a in _AGGREGATED_FIELDS)
ADDRESS_IES = tuple((a, (v4, v6) + (_SERVICE_IP_IES if a == "destination_cluster_ip" else ()))
                    for a, (v4, v6, _) in _ADDRESSES.items())
_UNSPECIFIED = frozenset({"0.0.0.0", "::"})


def _to_ipfix(record: FlowRecord) -> dict[str, Any]:
    ipv6 = ":" in record.source_ip
    out: dict[str, Any] = {}
    values = record.__dict__
    for attribute, ies in _TO_IPFIX[(ipv6, isinstance(record, AggregatedFlowRecord))]:
        value = values[attribute]
        if not value and attribute in _ADDRESSES:
            value = "::" if ipv6 else "0.0.0.0"  # Antrea sends the unspecified address: no Service
        for ie in ies:
            out[ie] = value
    return out


def address_text(raw: Any) -> str:
    """A decoded address IE as a record holds it: text, "" when missing, unspecified
    (0.0.0.0 or ::, Antrea's "no Service") or of a length its type cannot have."""
    if raw is None or isinstance(raw, bytes):  # missing, or a length its type cannot have
        return ""
    if isinstance(raw, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return "" if raw.is_unspecified else str(raw)
    text = str(raw)
    return "" if text in _UNSPECIFIED else text


def record_from_ipfix(values: Mapping[str, Any]) -> FlowRecord:
    """A :class:`FlowRecord` (or :class:`AggregatedFlowRecord` when any aggregator IE is there)
    from ``{IE name: value}``, e.g. a :class:`~labkit.flows.ipfix.DecodedRecord`.

    IEs that are missing take their zero value; IEs labkit does not model are ignored. Raises
    :class:`IPFIXError` when the 5-tuple is incomplete."""
    kwargs: dict[str, Any] = {}
    for attribute, candidates in ADDRESS_IES:
        value = ""
        for ie in candidates:
            value = address_text(values.get(ie))
            if value:
                break
        kwargs[attribute] = value
    aggregated = any(ie in values for ie in AGGREGATED_IES)
    for attribute, ie, is_int in VALUE_IES:
        if not aggregated and attribute in AGGREGATED_ATTRIBUTES:
            continue
        raw = values.get(ie)
        if raw is None or isinstance(raw, bytes):
            kwargs[attribute] = 0 if is_int else ""
        else:
            kwargs[attribute] = int(raw) if is_int else raw
    if not kwargs["source_ip"] or not kwargs["destination_ip"] or "protocolIdentifier" not in values:
        raise IPFIXError("the record has no complete 5-tuple (addresses, ports, protocol)",
                         where="flow record", hint="export sourceIPv4Address/sourceIPv6Address, "
                         "destination*Address, *TransportPort and protocolIdentifier")
    return (AggregatedFlowRecord if aggregated else FlowRecord)(**kwargs)


# --------------------------------------------------------------------------------------------
# Templates, as Antrea's exporters lay them out: IANA IEs, RFC 5103 reverse IEs, Antrea IEs
# (pkg/agent/flowexporter/exporter: IANAInfoElements, IANAReverseInfoElements,
# AntreaInfoElements). Strings are variable length.

AGENT_TEMPLATE_ID_IPV4 = 256
AGENT_TEMPLATE_ID_IPV6 = 257


def _template_attributes(aggregated: bool) -> tuple[str, ...]:
    return _FLOW_FIELDS + (_AGGREGATED_FIELDS if aggregated else ())


def flow_record_template(template_id: int | None = None, *, ipv6: bool = False,
                         aggregated: bool = False) -> Template:
    """The Template for :meth:`FlowRecord.to_ipfix` (``aggregated``: the Flow Aggregator's,
    with IEs 120-152). Ids default to 256 (IPv4) and 257 (IPv6), one template per IP family
    as Antrea uses."""
    if template_id is None:
        template_id = AGENT_TEMPLATE_ID_IPV6 if ipv6 else AGENT_TEMPLATE_ID_IPV4
    names = [ie for attribute in _template_attributes(aggregated) for ie in _ie_names(attribute, ipv6)]
    return Template.from_names(template_id, names)


def labels_json(labels: Mapping[str, str] | None) -> str:
    """Pod labels as the Flow Aggregator puts them in ``sourcePodLabels``: a JSON object."""
    return json.dumps(dict(sorted((labels or {}).items())), separators=(",", ":")) if labels is not None else ""


# --------------------------------------------------------------------------------------------
# DataFrames


def records_to_frame(records: Iterable[FlowRecord], *, datetimes: bool = True) -> "pd.DataFrame":
    """One row per record, columns named as the IPFIX IEs (addresses as ``sourceIP``,
    ``destinationIP``, ``destinationClusterIP``), the aggregator's columns when any record is
    aggregated, then ``source`` and ``destination`` (``ns/pod``) and ``verdict``.

    ``datetimes``: ``flowStartSeconds``/``flowEndSeconds`` (and the per-Node end times) as
    UTC timestamps rather than epoch seconds."""
    import pandas as pd

    records = list(records)
    aggregated = any(isinstance(r, AggregatedFlowRecord) for r in records)
    attributes = _FLOW_FIELDS + (_AGGREGATED_FIELDS if aggregated else ())
    data: dict[str, list[Any]] = {}
    for attribute in attributes:
        default = 0 if attribute in _INT_FIELDS else ""
        data[column(attribute)] = [getattr(r, attribute, default) for r in records]
    data["source"] = [r.source for r in records]
    data["destination"] = [r.destination for r in records]
    data["verdict"] = [r.verdict for r in records]
    frame = pd.DataFrame(data, columns=list(data))
    for attribute in attributes:
        if attribute in _INT_FIELDS:
            frame[column(attribute)] = frame[column(attribute)].astype("int64")
    if datetimes:
        for name in ("flowStartSeconds", "flowEndSeconds", "flowEndSecondsFromSourceNode",
                     "flowEndSecondsFromDestinationNode"):
            if name in frame:
                frame[name] = pd.to_datetime(frame[name], unit="s", utc=True)
    return frame


__all__ = [
    "ADDRESS_IES",
    "AGENT_TEMPLATE_ID_IPV4",
    "AGENT_TEMPLATE_ID_IPV6",
    "AGGREGATED_ATTRIBUTES",
    "AGGREGATED_COLUMNS",
    "AGGREGATED_IES",
    "AggregatedFlowRecord",
    "DERIVED_COLUMNS",
    "ExportedRecord",
    "FLOW_COLUMNS",
    "FlowEndReason",
    "FlowKey",
    "FlowRecord",
    "FlowType",
    "PROTOCOL_NAMES",
    "PROTOCOL_NUMBERS",
    "PolicyType",
    "RuleAction",
    "VALUE_IES",
    "address_text",
    "camel",
    "column",
    "flow_record_template",
    "labels_json",
    "record_from_ipfix",
    "records_to_frame",
]
