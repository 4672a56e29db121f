"""labkit's IPFIX against other implementations: python-ipfix, Wireshark's tshark, and the
exact messages Open vSwitch 3.1 emits (built here byte by byte from ofproto-dpif-ipfix.c)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import shutil
import socket
import struct
import subprocess
from pathlib import Path

import pytest

from labkit.flows.ies import ANTREA_PEN, DEFAULT_REGISTRY, REVERSE_PEN, VMWARE_PEN
from labkit.flows.ipfix import Decoder, Template, encode_message
from labkit.flows.records import AggregatedFlowRecord, flow_record_template
from labkit.flows.transport import IPFIXExporter

FIELDS = ["sourceIPv4Address", "destinationIPv4Address", "sourceTransportPort",
          "destinationTransportPort", "protocolIdentifier", "packetTotalCount",
          "octetTotalCount", "packetDeltaCount", "reversePacketTotalCount", "flowStartSeconds",
          "flowEndSeconds", "sourcePodNamespace", "sourcePodName", "destinationPodName",
          "ingressNetworkPolicyName", "ingressNetworkPolicyRuleAction", "flowType"]
TEMPLATE = Template.from_names(256, FIELDS)
RECORD = {"sourceIPv4Address": "10.10.0.1", "destinationIPv4Address": "10.10.1.2",
          "sourceTransportPort": 40000, "destinationTransportPort": 80,
          "protocolIdentifier": 6, "packetTotalCount": 42, "octetTotalCount": 4200,
          "packetDeltaCount": 7, "reversePacketTotalCount": 40, "flowStartSeconds": 1_700_000_000,
          "flowEndSeconds": 1_700_000_005, "sourcePodNamespace": "x",
          "sourcePodName": "client-" + "a" * 300,  # > 254 octets: 3-octet length form
          "destinationPodName": "web-0", "ingressNetworkPolicyName": "allow-web",
          "ingressNetworkPolicyRuleAction": 1, "flowType": 2}


def python_ipfix():
    pytest.importorskip("ipfix", reason="python-ipfix is the reference decoder: pip install ipfix==0.9.7 "
                                        "(it is in labkit's test extra)")
    import ipfix
    import ipfix.ie
    import ipfix.message
    import ipfix.template

    ipfix.ie.use_iana_default()
    ipfix.ie.use_5103_default()
    return ipfix


# ---------------------------------------------------------------------------------------------
# (2) what labkit exports decodes elsewhere


def test_python_ipfix_decodes_labkit_messages() -> None:
    ipfix = python_ipfix()
    # Teach python-ipfix Antrea's IEs, as a collector configured with Antrea's registry would.
    for ie in DEFAULT_REGISTRY:
        if ie.enterprise_id == ANTREA_PEN:
            ipfix.ie.for_spec(f"{ie.name}({ie.enterprise_id}/{ie.element_id})<{ie.data_type.name}>")
    msg = encode_message(11, [TEMPLATE], [RECORD, {**RECORD, "sourceTransportPort": 40001}],
                         sequence_number=3, export_time=1_700_000_010)
    buffer = ipfix.message.MessageBuffer()
    buffer.from_bytes(msg)
    records = list(buffer.namedict_iterator())
    assert (buffer.odid, buffer.sequence) == (11, 3)
    assert len(records) == 2
    got = records[0]
    assert got["sourceIPv4Address"] == ipaddress.ip_address("10.10.0.1")
    assert got["destinationIPv4Address"] == ipaddress.ip_address("10.10.1.2")
    assert (got["sourceTransportPort"], got["destinationTransportPort"]) == (40000, 80)
    assert (got["packetTotalCount"], got["reversePacketTotalCount"], got["packetDeltaCount"]) == (42, 40, 7)
    assert got["flowStartSeconds"] == dt.datetime(2023, 11, 14, 22, 13, 20)
    assert got["sourcePodName"] == RECORD["sourcePodName"]
    assert got["ingressNetworkPolicyRuleAction"] == 1 and got["flowType"] == 2
    assert records[1]["sourceTransportPort"] == 40001


def test_python_ipfix_sees_antrea_ies_as_enterprise_56506_without_a_registry() -> None:
    ipfix = python_ipfix()
    buffer = ipfix.message.MessageBuffer()
    buffer.from_bytes(encode_message(1, [Template.from_names(256, ["protocolIdentifier",
                                                                   "56506:30000"])],
                                     [{"protocolIdentifier": 6, "56506:30000": b"\x01\x02"}]))
    (record,) = buffer.tuple_iterator(ipfix.ie.spec_list(["protocolIdentifier"]))
    assert record == (6,)
    (tmpl,) = buffer.templates.values()
    assert [(ie.pen, ie.num) for ie in tmpl.ies] == [(0, 4), (ANTREA_PEN, 30000)]


# ---------------------------------------------------------------------------------------------
# (3) labkit decodes what others produce


def test_labkit_decodes_python_ipfix_messages() -> None:
    ipfix = python_ipfix()
    ipfix.ie.for_spec("sourcePodName(56506/101)<string>")
    ies = ipfix.ie.spec_list(["sourceIPv4Address", "destinationIPv6Address", "sourceTransportPort",
                              "octetDeltaCount[4]",  # reduced-size encoding (§6.2)
                              "reverseOctetTotalCount", "flowStartMilliseconds",
                              "sourceMacAddress", "sourcePodName", "interfaceName"])
    buffer = ipfix.message.MessageBuffer()
    buffer.begin_export(77)
    buffer.add_template(ipfix.template.from_ielist(300, ies))
    buffer.export_ensure_set(300)
    for port in (1, 2):
        buffer.export_namedict({
            "sourceIPv4Address": ipaddress.ip_address("192.0.2.1"),
            "destinationIPv6Address": ipaddress.ip_address("2001:db8::2"),
            "sourceTransportPort": port, "octetDeltaCount": 4_000_000_000,
            "reverseOctetTotalCount": 1 << 40,
            "flowStartMilliseconds": dt.datetime(2024, 1, 1, 0, 0, 0, 123000),
            "sourceMacAddress": bytes.fromhex("0a0027000001"),
            "sourcePodName": "p" * 400, "interfaceName": "eth0"})
    records = Decoder().feed(buffer.to_bytes(), exporter="python-ipfix")
    assert len(records) == 2 and records[1]["sourceTransportPort"] == 2
    assert dict(records[0]) == {
        "sourceIPv4Address": ipaddress.ip_address("192.0.2.1"),
        "destinationIPv6Address": ipaddress.ip_address("2001:db8::2"),
        "sourceTransportPort": 1, "octetDeltaCount": 4_000_000_000,
        "reverseOctetTotalCount": 1 << 40, "flowStartMilliseconds": 1_704_067_200_123,
        "sourceMacAddress": "0a:00:27:00:00:01", "sourcePodName": "p" * 400,
        "interfaceName": "eth0"}
    assert records[0].observation_domain_id == 77


def test_labkit_decodes_python_ipfix_options_withdrawal() -> None:
    ipfix = python_ipfix()
    tmpl = ipfix.template.from_ielist(400, ipfix.ie.spec_list(["exportingProcessId",
                                                               "notSentPacketTotalCount"]))
    tmpl.scopecount = 1
    buffer = ipfix.message.MessageBuffer()
    buffer.begin_export(5)
    buffer.add_template(tmpl)
    decoder = Decoder()
    decoder.feed(buffer.to_bytes())
    assert decoder.template(None, 5, 400).is_options
    buffer.begin_export(5)
    # python-ipfix writes options withdrawals with 6 octets (a zero scope count). Its public
    # delete_template() is broken in 0.9.7 (calls a missing method), so use the writer below it.
    buffer._export_template_withdrawal(3, 400)
    decoder.feed(buffer.to_bytes())
    assert decoder.templates == {}


# Open vSwitch 3.1, ofproto/ofproto-dpif-ipfix.c: ipfix_define_template_fields() lists the
# fields, ipfix_get_template_id() numbers the templates 256 + ((((l2*3 + l3)*5 + l4)*2 +
# tunnel)*2 + direction), and the field sizes come from OVS's copy of IANA's ipfix.xml, in
# which observationPointId is still 4 octets (the data record writes an ovs_be32).
OVS_COMMON = [(138, 4), (61, 1), (56, 6), (80, 6), (256, 2), (240, 1)]
OVS_IFACE_IN = [(10, 4), (368, 4), (82, 0xFFFF), (83, 0xFFFF)]
OVS_IFACE_OUT = [(14, 4), (369, 4), (82, 0xFFFF), (83, 0xFFFF)]
OVS_IPV4_TCP = [(60, 1), (192, 1), (4, 1), (195, 1), (196, 1), (5, 1), (8, 4), (12, 4), (7, 2), (11, 2)]
OVS_TUNNEL = [(893, 4, VMWARE_PEN), (894, 4, VMWARE_PEN), (895, 1, VMWARE_PEN),
              (896, 2, VMWARE_PEN), (897, 2, VMWARE_PEN), (891, 1, VMWARE_PEN),
              (892, 0xFFFF, VMWARE_PEN)]
OVS_VIRTUAL_OBS_ID = [(898, 0xFFFF, VMWARE_PEN)]
OVS_COUNTERS = [(158, 4), (159, 4), (133, 8), (135, 8), (2, 8), (86, 8), (354, 8), (355, 8),
                (356, 8), (357, 8), (358, 8), (19, 8), (174, 8), (352, 8), (353, 8), (136, 1)]
OVS_IP_COUNTERS = [(132, 8), (134, 8), (1, 8), (85, 8), (198, 8), (199, 8), (25, 8), (26, 8),
                   (20, 8), (175, 8)]
OVS_TCP_COUNTERS = [(222, 8), (219, 8), (221, 8), (220, 8), (218, 8), (223, 8)]


def ovs_template(template_id: int, fields: list[tuple]) -> bytes:
    out = struct.pack("!HH", template_id, len(fields))
    for spec in fields:
        element_id, length, *pen = spec
        if pen:  # enterprise bit and number, as ipfix_define_template_entity() writes them
            out += struct.pack("!HHI", element_id | 0x8000, length, pen[0])
        else:
            out += struct.pack("!HH", element_id, length)
    return out


def ovs_message(domain: int, sequence: int, sets: list[tuple[int, bytes]]) -> bytes:
    body = b"".join(struct.pack("!HH", sid, 4 + len(data)) + data for sid, data in sets)
    return struct.pack("!HHIII", 10, 16 + len(body), 1_700_000_000, sequence, domain) + body


def ovs_varlen(data: bytes) -> bytes:
    return bytes((len(data),)) + data  # OVS only writes the 1-octet form (values < 255)


def ovs_flow_key(obs_point_id: int, direction: int, ifaces: list[tuple[int, bytes]]) -> bytes:
    key = struct.pack("!IB6s6sHB", obs_point_id, direction, bytes.fromhex("0a0027000001"),
                      bytes.fromhex("0a0027000002"), 0x0800, 14)
    for ifindex, name in ifaces:
        key += struct.pack("!II", ifindex, 6) + ovs_varlen(name) + ovs_varlen(b"")
    key += struct.pack("!BBBBBB", 4, 64, 6, 0, 0, 0)
    key += socket.inet_aton("10.252.0.1") + socket.inet_aton("10.252.0.2")
    return key + struct.pack("!HH", 40726, 80)


def ovs_counters(dropped: int) -> bytes:
    common = struct.pack("!II", 0, 0) + struct.pack("!13Q", dropped, dropped, 1, 7, 7, 0, 0, 0, 0,
                                                    0, 0, 60, 420) + bytes((2,))
    ip = struct.pack("!10Q", 0, 0, 60, 420, 3600, 25200, 60, 60, 0, 0)
    tcp = struct.pack("!6Q", 0, 0, 0, 0, 7, 0)
    return common + ip + tcp


def test_labkit_decodes_open_vswitch_3_1_messages() -> None:
    t280 = OVS_COMMON + OVS_IFACE_IN + OVS_IPV4_TCP + OVS_COUNTERS + OVS_IP_COUNTERS + OVS_TCP_COUNTERS
    t281 = (OVS_COMMON + OVS_IFACE_IN + OVS_IFACE_OUT + OVS_IPV4_TCP + OVS_COUNTERS
            + OVS_IP_COUNTERS + OVS_TCP_COUNTERS)
    t282 = (OVS_COMMON + OVS_IFACE_IN + OVS_IPV4_TCP + OVS_TUNNEL + OVS_VIRTUAL_OBS_ID
            + OVS_COUNTERS + OVS_IP_COUNTERS + OVS_TCP_COUNTERS)
    assert len(t280) == 52  # as captured from OVS 3.1 (feasibility.md §4)
    templates = ovs_message(100, 1, [(2, ovs_template(280, t280) + ovs_template(281, t281)
                                      + ovs_template(282, t282))])
    # Options template 462 (exporter statistics) goes to domain 0 with scope exportingProcessId.
    options = ovs_message(0, 1, [(3, struct.pack("!HHH", 462, 2, 1) + ovs_template(0, [(144, 4), (167, 8)])[4:])])
    exporter = ("udp", "127.0.0.1", 52000)
    decoder = Decoder()
    assert decoder.feed(templates, exporter) == [] and decoder.feed(options, exporter) == []

    # OVS sends each data record in its own data set, one message per record.
    ingress = ovs_message(100, 1, [(280, ovs_flow_key(7001, 0, [(67, b"fz-ca")]) + ovs_counters(0))])
    egress = ovs_message(100, 2, [(281, ovs_flow_key(22, 1, [(67, b"fz-ca"), (68, b"fz-cb")])
                                   + ovs_counters(0))])
    tunnel_key = (socket.inet_aton("192.168.77.1") + socket.inet_aton("192.168.77.2")
                  + struct.pack("!BHHB", 17, 51234, 6081, 7) + ovs_varlen(b"\x00\x00\x64"))
    tunneled = ovs_message(100, 3, [(282, ovs_flow_key(9999, 0, [(69, b"antrea-tun0")])
                                     + tunnel_key + ovs_varlen(b"lab-obs") + ovs_counters(1))])
    stats = ovs_message(0, 1, [(462, struct.pack("!IQ", 1, 0))])
    r_in, r_out, r_tun, r_stats = (decoder.feed(m, exporter)[0]
                                   for m in (ingress, egress, tunneled, stats))

    assert r_in.template_id == 280 and r_in.observation_domain_id == 100
    assert {k: r_in[k] for k in ("observationPointId", "flowDirection", "ingressInterface",
                                 "interfaceName", "protocolIdentifier", "sourceIPv4Address",
                                 "destinationIPv4Address", "sourceTransportPort",
                                 "destinationTransportPort", "droppedPacketDeltaCount",
                                 "packetDeltaCount", "flowEndReason", "octetDeltaCount",
                                 "sourceMacAddress", "tcpSynTotalCount")} == {
        "observationPointId": 7001, "flowDirection": 0, "ingressInterface": 67,
        "interfaceName": "fz-ca", "protocolIdentifier": 6,
        "sourceIPv4Address": ipaddress.ip_address("10.252.0.1"),
        "destinationIPv4Address": ipaddress.ip_address("10.252.0.2"),
        "sourceTransportPort": 40726, "destinationTransportPort": 80,
        "droppedPacketDeltaCount": 0, "packetDeltaCount": 1, "flowEndReason": 2,
        "octetDeltaCount": 60, "sourceMacAddress": "0a:00:27:00:00:01", "tcpSynTotalCount": 7}
    assert r_in["interfaceDescription"] == ""
    assert len(r_in.fields) == 52

    assert r_out["egressInterface"] == 68
    assert r_out.getall("interfaceName") == ["fz-ca", "fz-cb"]  # ingress, then egress port

    assert {k: r_tun[k] for k in ("tunnelSourceIPv4Address", "tunnelDestinationIPv4Address",
                                  "tunnelProtocolIdentifier", "tunnelSourceTransportPort",
                                  "tunnelDestinationTransportPort", "tunnelType", "tunnelKey",
                                  "virtualObsID", "droppedPacketDeltaCount")} == {
        "tunnelSourceIPv4Address": ipaddress.ip_address("192.168.77.1"),
        "tunnelDestinationIPv4Address": ipaddress.ip_address("192.168.77.2"),
        "tunnelProtocolIdentifier": 17, "tunnelSourceTransportPort": 51234,
        "tunnelDestinationTransportPort": 6081, "tunnelType": 7,  # Geneve
        "tunnelKey": b"\x00\x00\x64", "virtualObsID": "lab-obs", "droppedPacketDeltaCount": 1}

    assert r_stats.is_options and r_stats.observation_domain_id == 0
    assert r_stats == {"exportingProcessId": 1, "notSentPacketTotalCount": 0}
    assert decoder.sequence_gaps == [] and decoder.unknown_sets == 0


# ---------------------------------------------------------------------------------------------
# (2) tshark (Wireshark's cflow dissector) reads labkit's UDP datagrams


def write_pcap(path: Path, datagrams: list[bytes], dst_port: int = 4739) -> None:
    """A classic pcap (LINKTYPE_ETHERNET) of IPv4/UDP datagrams from 10.0.0.1 to 10.0.0.2."""

    def checksum(header: bytes) -> int:
        total = sum(struct.unpack(f"!{len(header) // 2}H", header))
        total = (total >> 16) + (total & 0xFFFF)
        return ~(total + (total >> 16)) & 0xFFFF

    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for index, payload in enumerate(datagrams):
            udp = struct.pack("!HHHH", 50000, dst_port, 8 + len(payload), 0) + payload  # no UDP checksum
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), index + 1, 0, 64, 17, 0,
                             socket.inet_aton("10.0.0.1"), socket.inet_aton("10.0.0.2"))
            ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
            frame = bytes.fromhex("0a00270000020a0027000001" "0800") + ip + udp
            f.write(struct.pack("<IIII", 1_700_000_000 + index, 0, len(frame), len(frame)) + frame)


def _keep_duplicates(pairs: list[tuple[str, object]]) -> dict:
    out: dict = {}
    for key, value in pairs:
        out.setdefault(key, []).append(value)
    return {k: v[0] if len(v) == 1 else v for k, v in out.items()}


def _find(tree: object, key: str) -> list:
    """Every value of ``key`` anywhere in tshark's JSON tree, flattened."""
    found: list = []
    if isinstance(tree, dict):
        for k, v in tree.items():
            if k == key:
                found += v if isinstance(v, list) else [v]
            found += _find(v, key)
    elif isinstance(tree, list):
        for item in tree:
            found += _find(item, key)
    return found


