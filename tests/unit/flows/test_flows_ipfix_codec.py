"""The RFC 7011 message codec (labkit.flows.ipfix): encoder, decoder, templates."""

from __future__ import annotations

import struct

import pytest

from labkit.flows import ipfix
from labkit.flows.ies import DATA_TYPES, IANA_ELEMENTS, IERegistry, IPFIXError
from labkit.flows.ipfix import (
    Decoder,
    Template,
    encode_message,
    encode_messages,
    parse_header,
    split_stream,
)

ANTREA_FIELDS = ["sourceIPv4Address", "destinationIPv4Address", "sourceTransportPort",
                 "destinationTransportPort", "protocolIdentifier", "packetTotalCount",
                 "reversePacketTotalCount", "flowStartSeconds", "sourcePodName",
                 "destinationPodName", "ingressNetworkPolicyRuleAction", "flowType"]
ANTREA_RECORD = {
    "sourceIPv4Address": "10.10.0.1", "destinationIPv4Address": "10.10.1.2",
    "sourceTransportPort": 40000, "destinationTransportPort": 80, "protocolIdentifier": 6,
    "packetTotalCount": 42, "reversePacketTotalCount": 40, "flowStartSeconds": 1_700_000_000,
    "sourcePodName": "client-a", "destinationPodName": "web-0",
    "ingressNetworkPolicyRuleAction": 1, "flowType": 2,
}


def sets_of(message: bytes) -> list[tuple[int, bytes]]:
    """(set id, body) of every set of a message, parsed independently of the decoder."""
    _, length, _, _, _ = struct.unpack_from("!HHIII", message)
    out, offset = [], 16
    while offset < length:
        set_id, set_length = struct.unpack_from("!HH", message, offset)
        out.append((set_id, message[offset + 4:offset + set_length]))
        offset += set_length
    return out


def message(domain: int, sets: list[tuple[int, bytes]], sequence: int = 0) -> bytes:
    """A hand-built message (no labkit encoder involved)."""
    body = b"".join(struct.pack("!HH", set_id, 4 + len(data)) + data for set_id, data in sets)
    return struct.pack("!HHIII", 10, 16 + len(body), 1_700_000_000, sequence, domain) + body


# ---------------------------------------------------------------------------------------------
# Encoding


def test_header_and_template_set_on_the_wire() -> None:
    tmpl = Template.from_names(256, ["sourceTransportPort", "sourcePodName"])
    msg = encode_message(7, [tmpl], export_time=1_700_000_000, sequence_number=5)
    assert parse_header(msg) == ipfix.MessageHeader(10, len(msg), 1_700_000_000, 5, 7)
    # §3.4.1: template id 256, 2 fields; §3.2: port (7, 2 octets); sourcePodName with the
    # enterprise bit (0x8000 | 101), variable length (65535), then enterprise 56506 (0xdcba).
    assert sets_of(msg) == [(2, bytes.fromhex("01000002" "00070002" "8065ffff0000dcba"))]


def test_options_template_definition() -> None:
    tmpl = Template.from_names(462, ["exportingProcessId", "notSentPacketTotalCount"],
                               scope_field_count=1)
    assert tmpl.is_options and tmpl.set_id == 3
    # §3.4.2.2: template id, field count, scope field count, then the specifiers
    assert tmpl.definition().hex() == "01ce00020001" "00900004" "00a70008"


def test_data_set_carries_several_records_and_varlen_forms() -> None:
    tmpl = Template.from_names(300, ["protocolIdentifier", "interfaceName"])
    records = [{"protocolIdentifier": 6, "interfaceName": "a" * n} for n in (3, 254, 255, 1000)]
    msg = encode_message(1, [], [(tmpl, r) for r in records])
    ((set_id, body),) = sets_of(msg)  # one Data Set, four records
    assert set_id == 300
    # §7: <255 octets: a 1-octet length; 255 and more: 0xff then a 2-octet length.
    assert body[:5] == b"\x06\x03aaa"
    assert body[5:7] == b"\x06\xfe"
    assert body[261:265] == b"\x06\xff\x00\xff"
    assert body[520:524] == b"\x06\xff\x03\xe8"
    decoder = Decoder()
    decoder.feed(encode_message(1, [tmpl]))
    assert [r["interfaceName"] for r in decoder.feed(msg)] == [r["interfaceName"] for r in records]


