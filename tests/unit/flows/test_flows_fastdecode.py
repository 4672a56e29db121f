"""The batch decoder (labkit.flows.fastdecode) gives the frame the record path gives.

Reference everywhere: ``Decoder.feed`` per unit (as the collectors call it: a datagram, or one
message of a stream), records that raise skipped, then ``record_from_ipfix`` +
``records_to_frame`` (schema "flows") or one column per IE (schema "ies"). Each check runs with
the numba kernels and with the pure-Python ones. Runtime: ~10 s (hypothesis included).
"""

from __future__ import annotations

import dataclasses
import os
import random
import struct
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit.flows import fastdecode
from labkit.flows.ies import IPFIXError
from labkit.flows.ipfix import Decoder, Template, encode_message, encode_messages
from labkit.flows.records import (
    AggregatedFlowRecord,
    FlowRecord,
    flow_record_template,
    record_from_ipfix,
    records_to_frame,
)

KERNELS = [pytest.param(False, id="python")] + (
    [pytest.param(True, id="numba")] if fastdecode.HAVE_NUMBA else [])


def reference_flows(units: list[bytes], exporter=None) -> tuple[pd.DataFrame, Decoder, int]:
    decoder = Decoder()
    records, malformed = [], 0
    for unit in units:
        try:
            decoded = decoder.feed(unit, exporter)
        except IPFIXError:
            malformed += 1
            continue
        for r in decoded:
            if r.is_options:
                continue
            try:
                records.append(record_from_ipfix(r))
            except IPFIXError:
                pass
    return records_to_frame(records), decoder, malformed


def fast(units, compiled: bool, **options):
    decoder = Decoder()
    stats = fastdecode.FrameStats()
    frame = fastdecode.decode_frame(units, decoder, options.pop("exporter", None), stats=stats,
                                    kernels_=fastdecode.kernels(compiled), **options)
    return frame, decoder, stats


def random_record(rng: random.Random, ipv6: bool = False, aggregated: bool = False) -> FlowRecord:
    def text(long: bool = False) -> str:
        size = rng.choice([0, 1, 5, 30, 30, 30, 254, 255, 256, 300] if long else [0, 3, 12, 40])
        return "".join(rng.choice("abcdé-0Ω") for _ in range(size))

    ip = (lambda: f"fd00::{rng.randrange(1, 9999):x}") if ipv6 else (lambda: f"10.{rng.randrange(256)}.0.{rng.randrange(1, 255)}")
    cls = AggregatedFlowRecord if aggregated else FlowRecord
    extra = {"throughput": rng.randrange(1 << 40), "source_pod_labels": text(True),
             "flow_end_seconds_from_source_node": rng.randrange(1 << 31)} if aggregated else {}
    return cls(ip(), ip(), rng.randrange(65536), rng.randrange(65536), rng.choice((6, 17, 132)),
               flow_start_seconds=rng.randrange(1 << 32), flow_end_seconds=rng.randrange(1 << 32),
               packet_total_count=rng.randrange(1 << 63), reverse_octet_delta_count=rng.randrange(1 << 63),
               source_pod_name=text(True), source_pod_namespace=text(), destination_pod_name=text(),
               destination_cluster_ip=rng.choice(["", ip()]), destination_service_port_name=text(True),
               ingress_network_policy_rule_name=text(True), ingress_network_policy_rule_action=rng.randrange(4),
               egress_network_policy_rule_action=rng.randrange(4), tcp_state=rng.choice(["", "TIME_WAIT"]),
               flow_type=rng.randrange(5), **extra)


