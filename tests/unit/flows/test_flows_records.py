"""FlowRecord <-> IPFIX IEs (Antrea 56506), templates, DataFrames, and the agents' IPFIX export
through a real IPFIXExporter -> IPFIXCollector on loopback (UDP and TCP)."""

from __future__ import annotations

import dataclasses

import pytest

from labkit.flows.exporter import FlowExporter, export_records, observation_domain_id
from labkit.flows.ies import ANTREA_PEN, DEFAULT_REGISTRY, IPFIXError
from labkit.flows.records import (
    AGGREGATED_COLUMNS,
    FLOW_COLUMNS,
    AggregatedFlowRecord,
    ExportedRecord,
    FlowRecord,
    camel,
    flow_record_template,
    record_from_ipfix,
    records_to_frame,
)
from labkit.flows.transport import IPFIXCollector

SOURCE_NODE = FlowRecord(
    "10.244.1.2", "10.244.2.3", 40001, 8080, 6, flow_start_seconds=1_767_225_600,
    flow_end_seconds=1_767_225_605, flow_end_reason=3, packet_total_count=8, octet_total_count=816,
    packet_delta_count=8, octet_delta_count=816, reverse_packet_total_count=8, reverse_octet_total_count=6416,
    reverse_packet_delta_count=8, reverse_octet_delta_count=6416, source_pod_name="web-1",
    source_pod_namespace="frontend", source_node_name="kind-worker", destination_cluster_ip="10.96.0.2",
    destination_service_port=8080, destination_service_port_name="backend/api:http",
    egress_network_policy_name="allow-egress", egress_network_policy_namespace="frontend",
    egress_network_policy_type=2, egress_network_policy_rule_name="to-api", egress_network_policy_rule_action=1,
    tcp_state="TIME_WAIT", flow_type=2)
DESTINATION_NODE = dataclasses.replace(
    SOURCE_NODE, source_pod_name="", source_pod_namespace="", source_node_name="", destination_cluster_ip="",
    destination_service_port=0, destination_service_port_name="", egress_network_policy_name="",
    egress_network_policy_namespace="", egress_network_policy_type=0, egress_network_policy_rule_name="",
    egress_network_policy_rule_action=0, destination_pod_name="api-1", destination_pod_namespace="backend",
    destination_node_name="kind-worker2", ingress_network_policy_name="api-from-web",
    ingress_network_policy_namespace="backend", ingress_network_policy_type=1, ingress_network_policy_rule_action=1)
IPV6 = dataclasses.replace(SOURCE_NODE, source_ip="fd00:10:244:1::2", destination_ip="fd00:10:244:2::3",
                           destination_cluster_ip="fd00:10:96::2")


def test_attributes_are_the_snake_case_of_antrea_ies():
    template = flow_record_template(aggregated=True)
    for field in template.fields:
        assert field.ie is DEFAULT_REGISTRY.by_name(field.name), field.name  # every IE is a registry IE
    antrea = {f.name for f in template.fields if f.ie.enterprise_id == ANTREA_PEN}
    assert {"sourcePodName", "destinationServicePortName", "ingressNetworkPolicyRuleAction",
            "egressNetworkPolicyType", "tcpState", "flowType", "packetTotalCountFromSourceNode",
            "reverseOctetDeltaCountFromDestinationNode", "throughput", "reverseThroughputFromDestinationNode",
            "flowEndSecondsFromSourceNode", "sourcePodLabels"} <= antrea
    ids = {f.name: f.ie.element_id for f in template.fields if f.ie.enterprise_id == ANTREA_PEN}
    assert [ids[camel(a)] for a in ("packet_total_count_from_source_node",
                                    "reverse_octet_delta_count_from_destination_node")] == [120, 135]
    assert ids["throughput"] == 145 and ids["reverseThroughputFromDestinationNode"] == 150
    assert "sourceIP" in FLOW_COLUMNS and "destinationClusterIP" in FLOW_COLUMNS
    assert "throughputFromSourceNode" in AGGREGATED_COLUMNS


def test_templates_per_ip_family():
    assert flow_record_template().template_id == 256 and flow_record_template(ipv6=True).template_id == 257
    assert "sourceIPv6Address" in flow_record_template(ipv6=True).names
    v4 = flow_record_template().names
    # Antrea v2.7 deprecated destinationClusterIPv4 for destinationServiceIPv4: both are sent.
    assert "destinationClusterIPv4" in v4 and "destinationServiceIPv4" in v4
    assert len(flow_record_template(aggregated=True).fields) > len(flow_record_template().fields)


@pytest.mark.parametrize("record", [SOURCE_NODE, DESTINATION_NODE, IPV6], ids=["source", "destination", "ipv6"])
def test_record_to_ipfix_and_back(record):
    values = record.to_ipfix()
    assert record_from_ipfix(values) == record
    if record is DESTINATION_NODE:
        assert values["destinationClusterIPv4"] == "0.0.0.0"  # no Service: the unspecified address


