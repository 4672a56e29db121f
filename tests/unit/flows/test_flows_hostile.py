"""IPFIX from a hostile or broken peer (issue 12): one bad message costs one error, never a hang,
unbounded memory or a dead collector. Real collectors and raw sockets on 127.0.0.1."""

from __future__ import annotations

import socket
import struct
import time

import pytest

from labkit.flows import fastdecode
from labkit.flows.aggregator import AggregatorService
from labkit.flows.ies import DEFAULT_REGISTRY, IPFIXError
from labkit.flows.ipfix import Decoder, Template, TemplateField, encode_message
from labkit.flows.records import FlowRecord, flow_record_template
from labkit.flows.transport import MAX_ERRORS, IPFIXCollector, IPFIXExporter

# The 36-octet datagram of issue 12: template 300 with one field (IE 1, octetDeltaCount, length
# 0), then a data set of 4 octets. Its records would be 0 octets long: a decoder that does not
# refuse the template never leaves the data set.
ZERO_LENGTH_TEMPLATE = (struct.pack("!HHIII", 10, 36, 1_700_000_000, 0, 1)
                        + struct.pack("!HHHHHH", 2, 12, 300, 1, 1, 0)
                        + struct.pack("!HH", 300, 8) + b"\x01\x02\x03\x04")
TEMPLATE = flow_record_template()
GOOD = encode_message(1, [TEMPLATE], [FlowRecord("10.0.0.1", "10.0.0.2", 4000, 80, 6).to_ipfix()])


