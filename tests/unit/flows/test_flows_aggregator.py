"""The Flow Aggregator (Aggregate mode): correlation, per-Node counters, throughput, timeouts,
Pod metadata for uncorrelated flows, re-export over IPFIX, and the IPFIX-fed service."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest

from labkit import Lab
from labkit.flows import summary
from labkit.flows.aggregator import (
    AggregatorService,
    FlowAggregator,
    ManualClock,
    PodInfo,
    correlation_required,
    pods_by_ip,
)
from labkit.flows.exporter import export_records
from labkit.flows.records import AggregatedFlowRecord, FlowRecord, record_from_ipfix
from labkit.flows.traffic import SHOP_TRAFFIC
from labkit.flows.transport import IPFIXCollector

T0 = 1_767_225_600
BASE = dict(source_ip="10.244.1.2", destination_ip="10.244.2.3", source_transport_port=40001,
            destination_transport_port=8080, protocol_identifier=6, flow_start_seconds=T0, flow_end_seconds=T0 + 5,
            flow_end_reason=3, packet_total_count=8, octet_total_count=800, packet_delta_count=8,
            octet_delta_count=800, reverse_packet_total_count=6, reverse_octet_total_count=6000,
            reverse_packet_delta_count=6, reverse_octet_delta_count=6000, tcp_state="TIME_WAIT", flow_type=2)
SRC = FlowRecord(**BASE, source_pod_name="web-1", source_pod_namespace="frontend", source_node_name="kind-worker",
                 destination_cluster_ip="10.96.0.2", destination_service_port=8080,
                 destination_service_port_name="backend/api:http", egress_network_policy_name="web-out",
                 egress_network_policy_namespace="frontend", egress_network_policy_type=2,
                 egress_network_policy_rule_name="to-api", egress_network_policy_rule_action=1)
DST = FlowRecord(**BASE, destination_pod_name="api-1", destination_pod_namespace="backend",
                 destination_node_name="kind-worker2", ingress_network_policy_name="api-in",
                 ingress_network_policy_namespace="backend", ingress_network_policy_type=1,
                 ingress_network_policy_rule_action=1)
PODS = {"10.244.1.2": PodInfo("web-1", "frontend", "kind-worker", {"app": "web"}),
        "10.244.2.3": PodInfo("api-1", "backend", "kind-worker2", {"app": "api"})}


def aggregator(**options) -> tuple[FlowAggregator, ManualClock]:
    clock = ManualClock(T0 + 5)
    return FlowAggregator(clock=clock, pods=PODS, **options), clock


@pytest.mark.parametrize("order", ["source first", "destination first"])
def test_inter_node_records_are_correlated_into_one(order):
    agg, clock = aggregator()
    for r in ([SRC, DST] if order == "source first" else [DST, SRC]):
        agg.add(r)
    assert agg.num_flows == 1
    assert agg.advance_to(T0 + 5 + 59) == []  # nothing before activeFlowRecordTimeout
    out, = agg.advance_to(T0 + 5 + 60)
    assert isinstance(out, AggregatedFlowRecord)
    assert (out.source_pod_name, out.destination_pod_name, out.source_node_name, out.destination_node_name) == (
        "web-1", "api-1", "kind-worker", "kind-worker2")
    assert out.destination_service_port_name == "backend/api:http" and out.destination_cluster_ip == "10.96.0.2"
    assert (out.egress_network_policy_name, out.ingress_network_policy_name) == ("web-out", "api-in")
    assert out.octet_total_count_from_source_node == out.octet_total_count_from_destination_node == 800
    assert out.reverse_packet_total_count_from_destination_node == 6
    assert out.octet_total_count == 800 and out.flow_end_seconds_from_source_node == T0 + 5
    assert out.throughput == 800 * 8 // 5 and out.reverse_throughput == 6000 * 8 // 5  # bits/s
    assert out.throughput_from_source_node == out.throughput_from_destination_node == out.throughput


def test_active_and_inactive_timeouts_and_delta_reset():
    agg, clock = aggregator()
    agg.add(SRC)
    agg.add(DST)
    first, = agg.advance_to(T0 + 65)  # active timeout
    assert first.octet_delta_count_from_source_node == 800
    clock.set(T0 + 70)  # the flow goes on: both Nodes export again
    later = dict(flow_end_seconds=T0 + 70, octet_total_count=2800, octet_delta_count=2000, packet_total_count=20,
                 packet_delta_count=12, flow_end_reason=2)
    agg.add(dataclasses.replace(SRC, **later))
    agg.add(dataclasses.replace(DST, **later))
    second, = agg.advance_to(T0 + 125)  # next active timeout
    assert second.octet_total_count == 2800 and second.octet_delta_count_from_source_node == 2000
    assert second.octet_delta_count == 2000  # the latest Node's delta since the last export
    assert second.throughput_from_source_node == 2000 * 8 // 65  # bytes since its last record / seconds
    assert agg.num_flows == 1
    third, = agg.advance_to(T0 + 160)  # 90 s after the last record: exported a last time, forgotten
    assert third.octet_delta_count_from_source_node == 0 and third.throughput == 0
    assert agg.num_flows == 0 and agg.advance_to(T0 + 10_000) == []
    assert agg.metrics() == {"numRecordsExported": 3, "numRecordsReceived": 4, "numFlows": 0,
                             "numRecordsDropped": 0}


def test_uncorrelated_flow_waits_two_more_periods_then_is_dropped():
    agg, clock = aggregator()
    agg.add(SRC)  # the destination Node never reports
    assert correlation_required(SRC)
    assert agg.advance_to(T0 + 5 + 10_000) == []
    assert agg.records_dropped == 1 and agg.num_flows == 0
    agg2, clock2 = aggregator()
    agg2.add(SRC)
    agg2.advance_to(T0 + 5 + 120)  # after two expiry periods it still waits
    assert agg2.num_flows == 1
    clock2.set(T0 + 5 + 150)
    agg2.add(DST)  # correlation arrives late: exported at the next expiry
    assert len(agg2.advance_to(T0 + 5 + 180)) == 1


def test_egress_denied_flow_needs_no_correlation_and_gets_pod_metadata():
    denied = dataclasses.replace(SRC, egress_network_policy_rule_action=2, reverse_packet_total_count=0,
                                 reverse_octet_total_count=0)
    assert not correlation_required(denied)
    agg, _ = aggregator(include_pod_labels=True)
    agg.add(denied)
    out, = agg.advance_to(T0 + 65)
    # fillK8sMetadata: the aggregator's own Pod store names the destination the agent could not.
    assert (out.destination_pod_name, out.destination_pod_namespace, out.destination_node_name) == (
        "api-1", "backend", "kind-worker2")
    assert out.verdict == "drop" and out.source_pod_labels == '{"app":"web"}'
    assert out.destination_pod_labels == '{"app":"api"}'


def test_rejected_at_ingress_follows_antreas_correlation_rule():
    rejected = dataclasses.replace(DST, ingress_network_policy_rule_action=3)
    assert not correlation_required(rejected)
    # Destination first: ready at once, exported with the Reject and (from the Pod store) the source.
    agg, _ = aggregator()
    agg.add(rejected)
    agg.add(SRC)
    out, = agg.advance_to(T0 + 65)
    assert out.verdict == "reject" and out.source_pod_name == "web-1"
    # Source first: the entry waits for a correlation that the Reject record never performs
    # (Antrea's aggregateRecords without correlateRecords), and is dropped after MaxRetries.
    agg, _ = aggregator()
    agg.add(SRC)
    agg.add(rejected)
    assert agg.advance_to(T0 + 10_000) == [] and agg.records_dropped == 1


def test_intra_node_flow_fills_both_node_counters():
    intra = FlowRecord(**{**BASE, "flow_type": 1}, source_pod_name="a", destination_pod_name="b")
    agg, _ = aggregator()
    agg.add(intra)
    out, = agg.advance_to(T0 + 65)
    assert out.packet_total_count_from_source_node == out.packet_total_count_from_destination_node == 8


def test_antctl_like_views():
    agg, _ = aggregator()
    agg.add(SRC)
    agg.add(dataclasses.replace(DST, source_transport_port=40002))
    assert len(agg.records()) == 2
    assert [r.source_transport_port for r in agg.records(source_transport_port=40002)] == [40002]
    assert agg.records(source_ip="10.0.0.9") == []


@pytest.mark.parametrize("protocol", ["udp", "tcp"])
def test_re_export_to_a_collector_over_ipfix(protocol):
    with IPFIXCollector(protocol=protocol) as collector:
        agg, _ = aggregator(collector=(*collector.address, protocol))
        with agg:
            agg.add(SRC)
            agg.add(DST)
            exported = agg.advance_to(T0 + 200)
        decoded = collector.wait_for(len(exported), timeout_s=5)
    assert [record_from_ipfix(r) for r in decoded] == exported
    assert {r.template_id for r in decoded} == {256}


@pytest.fixture(scope="module")
def shop_run():
    lab = Lab(profile="shop", name="flows-agg")
    lab.apply("notebooks/policies/04-baseline-deny.yaml")
    lab.apply("notebooks/policies/04-web-to-api.yaml")
    run = lab.generate_traffic(SHOP_TRAFFIC, duration_s=60, seed=5)
    yield lab, run
    lab.stop()


def test_replay_of_a_sim_run(shop_run):
    lab, run = shop_run
    agg = run.aggregate()
    flows = agg.flows()
    assert agg.num_flows == 0 and agg.records_received == len(run.exports)
    assert len(flows) == len(run.connections)  # every connection is one flow, none lost
    assert (flows.source.str.contains("/") & flows.destination.str.contains("/")).all()
    assert summary.edges(flows).equals(summary.edges(run.frame()))  # per-Node and aggregated views agree
    assert set(flows.verdict) == {"allow", "drop"}


@pytest.mark.parametrize("protocol", ["udp", "tcp"])
def test_service_receives_agents_over_ipfix(shop_run, protocol):
    lab, run = shop_run
    threads = set(threading.enumerate())
    clock = ManualClock(run.start_s)
    with AggregatorService(protocol=protocol, clock=clock, pods=pods_by_ip(lab.state.pods)) as service:
        export_records(run.exports, *service.address, protocol=protocol)
        service.wait_for(len(run.exports))
        service.aggregator.advance_to(float("inf"))
        assert service.errors == []
    assert set(threading.enumerate()) <= threads
    assert summary.edges(service.aggregator.frame()).equals(summary.edges(run.aggregate().frame()))


def test_service_export_loop_runs_on_the_wall_clock():
    with AggregatorService(protocol="udp", active_flow_record_timeout_s=0.2, inactive_flow_record_timeout_s=0.3,
                           export_loop_interval_s=0.05, pods=PODS) as service:
        export_records([_exported(SRC), _exported(DST)], *service.address)
        service.wait_for(2)
        deadline = time.monotonic() + 5
        while service.aggregator.num_flows and time.monotonic() < deadline:
            time.sleep(0.05)
    assert service.aggregator.num_flows == 0 and service.aggregator.records_exported >= 1


def _exported(record: FlowRecord):
    from labkit.flows.records import ExportedRecord

    node = record.source_node_name or record.destination_node_name
    return ExportedRecord(node, T0, record)


def test_options_are_checked():
    with pytest.raises(ValueError):
        FlowAggregator(active_flow_record_timeout_s=0)
    with pytest.raises(ValueError, match="either"):
        AggregatorService(FlowAggregator(), clock=ManualClock())
    with pytest.raises(ValueError, match="replay"):
        FlowAggregator(clock=time.time).replay([])
