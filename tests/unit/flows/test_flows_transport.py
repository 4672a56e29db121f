"""IPFIXExporter -> IPFIXCollector over UDP and TCP on loopback (labkit.flows.transport)."""

from __future__ import annotations

import socket
import time

import pytest

from labkit.flows import transport
from labkit.flows.exporter import export_records
from labkit.flows.ies import IPFIXError
from labkit.flows.ipfix import Template, encode_message, split_stream
from labkit.flows.records import ExportedRecord, FlowRecord
from labkit.flows.transport import IPFIXCollector, IPFIXExporter

FIELDS = ["sourceIPv4Address", "destinationIPv4Address", "sourceTransportPort",
          "destinationTransportPort", "protocolIdentifier", "packetTotalCount",
          "octetTotalCount", "reversePacketTotalCount", "flowStartSeconds", "flowEndSeconds",
          "sourcePodNamespace", "sourcePodName", "destinationPodName",
          "ingressNetworkPolicyName", "ingressNetworkPolicyRuleAction", "flowType"]
TEMPLATE = Template.from_names(256, FIELDS)


def flow(n: int) -> dict:
    return {"sourceIPv4Address": "10.10.0.1", "destinationIPv4Address": "10.10.1.2",
            "sourceTransportPort": 40000 + n, "destinationTransportPort": 80,
            "protocolIdentifier": 6, "packetTotalCount": 10 * n, "octetTotalCount": 1000 * n,
            "reversePacketTotalCount": 9 * n, "flowStartSeconds": 1_700_000_000,
            "flowEndSeconds": 1_700_000_005, "sourcePodNamespace": "x", "sourcePodName": f"a-{n}",
            "destinationPodName": "web-0", "ingressNetworkPolicyName": "allow-web",
            "ingressNetworkPolicyRuleAction": 1, "flowType": 2}


@pytest.mark.parametrize("protocol", ["udp", "tcp"])
def test_exporter_to_collector(protocol: str, no_leaks: None) -> None:
    with IPFIXCollector(protocol=protocol) as collector:
        host, port = collector.address
        assert host == "127.0.0.1" and port > 0
        with IPFIXExporter(host, port, protocol=protocol, domain_id=42,
                           templates=[TEMPLATE]) as exporter:
            exporter.export([flow(n) for n in range(1, 51)])  # several messages over UDP
            exporter.export([(TEMPLATE, flow(51))])
            assert exporter.sequence_number == 51
        records = collector.wait_for(51, timeout_s=5)
    assert [r["sourcePodName"] for r in records] == [f"a-{n}" for n in range(1, 52)]
    first = records[0]
    assert first == {**flow(1), "sourceIPv4Address": first["sourceIPv4Address"],
                     "destinationIPv4Address": first["destinationIPv4Address"]}
    assert str(first["sourceIPv4Address"]) == "10.10.0.1"
    assert first.observation_domain_id == 42 and first.template_id == 256
    assert first.exporter[0] == protocol and first.exporter[1] == "127.0.0.1"
    assert collector.errors == [] and collector.sequence_gaps == [] and collector.unknown_sets == 0


def test_udp_templates_are_refreshed_periodically() -> None:
    # RFC 7011 §8.4: over UDP, templates are re-sent at an interval (templateRefreshTimeout).
    now = [1000.0]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        sink.settimeout(2)
        with IPFIXExporter(*sink.getsockname(), templates=[TEMPLATE], template_refresh_s=600,
                           clock=lambda: now[0]) as exporter:
            carried_templates = []
            for t in (0, 100, 599, 600, 700, 1300):
                now[0] = 1000.0 + t
                exporter.export([flow(1)])
                datagram = sink.recv(65535)
                carried_templates.append(datagram[16:18] == b"\x00\x02")  # first set id
    assert carried_templates == [True, False, False, True, False, True]