def wait_until(condition, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def raw_template(template_id: int, fields: list[tuple[int, int]]) -> bytes:
    body = struct.pack("!HH", template_id, len(fields)) + b"".join(struct.pack("!HH", ie, n) for ie, n in fields)
    return struct.pack("!HH", 2, 4 + len(body)) + body


def message(*sets: bytes, domain: int = 1, sequence: int = 0) -> bytes:
    body = b"".join(sets)
    return struct.pack("!HHIII", 10, 16 + len(body), 1_700_000_000, sequence, domain) + body


# ---------------------------------------------------------------------------------------------
# The decoder


def test_a_template_of_empty_records_is_refused_by_both_decoders() -> None:
    assert len(ZERO_LENGTH_TEMPLATE) == 36
    decoder = Decoder()
    start = time.perf_counter()
    with pytest.raises(IPFIXError, match=r"template 300: its records would be empty.*fixed length 0"):
        decoder.feed(ZERO_LENGTH_TEMPLATE)
    assert time.perf_counter() - start < 1.0  # refused, not looped on
    assert decoder.templates == {} and decoder.feed(GOOD)[0]["sourceTransportPort"] == 4000
    stats = fastdecode.FrameStats()
    frame = Decoder().feed_frame([ZERO_LENGTH_TEMPLATE, GOOD], schema="ies", stats=stats)
    assert len(frame) == 1 and len(stats.malformed) == 1 and "fixed length 0" in stats.malformed[0]


def test_zero_length_fields_are_tolerated_only_while_records_take_an_octet_per_field() -> None:
    # A foreign exporter's odd template: a zero-length field next to a 4-octet one decodes.
    odd = message(raw_template(256, [(1, 0), (10, 4)]), struct.pack("!HH", 256, 12) + b"\0\0\0\x07" * 2)
    records = Decoder().feed(odd)
    assert [dict(r) for r in records] == [{"octetDeltaCount": b"", "ingressInterface": 7}] * 2
    # 200 empty fields and one variable-length one: 1 octet would stand for 201 values.
    bomb = message(raw_template(256, [(1, 0)] * 200 + [(82, 0xFFFF)]), struct.pack("!HH", 256, 4 + 1000) + b"\0" * 1000)
    with pytest.raises(IPFIXError, match="its 201 fields fit in 1 octets: it has 200 fields of fixed length 0"):
        Decoder().feed(bomb)
    octets = DEFAULT_REGISTRY.by_name("paddingOctets")
    with pytest.raises(IPFIXError, match="records would be empty"):
        Template(300, (TemplateField(octets, 0),))  # labkit's own templates obey the same rule


def test_the_decoders_state_is_bounded() -> None:
    # RFC 7011 §11.4: a peer inventing templates (here one per Observation Domain) cannot make
    # the decoder hold more Field Specifiers than its limit; the refusal is one error.
    decoder = Decoder(max_template_fields=100)
    tmpl = raw_template(256, [(7, 2)] * 40)
    decoder.feed(message(tmpl, domain=1))
    decoder.feed(message(tmpl, domain=2))
    with pytest.raises(IPFIXError, match="120 Field Specifiers, more than the limit of 100"):
        decoder.feed(message(tmpl, domain=3))
    decoder.feed(message(tmpl, domain=1))  # a refresh replaces, it does not add
    decoder.forget(None)
    decoder.feed(message(tmpl, domain=3))
    assert len(decoder.templates) == 1


# ---------------------------------------------------------------------------------------------
# The collectors and the aggregator service


@pytest.mark.parametrize("protocol", ["udp", "tcp"])
def test_the_datagram_costs_one_error_and_the_collector_keeps_decoding(protocol: str, no_leaks: None) -> None:
    with IPFIXCollector(protocol=protocol) as collector:
        kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
        with socket.socket(socket.AF_INET, kind) as peer:
            peer.connect(collector.address)
            peer.sendall(ZERO_LENGTH_TEMPLATE + GOOD)  # over UDP: one datagram, the good one ignored
            if protocol == "udp":
                peer.send(GOOD)
            assert collector.wait_for(1)[0]["sourceTransportPort"] == 4000
        assert collector.error_count == 1 and "records would be empty" in collector.errors[0]
        assert collector.failure is None


def test_the_aggregator_service_survives_the_datagram(no_leaks: None) -> None:
    with AggregatorService(protocol="udp") as service:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            peer.connect(service.address)
            peer.send(ZERO_LENGTH_TEMPLATE)
            peer.send(GOOD)
        assert service.wait_for(1) == 1
        assert len(service.collector.errors) == 1 and service.errors == []


def test_records_the_aggregator_refuses_cost_one_error_per_message(no_leaks: None) -> None:
    partial = Template.from_names(300, ["sourceIPv4Address", "sourcePodName"])  # no 5-tuple
    with AggregatorService(protocol="tcp") as service:
        with IPFIXExporter(*service.address, protocol="tcp", templates=[partial, TEMPLATE]) as exporter:
            exporter.export([(partial, {"sourceIPv4Address": "10.0.0.9", "sourcePodName": "x"})] * 50)
            exporter.export([(TEMPLATE, FlowRecord("10.0.0.1", "10.0.0.2", 4000, 80, 6).to_ipfix())])
        assert service.wait_for(1) == 1
        assert service.error_count == 1
        assert "50 of the message's 50 records refused: flow record: the record has no complete 5-tuple" in service.errors[0]


def test_a_flood_of_bad_datagrams_keeps_the_latest_errors(no_leaks: None) -> None:
    with IPFIXCollector() as collector:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            peer.connect(collector.address)
            for _ in range(MAX_ERRORS + 200):
                peer.send(ZERO_LENGTH_TEMPLATE)
                time.sleep(0.0001)  # stay within the socket's receive buffer
            peer.send(GOOD)
        collector.wait_for(1)
        assert collector.error_count == MAX_ERRORS + 200 and len(collector.errors) == MAX_ERRORS


def test_a_dead_collector_thread_is_reported_not_blamed_on_the_exporter(no_leaks: None) -> None:
    def callback(records) -> None:
        raise SystemExit("a callback that ends the thread")  # not an Exception: it passes through

    collector = IPFIXCollector(on_records=callback).start()
    try:
        with IPFIXExporter(*collector.address, templates=[TEMPLATE]) as exporter:
            exporter.export([FlowRecord("10.0.0.1", "10.0.0.2", 1, 80, 6).to_ipfix()])
        wait_until(lambda: collector.failure is not None)
        start = time.monotonic()
        with pytest.raises(IPFIXError, match="the collector thread died: SystemExit"):
            collector.wait_for(5, timeout_s=30)
        assert time.monotonic() - start < 1  # at once, not after the timeout
        with pytest.raises(IPFIXError, match="thread died"):
            collector.take()
    finally:
        collector.stop()


def test_a_decoder_bug_costs_one_message(monkeypatch, no_leaks: None) -> None:
    with IPFIXCollector() as collector:
        feed = Decoder.feed
        calls = []

        def buggy(self, data, exporter=None):
            calls.append(1)
            if len(calls) == 1:
                raise ZeroDivisionError("a bug")
            return feed(self, data, exporter)

        monkeypatch.setattr(Decoder, "feed", buggy)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            peer.connect(collector.address)
            peer.send(GOOD)
            peer.send(GOOD)
        assert len(collector.wait_for(1)) == 1
        assert "ZeroDivisionError('a bug')" in collector.errors[0] and "labkit bug" in collector.errors[0]


def test_tcp_length_below_the_header_closes_that_connection_only(no_leaks: None) -> None:
    with IPFIXCollector(protocol="tcp") as collector:
        with socket.create_connection(collector.address) as good, socket.create_connection(collector.address) as bad:
            bad.sendall(struct.pack("!HHIII", 10, 15, 0, 0, 1))  # a message length < 16
            wait_until(lambda: collector.errors)
            assert bad.recv(10) == b""  # the collector closed it
            good.sendall(GOOD)
            collector.wait_for(1)
        assert collector.error_count == 1 and "length 15 is shorter than the header" in collector.errors[0]


def test_tcp_trickled_bytes_and_a_huge_declared_length(no_leaks: None) -> None:
    with IPFIXCollector(protocol="tcp") as collector:
        with socket.create_connection(collector.address) as slow:
            slow.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            start = time.perf_counter()
            for octet in GOOD:  # one octet per segment: framed once the message is complete
                slow.send(bytes([octet]))
            assert collector.wait_for(1)[0]["sourceTransportPort"] == 4000
            # The largest message a header can declare (65,535 octets), then nothing more: the
            # collector holds at most that message, and says so when the peer gives up.
            slow.sendall(struct.pack("!HHIII", 10, 0xFFFF, 0, 1, 1) + b"\0" * 1000)
            time.sleep(0.05)
        wait_until(lambda: collector.errors)
        assert "closed inside a message (1016 of its 65535 octets arrived)" in collector.errors[0]
        assert time.perf_counter() - start < 10


def test_tcp_connections_beyond_the_limit_are_refused(no_leaks: None) -> None:
    with IPFIXCollector(protocol="tcp", max_connections=2) as collector:
        first, second = socket.create_connection(collector.address), socket.create_connection(collector.address)
        try:
            with socket.create_connection(collector.address) as third:
                third.settimeout(5)
                assert third.recv(10) == b""  # accepted, then closed at once
            assert "the limit (max_connections=2)" in collector.errors[0]
            first.sendall(GOOD)
            collector.wait_for(1)
        finally:
            first.close()
            second.close()
