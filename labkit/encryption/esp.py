"""ESP with AES-GCM (RFC 4303 + RFC 4106), as OVS's IPsec sets it up between tunnel endpoints.

What OVS configures (``ipsec/ovs-monitor-ipsec.in``, strongSwan helper): ``type=transport``,
``esp=aes256gcm16-modp2048``, and one connection pair per tunnel port selecting
``leftprotoport=udp/6081`` (Geneve). So the ESP header sits *between* the Geneve packet's outer
IPv4 header (node IP to node IP) and its UDP header, and only the UDP/Geneve/inner frame is
encrypted. ``mode="tunnel"`` (a new IPv4 header around the whole Geneve packet, next header 4)
is here for comparison: it is what many site-to-site VPNs use, and costs 20 more bytes.

Layout::

    SPI(4) | sequence(4) | IV(8) | AES-GCM( payload | padding | pad length(1) | next header(1) ) | ICV(16)

Nonce = salt(4, from the key material) ‖ IV(8); AAD = SPI ‖ sequence (no ESN). The IV is the
sequence number, as Linux's ``seqiv`` generator does in effect: unique per packet under one key.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .headers import IPPROTO_ESP, IPPROTO_IPIP, internet_checksum, ipv4

ESP_HEADER_LEN = 8
ESP_IV_LEN = 8
ESP_ICV_LEN = 16
ESP_TRAILER_FIXED = 2  # pad length + next header


@dataclass(frozen=True)
class SecurityAssociation:
    """One direction of an ESP SA: SPI and key material (AES key ‖ 4-byte salt, RFC 4106 §8.1)."""

    spi: int
    key_material: bytes  # 20 bytes (AES-128-GCM) or 36 bytes (AES-256-GCM, what OVS asks for)
    src: str
    dst: str

    @property
    def cipher(self) -> str:
        return f"AES-{(len(self.key_material) - 4) * 8}-GCM-16"

    def wireshark_uat(self) -> str:
        """One ``esp_sa`` UAT record for ``tshark -o "uat:esp_sa:..."`` (Wireshark 3.x/4.x field order)."""
        algo = "AES-GCM with 16 octet ICV [RFC4106]"
        return (f'"IPv4","{self.src}","{self.dst}","0x{self.spi:08x}","{algo}",'
                f'"0x{self.key_material.hex()}","NULL",""')


def _trailer(payload_len: int, next_header: int) -> bytes:
    # RFC 4303 §2.4: Pad Length and Next Header end on a 4-byte boundary; pad bytes are 1, 2, 3 ...
    pad = -(payload_len + ESP_TRAILER_FIXED) % 4
    return bytes(range(1, pad + 1)) + bytes([pad, next_header])


def esp_payload(sa: SecurityAssociation, sequence: int, plaintext: bytes, next_header: int) -> bytes:
    """The ESP part (header, IV, ciphertext, ICV) protecting ``plaintext``."""
    header = struct.pack("!II", sa.spi, sequence)
    iv = struct.pack("!Q", sequence)
    key, salt = sa.key_material[:-4], sa.key_material[-4:]
    sealed = AESGCM(key).encrypt(salt + iv, plaintext + _trailer(len(plaintext), next_header), header)
    return header + iv + sealed


def open_esp(sa: SecurityAssociation, esp: bytes) -> tuple[int, int, bytes]:
    """Decrypt an ESP payload: (sequence, next header, plaintext without trailer). Raises on a bad ICV."""
    spi, sequence = struct.unpack_from("!II", esp)
    if spi != sa.spi:
        raise ValueError(f"SPI 0x{spi:08x} is not this SA's 0x{sa.spi:08x}")
    iv = esp[ESP_HEADER_LEN:ESP_HEADER_LEN + ESP_IV_LEN]
    key, salt = sa.key_material[:-4], sa.key_material[-4:]
    clear = AESGCM(key).decrypt(salt + iv, esp[ESP_HEADER_LEN + ESP_IV_LEN:], esp[:ESP_HEADER_LEN])
    pad_len, next_header = clear[-2], clear[-1]
    return sequence, next_header, clear[:-(pad_len + ESP_TRAILER_FIXED)]


def protect_transport(sa: SecurityAssociation, sequence: int, ip_packet: bytes) -> bytes:
    """Transport mode: keep the IPv4 header (protocol becomes 50), encrypt what followed it."""
    ihl = (ip_packet[0] & 0x0F) * 4
    header, upper = bytearray(ip_packet[:ihl]), ip_packet[ihl:]
    esp = esp_payload(sa, sequence, upper, next_header=header[9])
    header[9] = IPPROTO_ESP
    struct.pack_into("!H", header, 2, ihl + len(esp))
    struct.pack_into("!H", header, 10, 0)
    struct.pack_into("!H", header, 10, internet_checksum(bytes(header)))
    return bytes(header) + esp


def protect_tunnel(sa: SecurityAssociation, sequence: int, ip_packet: bytes, ttl: int = 64) -> bytes:
    """Tunnel mode: a new IPv4 header (SA endpoints) around ESP(the whole packet, next header 4)."""
    return ipv4(sa.src, sa.dst, IPPROTO_ESP, esp_payload(sa, sequence, ip_packet, IPPROTO_IPIP), ttl=ttl)


__all__ = [
    "ESP_HEADER_LEN",
    "ESP_ICV_LEN",
    "ESP_IV_LEN",
    "ESP_TRAILER_FIXED",
    "SecurityAssociation",
    "esp_payload",
    "open_esp",
    "protect_transport",
    "protect_tunnel",
]
