"""Benchmark: flow records through IPFIX on loopback, and the Flow Aggregator.

Prints figures; asserts nothing about time. What is measured:

* encode: FlowRecord -> IPFIX messages (the agent's template: 38 IEs, strings variable-length);
* decode: messages -> DecodedRecord -> FlowRecord;
* loopback: FlowExporter -> IPFIXCollector over UDP (paced by batches, losses reported) and TCP,
  wall time from the first send to the last record decoded;
* aggregation: per-Node records of a sim run (both Nodes of every inter-Node flow) through
  FlowAggregator.replay, correlation and expiry included; and the synthesis of those records;
* decode to a DataFrame (issue 5's goal): N Antrea agent records (varied pods, policies, ports;
  1% with a 300-octet rule name, the 3-octet length form) encoded once into 64 KiB messages,
  then labkit's batch decoder (``Decoder.feed_frame``: records_to_frame's frame, string columns
  as pandas ``str`` and as Categoricals) against the PyPI ``ipfix`` package's decoder (records
  as name dicts) on the same bytes. numba's compile time is reported apart and excluded.

    .venv/bin/python bench/bench_flows.py              # 20,000 records
    .venv/bin/python bench/bench_flows.py --records 5000
    .venv/bin/python bench/bench_flows.py --decode-only --decode-records 1000000
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
from labkit.flows import fastdecode  # noqa: E402
from labkit.flows.ies import ANTREA_PEN, DEFAULT_REGISTRY  # noqa: E402
from labkit.flows.ipfix import Decoder, encode_messages  # noqa: E402
from labkit.flows.records import FlowRecord, flow_record_template, record_from_ipfix  # noqa: E402
from labkit.flows.traffic import SHOP_TRAFFIC, TrafficProfile  # noqa: E402
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


def antrea_records(n: int, seed: int = 1) -> list[FlowRecord]:
    """``n`` agent records as a busy cluster sends them: 40 namespaces, 2,000 Pods, 300
    policies (1% of rule names 300 octets long), IPv4, every counter different."""
    import random

    rng = random.Random(seed)
    namespaces = [f"team-{i:02d}" for i in range(40)]
    pods = [(rng.choice(namespaces), f"svc{i % 97}-{rng.getrandbits(40):010x}-{rng.getrandbits(20):05x}")
            for i in range(2000)]
    rules = [f"rule-{i}-" + ("x" * 300 if i % 100 == 0 else f"{rng.getrandbits(24):06x}") for i in range(300)]
    states = ["ESTABLISHED", "TIME_WAIT", "SYN_SENT", "CLOSE", ""]
    out = []
    for i in range(n):
        (sns, spod), (dns, dpod) = rng.choice(pods), rng.choice(pods)
        action = rng.choice((1, 1, 1, 2, 3))
        packets = rng.randrange(1, 10_000)
        out.append(FlowRecord(
            f"10.244.{i % 200}.{2 + i % 250}", f"10.244.{(i * 7) % 200}.{2 + (i * 3) % 250}",
            32768 + i % 28000, rng.choice((80, 443, 5432, 6379, 8080)), 6,
            flow_start_seconds=1_767_225_600 + i // 100, flow_end_seconds=1_767_225_605 + i // 100,
            flow_end_reason=rng.choice((1, 2, 3)), packet_total_count=packets, octet_total_count=packets * 700,
            packet_delta_count=packets // 2, octet_delta_count=packets * 350, reverse_packet_total_count=packets,
            reverse_octet_total_count=packets * 1400, reverse_packet_delta_count=packets // 2,
            reverse_octet_delta_count=packets * 700, source_pod_name=spod, source_pod_namespace=sns,
            source_node_name=f"kind-worker{i % 8}", destination_pod_name=dpod, destination_pod_namespace=dns,
            destination_node_name=f"kind-worker{(i + 3) % 8}", destination_cluster_ip=f"10.96.0.{i % 50}",
            destination_service_port=8080, destination_service_port_name=f"{dns}/{dpod.split('-')[0]}:http",
            ingress_network_policy_name=f"allow-{dns}", ingress_network_policy_namespace=dns,
            ingress_network_policy_type=2, ingress_network_policy_rule_name=rng.choice(rules),
            ingress_network_policy_rule_action=action, egress_network_policy_name=f"egress-{sns}",
            egress_network_policy_namespace=sns, egress_network_policy_type=3,
            egress_network_policy_rule_name=rng.choice(rules), egress_network_policy_rule_action=1,
            tcp_state=rng.choice(states), flow_type=rng.choice((1, 2))))
    return out


def encoded_stream(n: int, distinct: int = 20_000) -> tuple[bytes, int]:
    """IPFIX messages (64 KiB max) carrying ``n`` records: ``distinct`` records encoded once,
    their data messages repeated with running sequence numbers (labkit's encoder runs at
    ~10,000 records/s, so encoding 1,000,000 records one by one would take minutes). ``n`` is
    rounded up to whole copies.
    Returns the stream and how many leading octets hold the first ``distinct`` records."""
    import struct

    batch = antrea_records(min(n, distinct))
    messages = encode_messages(1, [flow_record_template()], [r.to_ipfix() for r in batch],
                               export_time=1_767_225_700)
    per = [(m, struct.unpack_from("!I", m, 8)[0]) for m in messages]
    out = bytearray()
    sequence, copies = 0, 0
    first_size = 0
    while sequence < n:
        for m, seq in per:
            if copies and seq == 0 and m is messages[0]:
                m = _without_template_set(m)
            chunk = bytearray(m)
            struct.pack_into("!I", chunk, 8, sequence + seq)
            out += chunk
        copies += 1
        sequence += len(batch)
        first_size = first_size or len(out)
    return bytes(out), first_size


def _without_template_set(message: bytes) -> bytes:
    import struct

    set_id, length = struct.unpack_from("!HH", message, 16)
    if set_id != 2:
        return message
    body = message[16 + length:]
    return struct.pack("!HHIII", 10, 16 + len(body), *struct.unpack_from("!III", message, 4)) + body


def python_ipfix_decode(stream: bytes, limit_octets: int) -> tuple[int, float]:
    """python-ipfix 0.9.7 (PyPI ``ipfix``) decoding the stream's first ``limit_octets`` to
    name dicts, Antrea's IEs taught to it as a collector configured for Antrea would be.
    Returns (records, seconds)."""
    import io

    import ipfix.ie
    import ipfix.message

    ipfix.ie.use_iana_default()
    ipfix.ie.use_5103_default()
    for ie in DEFAULT_REGISTRY:
        if ie.enterprise_id == ANTREA_PEN:
            ipfix.ie.for_spec(f"{ie.name}({ie.enterprise_id}/{ie.element_id})<{ie.data_type.name}>")
    buffer = ipfix.message.MessageBuffer()
    count = 0
    t0 = time.perf_counter()
    with io.BytesIO(stream[:limit_octets]) as f:
        while True:
            try:
                buffer.read_message(f)
            except EOFError:
                break
            for _ in buffer.namedict_iterator():
                count += 1
    return count, time.perf_counter() - t0


def bench_decode_frame(n: int, baseline_records: int = 20_000, repeats: int = 3) -> dict[str, float]:
    """labkit's batch decoder vs python-ipfix, same bytes, same run. Returns the figures."""
    t0 = time.perf_counter()
    distinct = min(n, baseline_records)
    stream, first = encoded_stream(n, distinct=distinct)
    n = -(-n // distinct) * distinct
    t_build = time.perf_counter() - t0
    compile_s = fastdecode.warm_up()
    print(f"decode to DataFrame: {n:,} Antrea agent records, {len(stream) / n:.0f} octets/record in "
          f"{len(stream) / 1e6:.1f} MB of 64 KiB messages (built in {t_build:.1f} s); "
          f"numba {'on' if fastdecode.HAVE_NUMBA else 'NOT installed (pure-Python walk)'}, "
          f"JIT compile or cache load {compile_s:.2f} s (excluded below)")
    figures: dict[str, float] = {"compile_s": compile_s}
    for strings in ("str", "category"):
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            frame = Decoder().feed_frame(stream, "bench", strings=strings)
            times.append(time.perf_counter() - t0)
        assert len(frame) == n, (len(frame), n)
        best = min(times)
        figures[f"labkit_{strings}"] = n / best
        print(f"  labkit feed_frame -> DataFrame (strings as {strings}): best of {repeats} "
              f"{rate(n, best)}, median {n / statistics.median(times):,.0f} records/s")
    try:
        runs = [python_ipfix_decode(stream, first) for _ in range(repeats)]
    except ImportError:
        print("  python-ipfix not installed: pip install ipfix==0.9.7 (labkit's test extra)")
        return figures
    count, seconds = min(runs, key=lambda run: run[1])
    figures["python_ipfix"] = count / seconds
    print(f"  python-ipfix 0.9.7 -> name dicts, first {count:,} records of the same bytes: best of "
          f"{repeats} {rate(count, seconds)}")
    for strings in ("str", "category"):
        print(f"  ratio labkit ({strings}) / python-ipfix, best vs best: "
              f"{figures[f'labkit_{strings}'] / figures['python_ipfix']:,.1f}x")
    return figures


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
    run = lab.generate_traffic(profile, duration_s=duration_s, seed=1)
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
    parser.add_argument("--decode-records", type=int, default=1_000_000, help="records for the DataFrame decode run")
    parser.add_argument("--decode-only", action="store_true", help="run only the DataFrame decode benchmark")
    args = parser.parse_args(argv)
    bench_decode_frame(args.decode_records)
    if args.decode_only:
        return
    bench_codec(args.records)
    bench_loopback(args.records, "udp")
    bench_loopback(args.records, "tcp")
    bench_aggregation(args.scale, args.duration)


if __name__ == "__main__":
    main()