def test_tcp_sends_templates_once_per_connection(no_leaks: None) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(2)
        exporter = IPFIXExporter(*server.getsockname(), protocol="tcp", templates=[TEMPLATE])
        for _connection in range(2):
            with exporter:
                conn, _ = server.accept()
                with conn:
                    exporter.export([flow(1), flow(2)])
                    exporter.export([flow(3)])
                    exporter.close()
                    stream = b""
                    while chunk := conn.recv(65535):
                        stream += chunk
            messages, rest = split_stream(stream)
            assert rest == b""
            first_sets = [m[16:18] for m in messages]
            assert first_sets == [b"\x00\x02", b"\x01\x00", b"\x01\x00"]  # templates, data, data
            assert [int.from_bytes(m[8:12], "big") for m in messages] == [0, 0, 2]  # §3.1


def test_collector_started_late_gets_records_after_template_refresh(no_leaks: None) -> None:
    with IPFIXCollector() as collector:
        exporter = IPFIXExporter(*collector.address, templates=[TEMPLATE])
        with exporter:
            exporter.export([flow(1)])
            collector.wait_for(1)
            # A second collector process on the same port would have missed the templates;
            # simulate it by dropping what the collector learnt (a white-box step).
            collector._decoder.forget(collector.records()[0].exporter)
            exporter.export([flow(2)])
            deadline = time.monotonic() + 2
            while collector.unknown_sets == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert collector.unknown_sets == 1 and len(collector.records()) == 1
            exporter.send_templates()
            exporter.export([flow(3)])
            records = collector.wait_for(2)
    assert [r["sourcePodName"] for r in records] == ["a-1", "a-3"]


def test_tcp_withdrawal_and_session_end_drop_templates(no_leaks: None) -> None:
    other = Template.from_names(257, ["protocolIdentifier"])
    with IPFIXCollector(protocol="tcp") as collector:
        with IPFIXExporter(*collector.address, protocol="tcp", templates=[TEMPLATE]) as exporter:
            exporter.add_template(other)
            exporter.export([(other, {"protocolIdentifier": 17})])
            collector.wait_for(1)
            exporter.withdraw(other)
            exporter.export([(TEMPLATE, flow(1))])
            collector.wait_for(2)
            keys = {k[2] for k in collector.templates}
            assert keys == {256}
        deadline = time.monotonic() + 2
        while collector.templates and time.monotonic() < deadline:
            time.sleep(0.01)
        assert collector.templates == {}  # §8: templates end with the session


def test_udp_withdrawal_is_refused() -> None:
    with IPFIXCollector() as collector, IPFIXExporter(*collector.address, templates=[TEMPLATE]) as exporter:
        with pytest.raises(IPFIXError, match="§8.4"):
            exporter.withdraw(TEMPLATE)


@pytest.mark.parametrize("protocol", ["udp", "tcp"])
def test_garbage_is_reported_and_the_collector_keeps_going(protocol: str, no_leaks: None) -> None:
    with IPFIXCollector(protocol=protocol) as collector:
        kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
        with socket.socket(socket.AF_INET, kind) as raw:
            raw.connect(collector.address)
            raw.send(b"\x00\x09" + b"\x00" * 30)  # NetFlow v9, not IPFIX
        deadline = time.monotonic() + 2
        while not collector.errors and time.monotonic() < deadline:
            time.sleep(0.01)
        assert "NetFlow v9" in collector.errors[0]
        with IPFIXExporter(*collector.address, protocol=protocol, templates=[TEMPLATE]) as exporter:
            exporter.export([flow(1)])
        assert collector.wait_for(1)[0]["sourcePodName"] == "a-1"


def test_on_records_callback_and_take() -> None:
    seen: list = []
    with IPFIXCollector(on_records=seen.extend) as collector:
        with IPFIXExporter(*collector.address, templates=[TEMPLATE]) as exporter:
            exporter.export([flow(1), flow(2)])
        collector.wait_for(2)
        assert len(collector.take()) == 2 and collector.records() == []
    assert [r["sourcePodName"] for r in seen] == ["a-1", "a-2"]


def test_max_records_keeps_the_newest() -> None:
    with IPFIXCollector(max_records=3) as collector:
        with IPFIXExporter(*collector.address, templates=[TEMPLATE]) as exporter:
            exporter.export([flow(n) for n in range(1, 6)])
        deadline = time.monotonic() + 2
        while collector.dropped_records < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [r["sourcePodName"] for r in collector.records()] == ["a-3", "a-4", "a-5"]


