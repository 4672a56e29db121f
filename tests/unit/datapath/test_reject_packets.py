"""The reject agent's answers, built byte by byte (no OVS needed): what Antrea's packetout.go sends."""

from __future__ import annotations

import socket
import struct

from labkit.backends.ovs.agent import build_reject, checksum, packet_out, parse_packet_in

CLIENT, SERVER = "10.244.1.2", "10.244.2.2"
CMAC, SMAC = bytes.fromhex("0a580af40102"), bytes.fromhex("0a580af40202")


def ip_packet(proto: int, l4: bytes) -> bytes:
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0, 64, proto, 0,
                      socket.inet_aton(CLIENT), socket.inet_aton(SERVER))
    hdr = hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]
    return SMAC + CMAC + b"\x08\x00" + hdr + l4


def test_tcp_syn_gets_rst_ack_with_ack_seq_plus_one():
    syn = struct.pack("!HHIIBBHHH", 40000, 80, 1000, 0, 5 << 4, 0x02, 64240, 0, 0)
    frame, key = build_reject(ip_packet(6, syn))
    assert key == (6, CLIENT, 40000, SERVER, 80)
    assert frame[:6] == CMAC and frame[6:12] == SMAC  # back to the client
    ip = frame[14:34]
    assert checksum(ip) == 0
    assert socket.inet_ntoa(ip[12:16]) == SERVER and socket.inet_ntoa(ip[16:20]) == CLIENT
    tcp = frame[34:]
    sport, dport, seq, ack, _off, flags = struct.unpack("!HHIIBB", tcp[:14])
    assert (sport, dport, seq, ack) == (80, 40000, 0, 1001)
    assert flags == 0x14  # RST + ACK
    pseudo = struct.pack("!4s4sBBH", ip[12:16], ip[16:20], 0, 6, len(tcp))
    assert checksum(pseudo + tcp) == 0


def test_udp_and_icmp_get_host_prohibited_quoting_the_original():
    udp = struct.pack("!HHHH", 50000, 53, 8 + 4, 0) + b"ping"
    original = ip_packet(17, udp)
    frame, key = build_reject(original)
    assert key == (17, CLIENT, 50000, SERVER, 53)
    icmp = frame[34:]
    assert icmp[0] == 3 and icmp[1] == 10 and checksum(icmp) == 0
    assert icmp[8:8 + 28] == original[14:14 + 28]  # IP header + 8 bytes of the datagram
    echo = struct.pack("!BBHHH", 8, 0, 0, 0x1234, 1)
    _, key = build_reject(ip_packet(1, echo))
    assert key == (1, CLIENT, 0x1234, SERVER, 0)
    assert build_reject(ip_packet(1, struct.pack("!BBHI", 3, 3, 0, 0) + b"x" * 28)) is None  # never answer errors
    rst = struct.pack("!HHIIBBHHH", 40000, 80, 1, 1, 5 << 4, 0x04, 0, 0, 0)
    assert build_reject(ip_packet(6, rst)) is None


def test_openflow_messages():
    out = packet_out(b"\x00" * 60, 1, tun_dst="172.18.0.4")
    version, kind, length, _ = struct.unpack("!BBHI", out[:8])
    assert (version, kind, length) == (4, 13, len(out))
    actions_len = struct.unpack("!H", out[16:18])[0]
    assert actions_len == 16 + 16 and out[-60:] == b"\x00" * 60
    match = struct.pack("!HH", 1, 12) + struct.pack("!HBBI", 0x8000, 0, 4, 3) + b"\0" * 4  # OXM in_port
    body = struct.pack("!IHBBQ", 0xFFFFFFFF, 60, 1, 16, 0x2000000000003) + match + b"\0\0" + b"F" * 60
    table, cookie, frame = parse_packet_in(body)
    assert (table, cookie, frame) == (16, 0x2000000000003, b"F" * 60)
