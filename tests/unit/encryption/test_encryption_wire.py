"""The bytes labkit.encryption.wire builds: headers, checksums, crypto, pcap, and what tshark makes of them."""

from __future__ import annotations

import ipaddress
import struct

import pytest
from cryptography.exceptions import InvalidTag

from labkit.encryption import (
    MODES,
    PcapError,
    PodEndpoint,
    build_capture,
    capture_table,
    dissect,
    endpoints_from_state,
    esp,
    noise,
    read_pcap,
    tshark_available,
    write_pcap,
)
from labkit.encryption.headers import internet_checksum
from labkit.encryption.wire import GLOBAL_VIRTUAL_MAC, check_mode, http_exchange

SRC = PodEndpoint("x/a", "10.244.1.2", "kind-worker", "172.18.0.3")
DST = PodEndpoint("y/a", "10.244.2.3", "kind-worker2", "172.18.0.4")
needs_tshark = pytest.mark.skipif(not tshark_available(), reason="tshark is not installed (apt-get install tshark)")


@pytest.fixture(scope="module")
def captures():
    return {mode: build_capture(mode, SRC, DST) for mode in MODES}


def _ip_ok(packet: bytes) -> bool:
    return internet_checksum(packet[:20]) == 0


def _l4_ok(ip_packet: bytes) -> bool:
    proto, total = ip_packet[9], struct.unpack_from("!H", ip_packet, 2)[0]
    seg = ip_packet[20:total]
    pseudo = ip_packet[12:20] + struct.pack("!BBH", 0, proto, len(seg))
    return internet_checksum(pseudo + seg) == 0


# ---------------------------------------------------------------------------- none: Geneve in clear

def test_geneve_frames_carry_the_pod_packet_in_clear(captures):
    cap = captures["none"]
    get = next(f for f in cap.frames if f.note == "HTTP GET")
    d = dissect(get.data)
    assert d.names == ["eth", "ip", "udp", "geneve", "eth", "ip", "tcp", "http"]
    outer, udp, gen, inner_eth, inner = d.layers[1], d.layers[2], d.layers[3], d.layers[4], d.layers[5]
    assert (outer.fields["src"], outer.fields["dst"]) == (SRC.node_ip, DST.node_ip)
    assert udp.fields["dport"] == 6081 and udp.fields["checksum"] == 0  # OVS leaves csum off (tunnelCsum=false)
    assert gen.fields == {"vni": 0, "protocol": 0x6558}
    assert inner_eth.fields["dst"] == GLOBAL_VIRTUAL_MAC and inner_eth.fields["src"] == SRC.gw_mac
    assert (inner.fields["src"], inner.fields["dst"], inner.fields["ttl"]) == (SRC.pod_ip, DST.pod_ip, 63)
    assert d.layers[-1].fields["line"] == "GET / HTTP/1.1"
    assert _ip_ok(get.data[14:]) and _ip_ok(get.data[inner.offset:])
    assert _l4_ok(get.data[inner.offset:])
    assert cap.contains("GET / HTTP/1.1") and not cap.emulated


def test_replies_travel_the_other_way_with_the_same_flow_hash_port(captures):
    frames = captures["none"].frames
    req, rep = dissect(frames[0].data), dissect(frames[1].data)
    assert rep.layers[1].fields["src"] == DST.node_ip and rep.layers[4].fields["src"] == DST.gw_mac
    assert req.layers[2].fields["sport"] == rep.layers[2].fields["sport"]
    assert 32768 <= req.layers[2].fields["sport"] < 61000


# ---------------------------------------------------------------------------- wireGuard

def test_wireguard_messages_have_the_protocol_sizes(captures):
    cap = captures["wireGuard"]
    kinds = [dissect(f.data).find("wg").fields["type"] for f in cap.frames]
    assert kinds[:2] == [1, 2] and set(kinds[2:]) == {4}
    init = dissect(cap.frames[0].data)
    assert len(cap.frames[0].data) - init.find("wg").offset == noise.INITIATION_LEN == 148
    assert len(cap.frames[1].data) - dissect(cap.frames[1].data).find("wg").offset == noise.RESPONSE_LEN == 92
    udp = init.find("udp").fields
    assert udp["sport"] == udp["dport"] == 51820
    assert _l4_ok(cap.frames[0].data[14:])  # the kernel module fills in the UDP checksum
    assert cap.emulated and cap.metadata["emulated"] is True