def test_wait_for_times_out_with_a_useful_message() -> None:
    with IPFIXCollector() as collector:
        with pytest.raises(IPFIXError, match=r"only 0 of 1 records arrived.*fix: check"):
            collector.wait_for(1, timeout_s=0.05)


def test_stop_is_idempotent_and_fast(no_leaks: None) -> None:
    collector = IPFIXCollector(protocol="tcp").start()
    with socket.create_connection(collector.address):
        started = time.monotonic()
        collector.stop()
        collector.stop()
    assert time.monotonic() - started < 1
    with pytest.raises(IPFIXError, match="not started"):
        collector.address


def test_exporter_errors(no_leaks: None) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free_port = s.getsockname()[1]  # nothing listens there once closed
    with pytest.raises(IPFIXError, match="cannot connect.*start the collector first"):
        IPFIXExporter("127.0.0.1", free_port, protocol="tcp").start()
    with pytest.raises(IPFIXError, match="not started"):
        IPFIXExporter("127.0.0.1", free_port).export([flow(1)])
    with pytest.raises(IPFIXError, match="not supported"):
        IPFIXExporter("127.0.0.1", free_port, protocol="sctp")  # type: ignore[arg-type]
    # UDP to nothing: the kernel's refusals are counted, not raised (UDP is fire-and-forget).
    with IPFIXExporter("127.0.0.1", free_port, templates=[TEMPLATE]) as exporter:
        for n in range(3):
            exporter.export([flow(n)])
    assert exporter.messages_sent == 3


def test_collector_port_in_use_is_reported() -> None:
    with IPFIXCollector(protocol="tcp") as first:
        with pytest.raises(IPFIXError, match="pick another port"):
            IPFIXCollector(port=first.port, protocol="tcp").start()


def test_exporter_message_is_what_the_codec_builds() -> None:
    # The transport adds nothing to the codec's messages (same bytes but the export time).
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        with IPFIXExporter(*sink.getsockname(), domain_id=5, templates=[TEMPLATE]) as exporter:
            exporter.export([flow(1)])
        datagram = sink.recv(65535)
    expected = encode_message(5, [TEMPLATE], [flow(1)], export_time=int.from_bytes(datagram[4:8], "big"))
    assert datagram == expected


def test_module_exports() -> None:
    assert set(transport.__all__) <= set(dir(transport))


def test_udp_export_of_a_record_longer_than_a_message_sends_nothing(no_leaks: None) -> None:
    """Issue 12 item 8: the whole export is checked before anything is sent (all or nothing)."""
    small = [ExportedRecord(node, float(i), FlowRecord("10.0.0.1", "10.0.0.2", 40000 + i, 80, 6))
             for i, node in enumerate(["kind-worker", "kind-worker2", "kind-worker"])]
    huge = ExportedRecord("kind-worker2", 9.0, FlowRecord("10.0.0.1", "10.0.0.3", 1, 80, 6,
                                                          source_pod_name="p" * 1500))
    exports = [*small, huge]
    with IPFIXCollector() as collector:
        with pytest.raises(IPFIXError, match=r"kind-worker2: .*record 3 is 1\d\d\d octets: with the message "
                                             r"and set headers \(20\) it cannot fit a 1400-octet message.*"
                                             r"export over TCP.*nothing was sent"):
            export_records(exports, *collector.address)
        with IPFIXExporter(*collector.address, templates=[TEMPLATE]) as exporter:
            with pytest.raises(IPFIXError, match="record 1 is .* cannot fit"):
                exporter.export([flow(1), {**flow(2), "sourcePodName": "p" * 1500}])
            assert exporter.messages_sent == 0 and exporter.sequence_number == 0
        time.sleep(0.2)
        assert collector.records() == [] and collector.errors == []
    with IPFIXCollector(protocol="tcp") as collector:  # 65,535-octet messages: it fits
        assert export_records(exports, *collector.address, protocol="tcp") == {"kind-worker": 2, "kind-worker2": 2}
        assert len(collector.wait_for(4)) == 4