def test_encode_reports_every_missing_and_bad_value_at_once() -> None:
    tmpl = Template.from_names(256, ANTREA_FIELDS)
    bad = {**ANTREA_RECORD, "sourceTransportPort": 70000, "flowType": "two"}
    del bad["sourcePodName"], bad["packetTotalCount"]
    with pytest.raises(IPFIXError) as info:
        encode_messages(1, [tmpl], [bad])
    text = str(info.value)
    for part in ("sourcePodName is missing", "packetTotalCount is missing",
                 "sourceTransportPort", "flowType", "nothing was encoded"):
        assert part in text


def test_template_from_unknown_names_lists_them_all() -> None:
    with pytest.raises(IPFIXError) as info:
        Template.from_names(256, ["sourcePodNme", "packetTotalCont", "protocolIdentifier"])
    assert "sourcePodNme" in str(info.value) and "packetTotalCont" in str(info.value)
    assert "template 256" in str(info.value)


@pytest.mark.parametrize(("template_id", "fields", "scope", "match"), [
    (255, ["protocolIdentifier"], 0, "256..65535"),
    (256, [], 0, "withdrawal"),
    (256, ["protocolIdentifier"], 2, "scope field count"),
    (256, [("sourceIPv4Address", 2)], 0, "cannot have length 2"),
    (256, [("packetTotalCount", 65535)], 0, "cannot have length 65535"),
])
def test_invalid_templates(template_id, fields, scope, match) -> None:
    with pytest.raises(IPFIXError, match=match):
        Template.from_names(template_id, fields, scope_field_count=scope)


def test_messages_split_at_max_size_and_sequence_numbers_count_records() -> None:
    tmpl = Template.from_names(256, ANTREA_FIELDS)
    msgs = encode_messages(3, [tmpl], [ANTREA_RECORD] * 40, sequence_number=100,
                           max_message_size=512)
    assert len(msgs) > 3 and all(len(m) <= 512 for m in msgs)
    decoder = Decoder()
    records, expected_seq = [], 100
    for m in msgs:
        assert parse_header(m).sequence_number == expected_seq  # §3.1
        got = decoder.feed(m)
        expected_seq += len(got)
        records += got
    assert len(records) == 40 and decoder.sequence_gaps == []
    assert all(dict(r) == dict(records[0]) for r in records)


def test_entry_too_large_for_any_message() -> None:
    tmpl = Template.from_names(256, ["interfaceName"])
    with pytest.raises(IPFIXError, match="cannot fit"):
        encode_messages(1, [tmpl], [{"interfaceName": "x" * 600}], max_message_size=512)
    with pytest.raises(IPFIXError, match="2 messages"):
        encode_message(1, [tmpl], [{"interfaceName": "x" * 400}] * 2, max_message_size=512)


def test_sequence_number_wraps_modulo_2_32() -> None:
    tmpl = Template.from_names(256, ["protocolIdentifier"])
    msgs = encode_messages(1, [], [(tmpl, {"protocolIdentifier": 6})] * 3,
                           sequence_number=(1 << 32) - 2, max_message_size=16 + 4 + 1)
    assert [parse_header(m).sequence_number for m in msgs] == [(1 << 32) - 2, (1 << 32) - 1, 0]


def test_records_need_a_template_when_several_are_given() -> None:
    a = Template.from_names(256, ["protocolIdentifier"])
    b = Template.from_names(257, ["ipVersion"])
    with pytest.raises(IPFIXError, match="pairs"):
        encode_messages(1, [a, b], [{"protocolIdentifier": 6}])
    msg = encode_message(1, [a, b], [(a, {"protocolIdentifier": 6}), (b, {"ipVersion": 4}),
                                     (a, {"protocolIdentifier": 17})])
    assert [s for s, _ in sets_of(msg)] == [2, 256, 257, 256]
    assert [dict(r) for r in Decoder().feed(msg)] == [
        {"protocolIdentifier": 6}, {"ipVersion": 4}, {"protocolIdentifier": 17}]


# ---------------------------------------------------------------------------------------------
# Decoding


def test_decoder_keeps_templates_per_exporter_and_domain() -> None:
    port = Template.from_names(256, ["sourceTransportPort"])
    name = Template.from_names(256, ["sourcePodName"])
    decoder = Decoder()
    decoder.feed(encode_message(1, [port]), exporter="node-a")
    decoder.feed(encode_message(1, [name]), exporter="node-b")
    decoder.feed(encode_message(2, [name]), exporter="node-a")
    assert decoder.feed(encode_message(1, [], [(port, {"sourceTransportPort": 80})]), "node-a")[0] \
        == {"sourceTransportPort": 80}
    rec = decoder.feed(encode_message(2, [], [(name, {"sourcePodName": "x"})]), "node-a")[0]
    assert (rec.exporter, rec.observation_domain_id, rec.template_id) == ("node-a", 2, 256)
    assert rec == {"sourcePodName": "x"}
    assert set(decoder.templates) == {("node-a", 1, 256), ("node-b", 1, 256), ("node-a", 2, 256)}
    decoder.forget("node-a")
    assert set(decoder.templates) == {("node-b", 1, 256)}