def mixed_units(seed: int, n: int = 300, max_size: int = 4000) -> tuple[list[bytes], list[FlowRecord]]:
    """Two domains, IPv4 + IPv6 + aggregator templates, records interleaved, UDP-sized messages."""
    rng = random.Random(seed)
    v4, v6, agg = flow_record_template(), flow_record_template(ipv6=True), flow_record_template(300, aggregated=True)
    records = []
    units: list[bytes] = []
    for domain in (1, 7):
        items = []
        for _ in range(n // 2):
            kind = rng.choice(("v4", "v6", "agg"))
            r = random_record(rng, ipv6=kind == "v6", aggregated=kind == "agg")
            records.append(r)
            items.append(({"v4": v4, "v6": v6, "agg": agg}[kind], r.to_ipfix()))
        units += encode_messages(domain, [v4, v6, agg], items, max_message_size=max_size, export_time=1)
    return units, records


@pytest.mark.parametrize("compiled", KERNELS)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_flow_frame_equals_the_record_path(compiled: bool, seed: int) -> None:
    units, records = mixed_units(seed)
    expected, ref_decoder, _ = reference_flows(units)
    assert len(expected) == len(records)
    for as_stream in (False, True):
        got, decoder, stats = fast(b"".join(units) if as_stream else units, compiled)
        pd.testing.assert_frame_equal(got, expected)
        assert (decoder.messages, decoder.unknown_sets, stats.malformed) == (ref_decoder.messages, 0, [])
        assert decoder.sequence_gaps == ref_decoder.sequence_gaps == []


@pytest.mark.parametrize("compiled", KERNELS)
def test_one_template_stream_as_the_benchmark_sends_it(compiled: bool) -> None:
    rng = random.Random(8)
    records = [random_record(rng) for _ in range(400)]
    stream = b"".join(encode_messages(5, [flow_record_template()], [r.to_ipfix() for r in records]))
    got, decoder, stats = fast(stream, compiled)
    expected, ref_decoder, _ = reference_flows([stream])
    pd.testing.assert_frame_equal(got, expected)
    assert stats.records == len(got) == 400 and decoder.messages == ref_decoder.messages


@pytest.mark.parametrize("compiled", KERNELS)
def test_categorical_strings_hold_the_same_values(compiled: bool) -> None:
    units, _ = mixed_units(4)
    got, _, _ = fast(units, compiled, strings="category")
    expected, _, _ = reference_flows(units)
    assert isinstance(got["sourcePodName"].dtype, pd.CategoricalDtype)
    pd.testing.assert_frame_equal(got.astype({c: expected[c].dtype for c in got}), expected)


def reference_ies(units: list[bytes]) -> list[dict]:
    decoder = Decoder()
    rows = []
    for unit in units:
        try:
            rows += [dict(r) for r in decoder.feed(unit)]
        except IPFIXError:
            pass
    return rows


def as_frame_value(value):
    return str(value) if type(value).__name__.startswith("IPv") else value


@pytest.mark.parametrize("compiled", KERNELS)
def test_ies_frame_has_every_ie_of_every_template(compiled: bool) -> None:
    ports = Template.from_names(400, ["sourceTransportPort", ("octetDeltaCount", 3),  # reduced size, §6.2
                                      "flowStartMicroseconds", "sourceMacAddress", ("interfaceName", 65535),
                                      ("interfaceName", 65535), "observationPointId", "56506:30000"])
    other = Template.from_names(401, ["sourceIPv6Address", "sourcePodName", "egressNetworkPolicyRulePriority"])
    rng = random.Random(5)
    items = []
    for i in range(200):
        if i % 3:
            items.append((ports, {"sourceTransportPort": i, "octetDeltaCount": rng.randrange(1 << 24),
                                  "flowStartMicroseconds": 1_700_000_000_000_000 + rng.randrange(10**9),
                                  "sourceMacAddress": f"0a:00:00:00:00:{i % 256:02x}",
                                  "interfaceName": [f"eth{i % 4}", "x" * (i * 3)],
                                  "observationPointId": rng.randrange(1 << 64),
                                  "56506:30000": bytes([i % 256])}))
        else:
            items.append((other, {"sourceIPv6Address": f"2001:db8::{i}", "sourcePodName": "p" * i,
                                  "egressNetworkPolicyRulePriority": -i}))
    units = encode_messages(3, [ports, other], items, max_message_size=900)
    got, _, _ = fast(units, compiled, schema="ies")
    expected = reference_ies(units)
    assert len(got) == len(expected) == 200
    assert list(got.columns) == list(dict.fromkeys(k for row in expected for k in row))
    for i, row in enumerate(expected):
        for name in got.columns:
            value = got[name].iloc[i]
            if name in row:
                assert value == as_frame_value(row[name]), (i, name)
            else:
                assert value is None or value is pd.NA or pd.isna(value), (i, name)
    assert str(got["observationPointId"].dtype) == "UInt64"  # nullable: template 401 lacks it
    assert str(got["sourceTransportPort"].dtype) == "Int64" and got["sourceTransportPort"].isna().sum() == 67


def corrupt(units: list[bytes], rng: random.Random) -> list[bytes]:
    out = []
    for unit in units:
        data = bytearray(unit)
        roll = rng.random()
        if roll < 0.1:
            data = data[:rng.randrange(len(data))]  # truncated
        elif roll < 0.2:
            data[rng.randrange(len(data))] = rng.randrange(256)  # one octet flipped
        elif roll < 0.25:
            struct.pack_into("!H", data, 0, 9)  # NetFlow v9
        out.append(bytes(data))
    return out


@pytest.mark.parametrize("compiled", KERNELS)
@pytest.mark.parametrize("seed", [11, 12, 13, 14])
def test_malformed_units_are_counted_and_skipped_like_the_collector(compiled: bool, seed: int) -> None:
    units, _ = mixed_units(seed, n=120, max_size=3000)
    units = corrupt(units, random.Random(seed))
    expected, ref_decoder, malformed = reference_flows(units)
    got, decoder, stats = fast(units, compiled)
    pd.testing.assert_frame_equal(got, expected)
    assert len(stats.malformed) == malformed
    assert (decoder.messages, decoder.unknown_sets) == (ref_decoder.messages, ref_decoder.unknown_sets)
    assert decoder.sequence_gaps == ref_decoder.sequence_gaps
    assert decoder.templates == ref_decoder.templates


@pytest.mark.parametrize("compiled", KERNELS)
def test_data_before_its_template_is_counted_then_decoded_once_the_template_arrives(compiled: bool) -> None:
    tmpl = flow_record_template()
    rec = random_record(random.Random(1))
    data = encode_message(1, [], [(tmpl, rec.to_ipfix())], sequence_number=0)
    units = [data, encode_message(1, [tmpl]), data, encode_message(1, withdrawals=[tmpl]), data]
    expected, ref_decoder, _ = reference_flows(units)
    got, decoder, stats = fast(units, compiled)
    pd.testing.assert_frame_equal(got, expected)
    assert len(got) == 1 and decoder.unknown_sets == ref_decoder.unknown_sets == stats.unknown_sets == 2
    assert decoder.sequence_gaps == ref_decoder.sequence_gaps


@pytest.mark.parametrize("compiled", KERNELS)
def test_templates_and_sequence_state_carry_over_between_calls(compiled: bool) -> None:
    units, _ = mixed_units(21)
    expected, ref_decoder, _ = reference_flows(units)
    decoder = Decoder()
    k = fastdecode.kernels(compiled)
    parts = [fastdecode.decode_frame(units[i:i + 3], decoder, kernels_=k) for i in range(0, len(units), 3)]
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), expected)
    assert decoder.templates == ref_decoder.templates and decoder.sequence_gaps == []


