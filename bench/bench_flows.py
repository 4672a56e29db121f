"""Benchmark: flow records through IPFIX on loopback, and the Flow Aggregator.

Prints figures; asserts nothing about time. What is measured:

* encode: FlowRecord -> IPFIX messages (the agent's template: 38 IEs, strings variable-length);
* decode: messages -> DecodedRecord -> FlowRecord;
* loopback: FlowExporter -> IPFIXCollector over UDP (paced by batches, losses reported) and TCP,
  wall time from the first send to the last record decoded;
* aggregation: per-Node records of a sim run (both Nodes of every inter-Node flow) through
  FlowAggregator.replay, correlation and expiry included; and the synthesis of those records.

    .venv/bin/python bench/bench_flows.py              # 20,000 records
    .venv/bin/python bench/bench_flows.py --records 5000
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labkit import Lab  # noqa: E402
from labkit.flows.exporter import FlowExporter  # noqa: E402
from labkit.flows.ipfix import Decoder, encode_messages  # noqa: E402
from labkit.flows.records import FlowRecord, flow_record_template, record_from_ipfix  # noqa: E402
from labkit.flows.traffic import SHOP_TRAFFIC, TrafficProfile, generate_traffic  # noqa: E402
from labkit.flows.transport import IPFIXCollector  # noqa: E402

SAMPLE = FlowRecord(
    "10.244.1.2", "10.244.2.3", 40000, 8080, 6, flow_start_seconds=1_767_225_600, flow_end_seconds=1_767_225_605,
    flow_end_reason=3, packet_total_count=8, octet_total_count=816, packet_delta_count=8, octet_delta_count=816,
    reverse_packet_total_count=8, reverse_octet_total_count=6416, reverse_packet_delta_count=8,
    reverse_octet_delta_count=6416, source_pod_name="web-z7x94qhlsx-hqj7z", source_pod_namespace="frontend",
    source_node_name="kind-worker", destination_cluster_ip="10.96.0.2", destination_service_port=8080,
    destination_service_port_name="backend/api:http", egress_network_policy_name="recommend-allow-anp-web-2857a",
    egress_network_policy_namespace="frontend", egress_network_policy_type=2,
    egress_network_policy_rule_name="to-backend-api-0cee0", egress_network_policy_rule_action=1,
    tcp_state="TIME_WAIT", flow_type=2)


def records(n: int) -> list[FlowRecord]:
    return [dataclasses.replace(SAMPLE, source_transport_port=32768 + i % 28000,
                                source_ip=f"10.244.1.{2 + i // 28000}") for i in range(n)]


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f} records/s ({count:,} in {seconds:.3f} s)"


def bench_codec(n: int) -> None:
    batch = records(n)
    template = flow_record_template()
    t0 = time.perf_counter()
    values = [r.to_ipfix() for r in batch]
    messages = encode_messages(1, [template], values, max_message_size=1400)
    t_encode = time.perf_counter() - t0
    t0 = time.perf_counter()
    decoder = Decoder()
    decoded = [record_from_ipfix(r) for m in messages for r in decoder.feed(m, "bench")]
    t_decode = time.perf_counter() - t0
    assert decoded == batch
    size = sum(map(len, messages))
    print(f"codec: {n:,} agent records in {len(messages):,} messages of <= 1400 octets, "
          f"{size / n:.0f} octets/record on the wire")
    print(f"  encode (FlowRecord -> IPFIX): {rate(n, t_encode)}")
    print(f"  decode (IPFIX -> FlowRecord): {rate(n, t_decode)}")


def bench_loopback(n: int, protocol: str, batch_size: int = 100) -> None:
    batch = records(n)
    with IPFIXCollector(protocol=protocol, max_records=None) as collector:
        with FlowExporter("kind-worker", *collector.address, protocol=protocol) as exporter:
            t0 = time.perf_counter()
            for start in range(0, n, batch_size):
                exporter.export(batch[start:start + batch_size])
                if protocol == "udp":  # pace UDP: a burst larger than the socket buffer is lost
                    try:
                        collector.wait_for(start + batch_size if start + batch_size < n else n, timeout_s=2)
                    except Exception:  # noqa: BLE001 - lost datagrams: report below
                        break
            try:
                got = collector.wait_for(n, timeout_s=10)
            except Exception:  # noqa: BLE001
                got = collector.records()
            elapsed = time.perf_counter() - t0
        lost = n - len(got)
    print(f"loopback {protocol.upper()}: encode -> {protocol} -> decode: {rate(len(got), elapsed)}"
          + (f", {lost:,} lost" if lost else ", none lost"))


def bench_aggregation(scale: float, duration_s: float, repeats: int = 3) -> None:
    lab = Lab(profile="shop", name="bench-flows")
    lab.apply("notebooks/policies/04-baseline-deny.yaml")
    lab.apply("notebooks/policies/04-web-to-api.yaml")
    profile = TrafficProfile("shop-x", tuple(dataclasses.replace(r, connections_per_minute=r.connections_per_minute * scale)
                                             for r in SHOP_TRAFFIC.rules))
    t0 = time.perf_counter()
    run = generate_traffic(lab, profile, duration_s=duration_s, seed=1)
    t_generate = time.perf_counter() - t0
    n = len(run.exports)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        agg = run.aggregate()
        times.append(time.perf_counter() - t0)
    lab.stop()
    inter = sum(1 for e in run.exports if e.record.flow_type == 2)
    print(f"sim traffic: {len(run.connections):,} connections over {duration_s:.0f} s -> {n:,} per-Node records "
          f"({inter:,} inter-Node), synthesized at {rate(n, t_generate)}")
    print(f"aggregation (correlate + expire, replay): median {rate(n, statistics.median(times))}; "
          f"{agg.records_exported:,} records exported, {agg.records_dropped} dropped")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000, help="records for the codec and loopback runs")
    parser.add_argument("--scale", type=float, default=40.0, help="multiplier of the shop's connection rates")
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of simulated traffic")
    args = parser.parse_args(argv)
    bench_codec(args.records)
    bench_loopback(args.records, "udp")
    bench_loopback(args.records, "tcp")
    bench_aggregation(args.scale, args.duration)


if __name__ == "__main__":
    main()