def test_unknown_template_is_counted_not_fatal_and_no_false_gap() -> None:
    tmpl = Template.from_names(256, ["protocolIdentifier"])
    decoder = Decoder()
    data = [(tmpl, {"protocolIdentifier": 6})] * 3
    assert decoder.feed(encode_message(1, [], data, sequence_number=0)) == []
    assert decoder.unknown_sets == 1
    decoder.feed(encode_message(1, [tmpl], data, sequence_number=3))
    assert decoder.sequence_gaps == []  # the undecodable message's count was unknown


def test_sequence_gap_reports_lost_records() -> None:
    tmpl = Template.from_names(256, ["protocolIdentifier"])
    msgs = encode_messages(9, [], [(tmpl, {"protocolIdentifier": 6})] * 6,
                           max_message_size=16 + 4 + 1)  # one record per message
    decoder = Decoder()
    decoder.feed(encode_message(9, [tmpl]), exporter="x")
    for m in msgs[:2] + msgs[4:]:  # 2 records, then 2 records lost
        decoder.feed(m, exporter="x")
    (gap,) = decoder.sequence_gaps
    assert (gap.exporter, gap.observation_domain_id, gap.expected, gap.received) == ("x", 9, 2, 4)
    assert gap.missing_records == 2


def test_template_withdrawal_one_and_all() -> None:
    a = Template.from_names(256, ["protocolIdentifier"])
    b = Template.from_names(257, ["ipVersion"])
    opt = Template.from_names(258, ["exportingProcessId", "notSentPacketTotalCount"], scope_field_count=1)
    decoder = Decoder()
    decoder.feed(encode_message(1, [a, b, opt]))
    decoder.feed(encode_message(1, withdrawals=[a]))  # §8.1
    assert set(k[2] for k in decoder.templates) == {257, 258}
    assert decoder.feed(encode_message(1, [], [(a, {"protocolIdentifier": 1})])) == []
    decoder.feed(encode_message(1, withdrawals=[2]))  # all (non-options) templates
    assert set(k[2] for k in decoder.templates) == {258}
    decoder.feed(encode_message(1, withdrawals=[3]))  # all options templates
    assert decoder.templates == {}
    withdrawal = encode_message(1, withdrawals=[opt])
    assert sets_of(withdrawal) == [(3, bytes.fromhex("01020000"))]


def test_options_records_are_flagged() -> None:
    opt = Template.from_names(462, ["exportingProcessId", "notSentPacketTotalCount"],
                              scope_field_count=1)
    (rec,) = Decoder().feed(encode_message(0, [opt], [{"exportingProcessId": 1,
                                                         "notSentPacketTotalCount": 0}]))
    assert rec.is_options and rec == {"exportingProcessId": 1, "notSentPacketTotalCount": 0}


def test_padding_is_tolerated_in_every_kind_of_set() -> None:
    fixed = Template.from_names(256, ["sourceTransportPort", "protocolIdentifier"])  # 3 octets
    varlen = Template.from_names(257, ["protocolIdentifier", "interfaceName"])
    msg = message(1, [
        (2, fixed.definition() + varlen.definition() + b"\0\0\0"),  # §3.3.1 padding
        (256, fixed.encode_record({"sourceTransportPort": 80, "protocolIdentifier": 6}) * 2 + b"\0\0"),
        # padding is shorter than the shortest record (§3.3.1), here 2 octets
        (257, varlen.encode_record({"protocolIdentifier": 17, "interfaceName": "eth0"}) + b"\0"),
    ])
    records = Decoder().feed(msg)
    assert [dict(r) for r in records] == [
        {"sourceTransportPort": 80, "protocolIdentifier": 6}] * 2 + [
        {"protocolIdentifier": 17, "interfaceName": "eth0"}]