def test_wireguard_transport_decrypts_to_the_pod_packet(captures):
    cap = captures["wireGuard"]
    s = cap.wg_session
    counters = {"request": 0, "reply": 0}
    for frame in cap.frames[2:]:
        wg = dissect(frame.data).find("wg")
        key = s.initiator_send_key if frame.direction == "request" else s.responder_send_key
        receiver, counter, padded = noise.open_transport(frame.data[wg.offset:], key)
        assert receiver == (s.responder_index if frame.direction == "request" else s.initiator_index)
        assert counter == counters[frame.direction]
        counters[frame.direction] += 1
        assert len(padded) % 16 == 0 and padded.rstrip(b"\x00") == frame.inner.rstrip(b"\x00")
        with pytest.raises(InvalidTag):
            noise.open_transport(frame.data[wg.offset:], bytes(32))
    assert not cap.contains("GET /") and not cap.contains(ipaddress.ip_address(SRC.pod_ip).packed)


def test_keys_are_clamped_curve25519_and_deterministic():
    a, b = noise.KeyPair.from_seed("n1"), noise.KeyPair.from_seed("n1")
    assert a == b and a.private[0] & 7 == 0 and a.private[31] & 0x80 == 0 and a.private[31] & 0x40
    assert len(a.public_b64) == 44


# ---------------------------------------------------------------------------- ipsec

def test_esp_transport_mode_protects_the_geneve_packet(captures):
    cap = captures["ipsec"]
    sa = {s.src: s for s in cap.esp_sas}
    for seq, frame in enumerate([f for f in cap.frames if f.direction == "request"], 1):
        d = dissect(frame.data)
        assert d.names == ["eth", "ip", "esp"]
        ip = d.layers[1]
        assert ip.fields["proto"] == 50 and _ip_ok(frame.data[14:])
        assert d.layers[2].fields["sequence"] == seq  # RFC 4303: starts at 1
        esp_bytes = frame.data[d.layers[2].offset:]
        assert (len(esp_bytes) - 8 - 8 - 16) % 4 == 0  # trailer aligns the ICV on 4 bytes
        got_seq, next_header, clear = esp.open_esp(sa[ip.fields["src"]], esp_bytes)
        assert got_seq == seq and next_header == 17
        assert struct.unpack_from("!H", clear, 2)[0] == 6081  # UDP dst port of the Geneve packet
    assert sa[SRC.node_ip].cipher == "AES-256-GCM-16"  # ovs-monitor-ipsec: esp=aes256gcm16
    assert cap.emulated and not cap.contains("HTTP/1.1")


def test_esp_tunnel_mode_adds_an_ipv4_header():
    cap = build_capture("ipsec", SRC, DST, esp_mode="tunnel")
    d = dissect(cap.frames[0].data)
    sa = cap.esp_sas[0]
    _, next_header, clear = esp.open_esp(sa, cap.frames[0].data[d.find("esp").offset:])
    assert next_header == 4 and clear[9] == 17  # IPv4-in-ESP, whose payload is the UDP/Geneve packet


def test_a_wrong_esp_key_fails_authentication(captures):
    cap = captures["ipsec"]
    d = dissect(cap.frames[0].data)
    wrong = esp.SecurityAssociation(cap.esp_sas[0].spi, bytes(36), SRC.node_ip, DST.node_ip)
    with pytest.raises(InvalidTag):
        esp.open_esp(wrong, cap.frames[0].data[d.find("esp").offset:])


# ---------------------------------------------------------------------------- API edges

def test_mode_names_are_antreas():
    with pytest.raises(ValueError, match="did you mean 'wireGuard'"):
        check_mode("wireguard")
    with pytest.raises(ValueError, match="same Node"):
        build_capture("none", SRC, SRC)