def test_walkers_agree_numba_and_python() -> None:
    if not fastdecode.HAVE_NUMBA:
        pytest.skip("numba is not installed: pip install numba (labkit's lab and test extras)")
    units, _ = mixed_units(31)
    raw = b"".join(units)
    buf = np.frombuffer(raw, np.uint8)
    ends = np.cumsum([len(u) for u in units])
    spans = np.stack([ends - [len(u) for u in units], ends], axis=1).astype(np.int64)
    compiled, python = fastdecode.kernels(True), fastdecode.kernels(False)
    m1, s1 = compiled.messages(buf, spans)
    m2, s2 = python.messages(buf, spans)
    assert np.array_equal(m1, m2) and np.array_equal(s1, s2)
    data = s1[s1[:, 1] == 256]
    lengths = np.array([f.length for f in flow_record_template().fields], np.int64)
    for a, b in zip(compiled.records(buf, data[:, 2].copy(), data[:, 3].copy(), lengths, 40),
                    python.records(buf, data[:, 2].copy(), data[:, 3].copy(), lengths, 40)):
        assert np.array_equal(a, b)


def test_feed_frame_is_the_decoders_batch_entry_point() -> None:
    units, records = mixed_units(41)
    frame = Decoder().feed_frame(b"".join(units), exporter=("udp", "10.0.0.1", 4739))
    assert len(frame) == len(records)
    assert frame.loc[0, "sourcePodName"] == records[0].source_pod_name