def test_reduced_size_encoding_round_trips_and_decodes() -> None:
    tmpl = Template.from_names(256, [("octetTotalCount", 4), ("packetDeltaCount", 2),
                                     ("observationPointId", 4)])
    decoder = Decoder()
    (rec,) = decoder.feed(encode_message(1, [tmpl], [{"octetTotalCount": 4_000_000_000,
                                                      "packetDeltaCount": 65535,
                                                      "observationPointId": 7001}]))
    assert rec == {"octetTotalCount": 4_000_000_000, "packetDeltaCount": 65535, "observationPointId": 7001}
    with pytest.raises(IPFIXError, match="packetDeltaCount"):
        encode_message(1, [tmpl], [{"octetTotalCount": 1, "packetDeltaCount": 65536,
                                    "observationPointId": 1}])


def test_unknown_ies_decode_as_raw_bytes_named_by_number() -> None:
    tmpl = Template.from_names(256, ["sourcePodName", "protocolIdentifier", "12345:7"])
    msg = encode_message(1, [tmpl], [{"sourcePodName": "client", "protocolIdentifier": 6,
                                      "12345:7": b"\x01\x02"}])
    iana_only = Decoder(IERegistry(IANA_ELEMENTS))
    (rec,) = iana_only.feed(msg)
    assert rec == {"56506:101": b"client", "protocolIdentifier": 6, "12345:7": b"\x01\x02"}


def test_impossible_field_length_from_a_foreign_exporter_is_kept_raw() -> None:
    # An exporter declaring sourceIPv4Address with 3 octets: the field comes back as bytes.
    tmpl_set = struct.pack("!HHHHHH", 256, 2, 8, 3, 4, 1)
    msg = message(1, [(2, tmpl_set), (256, b"\x0a\x00\x01\x06")])
    assert Decoder().feed(msg)[0] == {"sourceIPv4Address": b"\x0a\x00\x01", "protocolIdentifier": 6}


def test_duplicate_ies_keep_every_value() -> None:
    tmpl = Template.from_names(256, ["ingressInterface", "interfaceName", "egressInterface",
                                     "interfaceName"])
    rec = {"ingressInterface": 3, "egressInterface": 4, "interfaceName": ["in0", "out0"]}
    (got,) = Decoder().feed(encode_message(1, [tmpl], [rec]))
    assert got["interfaceName"] == "in0" and got.getall("interfaceName") == ["in0", "out0"]
    assert got.fields[1] == ("interfaceName", "in0") and len(got) == 3
    with pytest.raises(IPFIXError, match="list of 2"):
        encode_message(1, [tmpl], [{**rec, "interfaceName": "one"}])


def test_concatenated_messages_and_stream_framing() -> None:
    tmpl = Template.from_names(256, ["protocolIdentifier"])
    stream = encode_message(1, [tmpl]) + encode_message(1, [], [(tmpl, {"protocolIdentifier": 6})])
    assert len(Decoder().feed(stream)) == 1
    messages, rest = split_stream(stream + stream[:10])
    assert len(messages) == 2 and rest == stream[:10]
    assert split_stream(stream[:15]) == ([], stream[:15])


@pytest.mark.parametrize(("data", "match"), [
    (b"\x00\x09" + b"\0" * 18, "NetFlow v9"),
    (b"\x00\x0a\x00\x08" + b"\0" * 12, "shorter than the header"),
    (b"\x00\x0a", "shorter than a message header"),
    (struct.pack("!HHIII", 10, 40, 0, 0, 1) + b"\0" * 4, "says 40 octets but only 20 arrived"),
    (struct.pack("!HHIII", 10, 18, 0, 0, 1) + b"\x01\x00", "inside a set header"),
    (message(1, [(256, b"")])[:-4] + struct.pack("!HH", 256, 90), "does not fit"),
    (message(1, [(2, struct.pack("!HH", 100, 1) + b"\0\x01\0\x01")]), "reserved"),
    (message(1, [(3, struct.pack("!HHH", 300, 1, 0) + b"\0\x01\0\x01")]), "no scope field"),
    (message(1, [(2, struct.pack("!HHHH", 300, 2, 1, 1))]), "cut short"),
])
def test_malformed_messages_raise(data: bytes, match: str) -> None:
    with pytest.raises(IPFIXError, match=match):
        Decoder().feed(data)


def test_data_record_overrun_raises_unless_it_is_padding() -> None:
    tmpl = Template.from_names(256, ["protocolIdentifier", "interfaceName"])
    decoder = Decoder()
    decoder.feed(encode_message(1, [tmpl]))
    with pytest.raises(IPFIXError, match="inside field interfaceName"):
        decoder.feed(message(1, [(256, b"\x06\x09abc")]))


def test_module_exports() -> None:
    assert set(ipfix.__all__) <= set(dir(ipfix))
    assert DATA_TYPES["string"].is_variable_length