def test_aggregated_record_round_trip_and_unknown_ies_ignored():
    agg = AggregatedFlowRecord(**{**SOURCE_NODE.__dict__, **DESTINATION_NODE.__dict__,
                                  "source_pod_name": "web-1", "throughput": 1305,
                                  "octet_total_count_from_source_node": 816, "source_pod_labels": '{"app":"web"}'})
    values = {**agg.to_ipfix(), "egressName": "ignored", "clusterId": "x"}
    back = record_from_ipfix(values)
    assert isinstance(back, AggregatedFlowRecord) and back == agg


def test_incomplete_five_tuple_is_an_error():
    values = SOURCE_NODE.to_ipfix()
    del values["protocolIdentifier"]
    with pytest.raises(IPFIXError, match="5-tuple"):
        record_from_ipfix(values)


def test_verdict_and_names():
    assert SOURCE_NODE.verdict == "allow" and SOURCE_NODE.source == "frontend/web-1"
    assert SOURCE_NODE.destination == "10.244.2.3"  # the source Node does not know the remote Pod
    assert dataclasses.replace(SOURCE_NODE, ingress_network_policy_rule_action=2).verdict == "drop"
    assert dataclasses.replace(SOURCE_NODE, egress_network_policy_rule_action=3).verdict == "reject"
    assert str(SOURCE_NODE.key) == "TCP 10.244.1.2:40001 -> 10.244.2.3:8080"


def test_frame_columns_and_types():
    frame = records_to_frame([SOURCE_NODE, DESTINATION_NODE])
    assert list(frame.columns[:5]) == ["sourceIP", "destinationIP", "sourceTransportPort",
                                       "destinationTransportPort", "protocolIdentifier"]
    assert list(frame.columns[-3:]) == ["source", "destination", "verdict"]
    assert str(frame.flowStartSeconds.dt.tz) == "UTC"
    assert frame.octetTotalCount.dtype == "int64"
    assert frame[frame.ingressNetworkPolicyName == "api-from-web"].destination.tolist() == ["backend/api-1"]
    empty = records_to_frame([])
    assert len(empty) == 0 and "ingressNetworkPolicyRuleAction" in empty
    agg = records_to_frame([AggregatedFlowRecord(**SOURCE_NODE.__dict__)])
    assert "throughputFromSourceNode" in agg.columns


def test_observation_domain_id_is_fnv1_of_the_node_name():
    # Go's hash/fnv New32 (FNV-1), as Antrea's genObservationID: known test vectors.
    assert observation_domain_id("") == 0x811C9DC5
    assert observation_domain_id("a") == 0x050C5D7E
    assert observation_domain_id("foobar") == 0x31F0B262


@pytest.mark.parametrize("protocol", ["udp", "tcp"])
def test_flow_records_over_ipfix_on_loopback(protocol):
    records = [dataclasses.replace(SOURCE_NODE, source_transport_port=40000 + i) for i in range(40)]
    records += [DESTINATION_NODE, IPV6]
    with IPFIXCollector(protocol=protocol) as collector:
        with FlowExporter("kind-worker", *collector.address, protocol=protocol) as exporter:
            exporter.export(records)
        decoded = collector.wait_for(len(records), timeout_s=5)
    assert [record_from_ipfix(r) for r in decoded] == records
    assert {r.observation_domain_id for r in decoded} == {observation_domain_id("kind-worker")}
    assert {r.template_id for r in decoded} == {256, 257}


def test_export_records_uses_one_exporter_per_node():
    exports = [ExportedRecord("kind-worker", 5.0, SOURCE_NODE), ExportedRecord("kind-worker2", 5.0, DESTINATION_NODE),
               ExportedRecord("kind-worker", 10.0, dataclasses.replace(SOURCE_NODE, source_transport_port=1))]
    with IPFIXCollector(protocol="tcp") as collector:
        sent = export_records(exports, *collector.address, protocol="tcp")
        decoded = collector.wait_for(3, timeout_s=5)
    assert sent == {"kind-worker": 2, "kind-worker2": 1}
    domains = {record_from_ipfix(r).source_transport_port: r.observation_domain_id for r in decoded}
    assert domains[40001] in (observation_domain_id("kind-worker"), observation_domain_id("kind-worker2"))
    assert domains[1] == observation_domain_id("kind-worker")


def test_public_names_exist():
    import importlib

    for name in ("records", "traffic", "aggregator", "recommend", "summary", "exporter"):
        module = importlib.import_module(f"labkit.flows.{name}")
        assert all(hasattr(module, n) for n in module.__all__), name
    widgets = importlib.import_module("labkit.widgets.flows")
    assert all(hasattr(widgets, n) for n in widgets.__all__)