def test_records_without_a_five_tuple_are_dropped_and_counted() -> None:
    partial = Template.from_names(256, ["sourceIPv4Address", "sourcePodName"])
    msg = encode_message(1, [partial], [{"sourceIPv4Address": "10.0.0.1", "sourcePodName": "a"}] * 3)
    stats = fastdecode.FrameStats()
    frame = Decoder().feed_frame(msg, stats=stats)
    assert frame.empty and list(frame.columns) == list(records_to_frame([]).columns)
    assert stats.incomplete_records == 3 and stats.records == 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600), st.integers(0, 2000), st.booleans())
def test_fuzzed_bytes_never_crash_and_match_the_decoder(garbage: bytes, cut: int, prefix: bool) -> None:
    tmpl = flow_record_template()
    good = encode_message(1, [tmpl], [dataclasses.replace(random_record(random.Random(cut)),
                                                          source_ip="10.0.0.1").to_ipfix()])
    spliced = (good[:cut] + garbage) if prefix else (good[:16] + garbage)
    units = [good, spliced, good]
    expected, ref_decoder, malformed = reference_flows(units)
    for compiled in [False] + ([True] if fastdecode.HAVE_NUMBA else []):
        got, decoder, stats = fast(units, compiled)
        pd.testing.assert_frame_equal(got, expected)
        assert len(stats.malformed) == malformed and decoder.messages == ref_decoder.messages


def test_labkit_decodes_without_numba() -> None:
    """LABKIT_NO_NUMBA=1 is a machine without numba: the same frame, from the Python walk."""
    code = ("from labkit.flows import fastdecode\n"
            "from labkit.flows.ipfix import Decoder, encode_message\n"
            "from labkit.flows.records import FlowRecord, flow_record_template\n"
            "assert not fastdecode.HAVE_NUMBA and not fastdecode.kernels().compiled\n"
            "r = FlowRecord('10.0.0.1', '10.0.0.2', 1, 80, 6, source_pod_name='p' * 300)\n"
            "f = Decoder().feed_frame(encode_message(1, [flow_record_template()], [r.to_ipfix()]))\n"
            "assert f.loc[0, 'sourcePodName'] == 'p' * 300 and f.loc[0, 'destination'] == '10.0.0.2'\n")
    env = {**os.environ, "LABKIT_NO_NUMBA": "1"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("compiled", KERNELS)
def test_options_records_are_not_flows(compiled: bool) -> None:
    """OVS's options template (exporting process statistics, RFC 7011 §4.3) next to flows."""
    stats_tmpl = Template.from_names(260, ["exportingProcessId", "notSentPacketTotalCount"], scope_field_count=1)
    tmpl = flow_record_template()
    flow = random_record(random.Random(3))
    units = [encode_message(4, [tmpl, stats_tmpl], [(stats_tmpl, {"exportingProcessId": 9, "notSentPacketTotalCount": 2}),
                                                    (tmpl, flow.to_ipfix())])]
    got, _, stats = fast(units, compiled)
    pd.testing.assert_frame_equal(got, reference_flows(units)[0])
    assert len(got) == 1 and stats.options_records == 1
    ies, _, _ = fast(units, compiled, schema="ies")
    assert len(ies) == 2 and ies.loc[0, "exportingProcessId"] == 9 and pd.isna(ies.loc[1, "exportingProcessId"])
