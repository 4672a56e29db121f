"""Protocol headers as bytes: Ethernet, IPv4, UDP, TCP, Geneve, and the Internet checksum.

Pure and small on purpose: every frame labkit writes to a pcap is assembled from these, so a
reader can check each field against its RFC. Addresses are given as text (``"10.244.1.2"``,
``"aa:bb:cc:dd:ee:ff"``) and converted here, once.
"""

from __future__ import annotations

import ipaddress
import struct

ETH_P_IPV4 = 0x0800
ETH_P_TEB = 0x6558  # Transparent Ethernet Bridging: Geneve's protocol type for an inner Ethernet frame
IPPROTO_IPIP = 4
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_ESP = 50

ETH_HEADER_LEN = 14
IPV4_HEADER_LEN = 20
UDP_HEADER_LEN = 8
TCP_HEADER_LEN = 20
GENEVE_HEADER_LEN = 8

GENEVE_PORT = 6081  # IANA, RFC 8926 §3.3; Antrea's default tunnel
VXLAN_PORT = 4789

# TCP flags (RFC 9293 §3.1)
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def mac_bytes(mac: str) -> bytes:
    parts = mac.split(":")
    if len(parts) != 6:
        raise ValueError(f"{mac!r} is not a MAC address (six hex bytes separated by ':')")
    return bytes(int(p, 16) for p in parts)


def mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def ip_bytes(ip: str) -> bytes:
    return ipaddress.IPv4Address(ip).packed


def ip_text(raw: bytes) -> str:
    return str(ipaddress.IPv4Address(raw))


def internet_checksum(data: bytes) -> int:
    """RFC 1071: one's-complement sum of 16-bit words, complemented."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ethernet(dst_mac: str, src_mac: str, ethertype: int, payload: bytes) -> bytes:
    return mac_bytes(dst_mac) + mac_bytes(src_mac) + struct.pack("!H", ethertype) + payload


def ipv4(src: str, dst: str, proto: int, payload: bytes, ttl: int = 64, ident: int = 0, dscp: int = 0,
         dont_fragment: bool = True) -> bytes:
    """An IPv4 header (no options, IHL 5) with a valid header checksum, followed by ``payload``."""
    total = IPV4_HEADER_LEN + len(payload)
    if total > 0xFFFF:
        raise ValueError(f"IPv4 packet of {total} bytes exceeds 65535")
    flags_frag = 0x4000 if dont_fragment else 0
    header = struct.pack("!BBHHHBBH4s4s", 0x45, dscp << 2, total, ident & 0xFFFF, flags_frag, ttl, proto, 0,
                         ip_bytes(src), ip_bytes(dst))
    csum = internet_checksum(header)
    return header[:10] + struct.pack("!H", csum) + header[12:] + payload


def _pseudo_header(src: str, dst: str, proto: int, length: int) -> bytes:
    return ip_bytes(src) + ip_bytes(dst) + struct.pack("!BBH", 0, proto, length)


def udp(src: str, dst: str, sport: int, dport: int, payload: bytes, with_checksum: bool = True) -> bytes:
    """A UDP datagram. ``with_checksum=False`` leaves it 0, which IPv4 allows (RFC 768) and which is
    what OVS sends for Geneve/VXLAN unless the tunnel port has ``options:csum=true`` (Antrea's
    ``tunnelCsum`` defaults to false)."""
    length = UDP_HEADER_LEN + len(payload)
    header = struct.pack("!HHHH", sport, dport, length, 0)
    if not with_checksum:
        return header + payload
    csum = internet_checksum(_pseudo_header(src, dst, IPPROTO_UDP, length) + header + payload) or 0xFFFF
    return header[:6] + struct.pack("!H", csum) + payload


def tcp(src: str, dst: str, sport: int, dport: int, seq: int, ack: int, flags: int, payload: bytes = b"",
        window: int = 64240, options: bytes = b"") -> bytes:
    """A TCP segment with a valid checksum; ``options`` must be padded to 4 bytes by the caller."""
    if len(options) % 4:
        raise ValueError("TCP options must be a multiple of 4 bytes")
    offset = (TCP_HEADER_LEN + len(options)) // 4
    header = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, offset << 4, flags,
                         window, 0, 0) + options
    segment = header + payload
    csum = internet_checksum(_pseudo_header(src, dst, IPPROTO_TCP, len(segment)) + segment)
    return segment[:16] + struct.pack("!H", csum) + segment[18:]


def geneve(vni: int, payload: bytes, protocol: int = ETH_P_TEB, options: bytes = b"") -> bytes:
    """RFC 8926 §3.4: Ver 0, Opt Len in 4-byte words, O/C flags clear, Protocol Type, 24-bit VNI."""
    if len(options) % 4:
        raise ValueError("Geneve options must be a multiple of 4 bytes")
    if not 0 <= vni < 1 << 24:
        raise ValueError(f"VNI {vni} is not a 24-bit value")
    return struct.pack("!BBHI", len(options) // 4, 0, protocol, vni << 8) + options + payload


def tcp_syn_options(mss: int = 1460) -> bytes:
    """MSS, SACK permitted, window scale 7 (what Linux sends, minus timestamps), padded."""
    return struct.pack("!BBH", 2, 4, mss) + bytes([4, 2, 1, 3, 3, 7]) + b"\x00\x00"


__all__ = [
    "ACK",
    "ETH_HEADER_LEN",
    "ETH_P_IPV4",
    "ETH_P_TEB",
    "FIN",
    "GENEVE_HEADER_LEN",
    "GENEVE_PORT",
    "IPPROTO_ESP",
    "IPPROTO_IPIP",
    "IPPROTO_TCP",
    "IPPROTO_UDP",
    "IPV4_HEADER_LEN",
    "PSH",
    "RST",
    "SYN",
    "TCP_HEADER_LEN",
    "UDP_HEADER_LEN",
    "VXLAN_PORT",
    "ethernet",
    "geneve",
    "internet_checksum",
    "ip_bytes",
    "ip_text",
    "ipv4",
    "mac_bytes",
    "mac_text",
    "tcp",
    "tcp_syn_options",
    "udp",
]