def test_endpoints_from_a_lab_state():
    from labkit import Lab

    with Lab(backend="sim", profile="workshop", name="enc-unit") as lab:
        src, dst = endpoints_from_state(lab.state, "x/a", "y/a")
        assert (src.node, dst.node) == ("kind-worker", "kind-worker2")
        assert (src.node_ip, dst.pod_ip) == ("172.18.0.3", lab.pod_ip("y/a"))
        with pytest.raises(ValueError, match="never leaves the Node"):
            endpoints_from_state(lab.state, "x/a", "x/c")


def test_http_exchange_is_a_whole_tcp_conversation():
    notes = [p.note for p in http_exchange(SRC, DST)]
    assert notes[:5] == ["TCP SYN", "TCP SYN-ACK", "TCP ACK", "HTTP GET", "HTTP 200 OK"]


# ---------------------------------------------------------------------------- pcap

def test_pcap_round_trip(tmp_path, captures):
    path = captures["none"].write_pcap(tmp_path / "none.pcap")
    linktype, records = read_pcap(path)
    assert linktype == 1 and [r.data for r in records] == [f.data for f in captures["none"].frames]
    assert records[1].time_s == pytest.approx(captures["none"].frames[1].time_s, abs=1e-6)
    raw = path.read_bytes()
    assert struct.unpack_from("<IHH", raw) == (0xA1B2C3D4, 2, 4)


def test_pcapng_is_refused_with_a_hint(tmp_path):
    path = tmp_path / "x.pcapng"
    path.write_bytes(b"\x0a\x0d\x0d\x0a" + bytes(40))
    with pytest.raises(PcapError, match="pcapng"):
        read_pcap(path)


def test_the_builtin_dissector_table_needs_no_tshark(tmp_path, captures):
    path = write_pcap(tmp_path / "wg.pcap", [(f.time_s, f.data) for f in captures["wireGuard"].frames])
    table = capture_table(path, engine="labkit")
    assert list(table.columns) == ["time", "src", "dst", "protocol", "length", "info", "layers"]
    assert set(table.protocol) == {"WireGuard"} and table.attrs["engine"] == "labkit"
    assert table["info"].iloc[2].startswith("Transport Data, receiver=0x")


# ---------------------------------------------------------------------------- tshark, an independent reader

@needs_tshark
@pytest.mark.parametrize("mode, expected", [("none", {"geneve", "http"}), ("wireGuard", {"wg"}), ("ipsec", {"esp"})])
def test_tshark_decodes_each_mode(captures, mode, expected):
    table = captures[mode].table(engine="tshark")
    layers = set(":".join(table.layers).split(":"))
    assert expected <= layers
    if mode == "none":
        assert "GET / HTTP/1.1" in " ".join(table["info"])
    if mode == "wireGuard":
        sender = captures[mode].wg_session.initiator_index
        assert table["info"].iloc[0] == f"Handshake Initiation, sender=0x{sender:08X}"
        assert any(i.startswith("Transport Data") for i in table["info"]) and "tcp" not in layers
    if mode == "ipsec":
        assert set(table.protocol) == {"ESP"} and "udp" not in layers


@needs_tshark
@pytest.mark.parametrize("mode", ["wireGuard", "ipsec"])
def test_tshark_decrypts_with_our_keys(captures, mode):
    """Wireshark's own WireGuard (Noise) and ESP (AES-GCM) code recovers the HTTP exchange: the
    emulated crypto is the real construction, not a look-alike."""
    table = captures[mode].table(engine="tshark", decrypt=True)
    assert "GET / HTTP/1.1" in " ".join(table["info"])
    assert SRC.pod_ip in set(table.src)


@needs_tshark
def test_both_dissectors_agree(captures):
    for mode, cap in captures.items():
        ours, theirs = cap.table(engine="labkit"), cap.table(engine="tshark")
        cols = ["src", "dst", "protocol", "length"]
        assert ours[cols].equals(theirs[cols]), mode