# Wireshark's cflow dissector ignores templates of more than cflow.max_template_fields fields
# (60 by default); the Flow Aggregator's template has 64 (docs/flows.md, "Wireshark").
CFLOW_OPTIONS = ["-o", "cflow.max_template_fields:64"]


def tshark_json(pcap: Path, *options: str) -> list:
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.skip("tshark is not installed (apt-get install tshark); it is the Wireshark "
                    "cross-check of labkit's IPFIX encoding")
    result = subprocess.run([tshark, "-r", str(pcap), "-T", "json", "-d", "udp.port==4739,cflow", *options],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [p["_source"]["layers"]["cflow"] for p in json.loads(result.stdout, object_pairs_hook=_keep_duplicates)]


def captured(tmp_path: Path, templates: list[Template], *records: dict) -> Path:
    """A pcap of what IPFIXExporter really sends over UDP, one export per record."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        sink.settimeout(2)
        with IPFIXExporter(*sink.getsockname(), domain_id=11, templates=templates) as exporter:
            for record in records:
                exporter.export([record])
        datagrams = [sink.recv(65535) for _ in records]
    pcap = tmp_path / "labkit-ipfix.pcap"
    write_pcap(pcap, datagrams)
    return pcap


def test_tshark_decodes_the_flow_aggregators_template_given_max_template_fields(tmp_path: Path) -> None:
    template = flow_record_template(256, aggregated=True)
    assert len(template.fields) == 64  # more than Wireshark's default limit of 60
    record = AggregatedFlowRecord("10.10.0.1", "10.10.1.2", 40000, 80, 6, source_pod_name="client",
                                  packet_total_count=42, throughput=8000)
    pcap = captured(tmp_path, [template], record.to_ipfix())
    default, = tshark_json(pcap)
    assert _find(default, "cflow.srcport") == []
    assert any("More entries (64) than we can handle" in m for m in _find(default, "_ws.expert.message"))
    flows, = tshark_json(pcap, *CFLOW_OPTIONS)
    assert _find(flows, "cflow.srcport") == ["40000"] and _find(flows, "cflow.dstport") == ["80"]
    assert _find(flows, "cflow.srcaddr") == ["10.10.0.1"] and _find(flows, "cflow.protocol") == ["6"]
    assert _find(flows, "_ws.expert.message") == []


def test_tshark_decodes_labkit_udp_export(tmp_path: Path) -> None:
    pcap = captured(tmp_path, [TEMPLATE], RECORD, {**RECORD, "sourceTransportPort": 40001, "packetTotalCount": 43})
    flows = tshark_json(pcap, *CFLOW_OPTIONS)
    assert len(flows) == 2
    assert _find(flows, "cflow.od_id") == ["11", "11"]
    assert _find(flows, "cflow.sequence") == ["0", "1"]
    assert _find(flows, "cflow.srcaddr") == ["10.10.0.1", "10.10.0.1"]
    assert _find(flows, "cflow.dstaddr") == ["10.10.1.2", "10.10.1.2"]
    assert _find(flows, "cflow.srcport") == ["40000", "40001"]
    assert _find(flows, "cflow.dstport") == ["80", "80"]
    assert _find(flows, "cflow.protocol") == ["6", "6"]
    # packetTotalCount then reversePacketTotalCount (tshark names both "permanent packets")
    assert _find(flows, "cflow.permanent_packets") == ["42", "40", "43", "40"]
    assert _find(flows, "cflow.packets") == ["7", "7"]
    # The template announces the Antrea IEs under enterprise 56506, the reverse one under 29305.
    pens = _find(flows[0], "cflow.template_ipfix_field_pen")
    assert pens.count(str(ANTREA_PEN)) == 6 and pens.count(str(REVERSE_PEN)) == 1
    enterprise_ids = _find(flows[0], "cflow.template_ipfix_field_type_enterprise")
    assert enterprise_ids == ["100", "101", "103", "110", "139", "137"]
    # ... and the data record carries their values (sourcePodName 300+ octets, 3-octet length).
    values = _find(flows[1], "cflow.enterprise_private_entry")
    assert values[0] == b"x".hex()
    assert bytes.fromhex(values[1].replace(":", "")).decode() == RECORD["sourcePodName"]
    assert values[-2:] == ["01", "02"]  # ingressNetworkPolicyRuleAction Allow, flowType inter-Node
