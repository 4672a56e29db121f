"""What a person on the underlay captures between two Nodes, per ``trafficEncryptionMode``.

Pure (no privileges, no network): the sim backend and notebooks on Binder use it. Given two pods
on different Nodes and an HTTP exchange, :func:`build_capture` returns the real frames:

``none``
    Antrea's encap mode: Ethernet / IPv4 node→node / UDP dst 6081 / Geneve (VNI 0, protocol
    0x6558) / inner Ethernet / IPv4 pod→pod / TCP / HTTP, all in clear. As Antrea's
    L3Forwarding flow writes it for a remote pod: inner source MAC = the source Node's
    ``antrea-gw0``, inner destination MAC = the global virtual MAC ``aa:bb:cc:dd:ee:ff``,
    ``tun_dst`` = the peer Node IP, no ``tun_id`` (so VNI 0), TTL decremented once (L3DecTTL).
``wireGuard``
    Antrea routes inter-Node pod traffic to ``antrea-wg0`` instead of the tunnel: IPv4
    node→node / UDP 51820→51820 / WireGuard. The handshake (types 1 and 2) comes first, then
    transport data (type 4) whose ChaCha20-Poly1305 ciphertext is the pod IP packet — no
    Geneve inside.
``ipsec``
    OVS IPsec protects the Geneve packets between Node IPs: ESP in transport mode (IP protocol
    50), AES-256-GCM with a 16-byte ICV, exactly what ``ovs-monitor-ipsec`` asks strongSwan for.

The crypto is real (``cryptography``) but the keys are derived from a seed and no IKE or kernel
took part, so WireGuard and IPsec captures are labelled ``emulated``; the Geneve capture is what
OVS would emit byte for byte. :func:`overhead` measures each mode's per-packet cost from the
bytes it builds.
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import esp as _esp
from . import noise
from .dissect import capture_table, dissect, tshark_options
from .headers import (
    ACK,
    ETH_P_IPV4,
    FIN,
    GENEVE_PORT,
    IPPROTO_TCP,
    IPPROTO_UDP,
    PSH,
    SYN,
    ethernet,
    geneve,
    ipv4,
    tcp,
    tcp_syn_options,
    udp,
)
from .pcap import write_pcap

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..model.cluster import ClusterState

MODES = ("none", "ipsec", "wireGuard")
GLOBAL_VIRTUAL_MAC = "aa:bb:cc:dd:ee:ff"  # Antrea's destination MAC for all tunnelled traffic
WIREGUARD_PORT = noise.DEFAULT_PORT
# Antrea's MTU budget per mode (pkg/agent/config: GeneveOverhead 50, WireGuardOverhead 80 — sized
# for an IPv6 underlay — and IPSecESPOverhead 38 on top of the tunnel's).
ANTREA_MTU_DEDUCTION = {"none": 50, "wireGuard": 80, "ipsec": 50 + 38}
DEFAULT_START_S = 1_700_000_000.0


def check_mode(mode: str) -> str:
    if mode not in MODES:
        close = [m for m in MODES if m.lower() == mode.lower()]
        hint = f" (did you mean {close[0]!r}? Antrea spells it that way)" if close else ""
        raise ValueError(f"trafficEncryptionMode {mode!r} is not one of {', '.join(MODES)}{hint}")
    return mode


def derived_mac(role: str, ip: str) -> str:
    """A stable, locally administered MAC for a Node NIC / gateway / pod that has none given."""
    digest = hashlib.blake2s(f"{role}/{ip}".encode(), digest_size=5).digest()
    return "02:" + ":".join(f"{b:02x}" for b in digest)


@dataclass(frozen=True)
class PodEndpoint:
    """One end of the conversation: a pod and the Node it runs on."""

    pod: str  # "ns/name"
    pod_ip: str
    node: str
    node_ip: str  # the Node's InternalIP: the tunnel / WireGuard endpoint
    node_mac: str = ""  # the Node's underlay NIC
    gw_mac: str = ""  # the Node's antrea-gw0

    def __post_init__(self) -> None:
        if not self.node_mac:
            object.__setattr__(self, "node_mac", derived_mac("node", self.node_ip))
        if not self.gw_mac:
            object.__setattr__(self, "gw_mac", derived_mac("antrea-gw0", self.node_ip))


def endpoints_from_state(state: ClusterState, src: str, dst: str) -> tuple[PodEndpoint, PodEndpoint]:
    """Both ends from a lab's cluster state (pods as ``ns/name``)."""
    nodes = {n.name: n for n in state.nodes}
    ends = []
    for key in (src, dst):
        pod = state.pod(key)
        node = nodes[pod.node_name]
        ends.append(PodEndpoint(pod.key, pod.pod_ip, node.name, node.internal_ip))
    if ends[0].node == ends[1].node:
        raise ValueError(f"{src} and {dst} both run on {ends[0].node}: their traffic never leaves the Node, so "
                         "there is nothing on the wire to encrypt; pick pods on different Nodes")
    return ends[0], ends[1]


# ---------------------------------------------------------------------------- the pod conversation

@dataclass(frozen=True)
class PodPacket:
    direction: str  # "request" (src pod -> dst pod) or "reply"
    ip_packet: bytes
    note: str


def http_exchange(src: PodEndpoint, dst: PodEndpoint, path: str = "/", dport: int = 80,
                  body: str | None = None, ttl: int = 63) -> list[PodPacket]:
    """An HTTP GET and its answer as pod IP packets: handshake, GET, 200 OK, ACK, FINs.

    ``ttl`` 63: the packet was routed once on the source Node before leaving it.
    """
    sport = 40000 + int.from_bytes(hashlib.blake2s(f"{src.pod}>{dst.pod}".encode(), digest_size=2).digest()) % 20000
    body = body if body is not None else f"hello from {dst.pod}\n"
    request = (f"GET {path} HTTP/1.1\r\nHost: {dst.pod_ip}\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n").encode()
    response = (f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode()
    c_seq, s_seq = 0x1A2B3C4D, 0x5E6F7081
    ident = [0x3100, 0x7200]

    def pkt(direction: str, flags: int, seq: int, ack: int, payload: bytes = b"", options: bytes = b"",
            note: str = "") -> PodPacket:
        fwd = direction == "request"
        a, b = (src, dst) if fwd else (dst, src)
        ports = (sport, dport) if fwd else (dport, sport)
        # after the handshake the window is scaled (wscale 7 in the SYNs): 502 * 128 = 64256 bytes
        seg = tcp(a.pod_ip, b.pod_ip, *ports, seq, ack, flags, payload, options=options,
                  window=64240 if flags & SYN else 502)
        i = 0 if fwd else 1
        ident[i] += 1
        return PodPacket(direction, ipv4(a.pod_ip, b.pod_ip, IPPROTO_TCP, seg, ttl=ttl, ident=ident[i]), note)

    return [
        pkt("request", SYN, c_seq, 0, options=tcp_syn_options(), note="TCP SYN"),
        pkt("reply", SYN | ACK, s_seq, c_seq + 1, options=tcp_syn_options(), note="TCP SYN-ACK"),
        pkt("request", ACK, c_seq + 1, s_seq + 1, note="TCP ACK"),
        pkt("request", PSH | ACK, c_seq + 1, s_seq + 1, request, note="HTTP GET"),
        pkt("reply", PSH | ACK, s_seq + 1, c_seq + 1 + len(request), response, note="HTTP 200 OK"),
        pkt("request", ACK, c_seq + 1 + len(request), s_seq + 1 + len(response), note="TCP ACK"),
        pkt("request", FIN | ACK, c_seq + 1 + len(request), s_seq + 1 + len(response), note="TCP FIN"),
        pkt("reply", FIN | ACK, s_seq + 1 + len(response), c_seq + 2 + len(request), note="TCP FIN"),
        pkt("request", ACK, c_seq + 2 + len(request), s_seq + 2 + len(response), note="TCP ACK"),
    ]


# ---------------------------------------------------------------------------- encapsulations

def _flow_source_port(a: PodEndpoint, b: PodEndpoint) -> int:
    # OVS takes the tunnel UDP source port from the packet's flow hash (Linux udp_flow_src_port:
    # the local port range 32768-60999). The kernel's flow hash is symmetric, so both directions
    # of one connection share it.
    key = "|".join(sorted((a.pod_ip, b.pod_ip))).encode()
    return 32768 + int.from_bytes(hashlib.blake2s(key, digest_size=4).digest()) % (61000 - 32768)


def geneve_packet(a: PodEndpoint, b: PodEndpoint, inner_ip: bytes, vni: int = 0, ident: int = 0) -> bytes:
    """The outer IPv4 packet of Antrea's Geneve tunnel carrying ``inner_ip`` from a's Node to b's."""
    inner = ethernet(GLOBAL_VIRTUAL_MAC, a.gw_mac, ETH_P_IPV4, inner_ip)
    gen = geneve(vni, inner)
    dgram = udp(a.node_ip, b.node_ip, _flow_source_port(a, b), GENEVE_PORT, gen, with_checksum=False)
    return ipv4(a.node_ip, b.node_ip, IPPROTO_UDP, dgram, ttl=64, ident=ident)


def _underlay_frame(a: PodEndpoint, b: PodEndpoint, ip_packet: bytes) -> bytes:
    return ethernet(b.node_mac, a.node_mac, ETH_P_IPV4, ip_packet)


@dataclass(frozen=True)
class Frame:
    """One frame on the underlay between the two Nodes."""

    time_s: float
    data: bytes
    direction: str  # request | reply | handshake
    note: str
    inner: bytes = b""  # the pod IP packet this frame carries (b"" for handshake messages)


@dataclass
class Capture:
    """Frames on the underlay for one mode, with what is needed to decrypt them."""

    mode: str
    src: PodEndpoint
    dst: PodEndpoint
    frames: list[Frame]
    metadata: dict[str, Any] = field(default_factory=dict)
    wg_keylog: str | None = None
    wg_session: noise.Session | None = None
    esp_sas: list[_esp.SecurityAssociation] = field(default_factory=list)
    pcap_path: Path | None = None

    @property
    def emulated(self) -> bool:
        return bool(self.metadata.get("emulated"))

    def raw(self) -> bytes:
        return b"".join(f.data for f in self.frames)

    def contains(self, needle: str | bytes) -> bool:
        """Does ``needle`` appear anywhere in the captured bytes (what an eavesdropper can grep)?"""
        return (needle.encode() if isinstance(needle, str) else needle) in self.raw()

    def write_pcap(self, path: str | os.PathLike) -> Path:
        self.pcap_path = write_pcap(path, [(f.time_s, f.data) for f in self.frames])
        return self.pcap_path

    def decrypt_options(self, directory: str | os.PathLike) -> list[str]:
        """tshark ``-o`` options holding this capture's keys (writes the WireGuard keylog into ``directory``)."""
        keylog_path = None
        if self.wg_keylog:
            keylog_path = Path(directory) / f"{self.mode}-keys.log"
            keylog_path.write_text(self.wg_keylog)
        return tshark_options(str(keylog_path) if keylog_path else None, [sa.wireshark_uat() for sa in self.esp_sas])

    def table(self, engine: str = "auto", decrypt: bool = False) -> pd.DataFrame:
        """The capture as tshark (or labkit's dissector) shows it; ``decrypt`` hands tshark the keys."""
        with tempfile.TemporaryDirectory(prefix="lkenc-") as tmp:
            path = self.pcap_path if self.pcap_path and self.pcap_path.exists() else self.write_pcap(
                Path(tmp) / f"{self.mode}.pcap")
            options = self.decrypt_options(tmp) if decrypt else None
            if decrypt and engine == "labkit":
                raise ValueError("labkit's dissector does not decrypt; use engine='tshark' or decrypt=False")
            frame = capture_table(path, engine=engine, options=options)
        frame.attrs.update(mode=self.mode, emulated=self.emulated)
        return frame

    def visibility(self) -> dict[str, bool]:
        """What someone on the underlay learns, read from the bytes by labkit's dissector."""
        seen = [dissect(f.data) for f in self.frames]
        inner_ips = {(d.layers[i].fields["src"], d.layers[i].fields["dst"]) for d in seen
                     for i in range(len(d.layers)) if d.layers[i].name == "ip" and i > 1}
        return {
            "node IPs": any(d.find("ip") is not None for d in seen),
            "pod IPs": any(self.src.pod_ip in pair or self.dst.pod_ip in pair for pair in inner_ips),
            "TCP ports": any(d.find("tcp") is not None for d in seen),
            "HTTP text": self.contains(b"HTTP/1.1"),
            "packet sizes and timing": True,
        }


def _times(start_s: float, count: int, gap_s: float = 0.000180) -> list[float]:
    return [start_s + i * gap_s for i in range(count)]


def _session_seed(seed: str, src: PodEndpoint, dst: PodEndpoint) -> str:
    return f"{seed}/{src.node_ip}/{dst.node_ip}"


def build_capture(mode: str, src: PodEndpoint, dst: PodEndpoint, packets: list[PodPacket] | None = None,
                  seed: str = "labkit", start_s: float = DEFAULT_START_S, esp_mode: str = "transport",
                  esp_key_bits: int = 256) -> Capture:
    """The underlay frames of ``packets`` (default: :func:`http_exchange`) in ``mode``."""
    check_mode(mode)
    if src.node_ip == dst.node_ip:
        raise ValueError("both pods are on the same Node: nothing crosses the underlay")
    packets = packets if packets is not None else http_exchange(src, dst)
    if mode == "none":
        return _build_geneve(src, dst, packets, start_s)
    if mode == "wireGuard":
        return _build_wireguard(src, dst, packets, _session_seed(seed, src, dst), start_s)
    return _build_ipsec(src, dst, packets, _session_seed(seed, src, dst), start_s, esp_mode, esp_key_bits)


def _ends(src: PodEndpoint, dst: PodEndpoint, direction: str) -> tuple[PodEndpoint, PodEndpoint]:
    return (src, dst) if direction == "request" else (dst, src)


def _build_geneve(src: PodEndpoint, dst: PodEndpoint, packets: list[PodPacket], start_s: float) -> Capture:
    frames = []
    for i, (t, p) in enumerate(zip(_times(start_s, len(packets)), packets, strict=True)):
        a, b = _ends(src, dst, p.direction)
        frames.append(Frame(t, _underlay_frame(a, b, geneve_packet(a, b, p.ip_packet, ident=0x100 + i)),
                            p.direction, p.note, p.ip_packet))
    return Capture("none", src, dst, frames, {"emulated": False, "encapsulation": "Geneve (UDP 6081, VNI 0)",
                                              "origin": "built by labkit.encryption.wire",
                                              "encrypted": False})


def wireguard_keys(seed: str, node_ip: str) -> noise.KeyPair:
    return noise.KeyPair.from_seed(f"{seed}/static/{node_ip}")


def _build_wireguard(src: PodEndpoint, dst: PodEndpoint, packets: list[PodPacket], seed: str,
                     start_s: float) -> Capture:
    init_keys, resp_keys = wireguard_keys(seed, src.node_ip), wireguard_keys(seed, dst.node_ip)
    indexes = hashlib.blake2s(seed.encode(), digest_size=8).digest()
    i_index, r_index = struct.unpack("<II", indexes)
    session = noise.handshake(init_keys, resp_keys, i_index, r_index, ephemeral_seed=seed,
                              unix_ns=int(start_s * 1e9))
    times = _times(start_s, len(packets) + 2)
    frames = []

    def wg_frame(a: PodEndpoint, b: PodEndpoint, message: bytes, ident: int) -> bytes:
        # the kernel module fills in the UDP checksum (udp_tunnel_xmit_skb with nocheck=false)
        dgram = udp(a.node_ip, b.node_ip, WIREGUARD_PORT, WIREGUARD_PORT, message)
        return _underlay_frame(a, b, ipv4(a.node_ip, b.node_ip, IPPROTO_UDP, dgram, ttl=64, ident=ident,
                                          dont_fragment=False))

    frames.append(Frame(times[0], wg_frame(src, dst, session.initiation, 0x200), "handshake",
                        "WireGuard handshake initiation"))
    frames.append(Frame(times[1], wg_frame(dst, src, session.response, 0x300), "handshake",
                        "WireGuard handshake response"))
    counters = {"request": 0, "reply": 0}
    for i, (t, p) in enumerate(zip(times[2:], packets, strict=True)):
        a, b = _ends(src, dst, p.direction)
        fwd = p.direction == "request"
        key = session.initiator_send_key if fwd else session.responder_send_key
        receiver = session.responder_index if fwd else session.initiator_index
        message = noise.transport(receiver, counters[p.direction], key, p.ip_packet)
        counters[p.direction] += 1
        frames.append(Frame(t, wg_frame(a, b, message, 0x210 + i), p.direction, p.note, p.ip_packet))
    meta = {"emulated": True, "encrypted": True, "origin": "built by labkit.encryption.wire",
            "encapsulation": f"WireGuard (UDP {WIREGUARD_PORT}), Noise_IKpsk2, ChaCha20-Poly1305",
            "public_keys": {src.node: init_keys.public_b64, dst.node: resp_keys.public_b64},
            "note": "real WireGuard message formats and crypto; keys derived from a seed, no kernel involved"}
    return Capture("wireGuard", src, dst, frames, meta, wg_keylog=noise.keylog(init_keys, resp_keys, session),
                   wg_session=session)


def ipsec_sas(seed: str, src: PodEndpoint, dst: PodEndpoint,
              key_bits: int = 256) -> dict[str, _esp.SecurityAssociation]:
    """One SA per direction, as IKE would have negotiated them (SPIs and keys from the seed)."""
    out = {}
    for direction, (a, b) in (("request", (src, dst)), ("reply", (dst, src))):
        material = hashlib.blake2s(f"{seed}/esp/{a.node_ip}>{b.node_ip}".encode()).digest()
        material += hashlib.blake2s(material).digest()
        spi = 0xC0000000 | int.from_bytes(material[:3])
        out[direction] = _esp.SecurityAssociation(spi, material[:key_bits // 8 + 4], a.node_ip, b.node_ip)
    return out


def _build_ipsec(src: PodEndpoint, dst: PodEndpoint, packets: list[PodPacket], seed: str, start_s: float,
                 esp_mode: str, key_bits: int) -> Capture:
    if esp_mode not in ("transport", "tunnel"):
        raise ValueError(f"esp_mode {esp_mode!r}: 'transport' (what OVS configures) or 'tunnel'")
    if key_bits not in (128, 256):
        raise ValueError("esp_key_bits must be 128 or 256 (AES-GCM)")
    sas = ipsec_sas(seed, src, dst, key_bits)
    sequence = {"request": 0, "reply": 0}
    frames = []
    protect = _esp.protect_transport if esp_mode == "transport" else _esp.protect_tunnel
    for i, (t, p) in enumerate(zip(_times(start_s, len(packets)), packets, strict=True)):
        a, b = _ends(src, dst, p.direction)
        sequence[p.direction] += 1  # ESP sequence numbers start at 1 (RFC 4303 §3.3.3)
        tunnel_packet = geneve_packet(a, b, p.ip_packet, ident=0x100 + i)
        frames.append(Frame(t, _underlay_frame(a, b, protect(sas[p.direction], sequence[p.direction], tunnel_packet)),
                            p.direction, p.note, p.ip_packet))
    meta = {"emulated": True, "encrypted": True, "origin": "built by labkit.encryption.wire",
            "encapsulation": f"ESP {esp_mode} mode (IP protocol 50) around Geneve, {sas['request'].cipher}",
            "spi": {d: f"0x{sa.spi:08x}" for d, sa in sas.items()},
            "note": "real ESP format and AES-GCM; SAs derived from a seed instead of an IKEv2 exchange "
                    "(UDP 500), which is not shown"}
    return Capture("ipsec", src, dst, frames, meta, esp_sas=list(sas.values()))


def build_captures(src: PodEndpoint, dst: PodEndpoint, **kwargs: Any) -> dict[str, Capture]:
    return {mode: build_capture(mode, src, dst, **kwargs) for mode in MODES}


# ---------------------------------------------------------------------------- overhead, from the bytes

def _probe_packet(src: PodEndpoint, dst: PodEndpoint, inner_len: int) -> PodPacket:
    if inner_len < 40:
        raise ValueError("an IPv4+TCP packet is at least 40 bytes")
    seg = tcp(src.pod_ip, dst.pod_ip, 40000, 80, 1, 1, ACK | PSH, b"x" * (inner_len - 40))
    return PodPacket("request", ipv4(src.pod_ip, dst.pod_ip, IPPROTO_TCP, seg, ttl=63), f"{inner_len}-byte packet")


_DEFAULT_SRC = PodEndpoint("x/a", "10.244.1.2", "kind-worker", "172.18.0.3")
_DEFAULT_DST = PodEndpoint("y/b", "10.244.2.3", "kind-worker2", "172.18.0.4")


def overhead(mode: str, inner_len: int = 100, src: PodEndpoint | None = None, dst: PodEndpoint | None = None,
             esp_mode: str = "transport") -> dict[str, Any]:
    """Bytes each mode adds to one pod IP packet of ``inner_len`` bytes, measured on the frame built.

    Returns ``{"mode", "inner_len", "wire_len", "overhead", "parts": {name: bytes}}``; ``wire_len``
    is the outer IP packet (what counts against the underlay MTU), so the outer Ethernet header
    is not included. The parts are read back from the bytes (decrypting where needed) and sum to
    ``overhead``.
    """
    src, dst = src or _DEFAULT_SRC, dst or _DEFAULT_DST
    packet = _probe_packet(src, dst, inner_len)
    cap = build_capture(mode, src, dst, [packet], esp_mode=esp_mode)
    data = cap.frames[-1].data
    d = dissect(data)
    wire_len = len(data) - d.layers[0].header_len
    parts: dict[str, int] = {}
    if mode == "none":
        outer_ip, udp_l, gen, inner_eth = d.layers[1], d.layers[2], d.layers[3], d.layers[4]
        parts = {"outer IPv4": outer_ip.header_len, "UDP": udp_l.header_len, "Geneve": gen.header_len,
                 "inner Ethernet": inner_eth.header_len}
    elif mode == "wireGuard":
        outer_ip, udp_l, wg = d.layers[1], d.layers[2], d.layers[3]
        _, _, padded = noise.open_transport(data[wg.offset:], cap.wg_session.initiator_send_key)
        sealed_len = len(data) - wg.offset - wg.header_len
        parts = {"outer IPv4": outer_ip.header_len, "UDP": udp_l.header_len, "WireGuard header": wg.header_len,
                 "padding to 16": len(padded) - inner_len, "Poly1305 tag": sealed_len - len(padded)}
    else:
        ip_layers = [layer for layer in d.layers if layer.name == "ip"]
        esp_layer = d.find("esp")
        sa = cap.esp_sas[0]
        _, _, clear = _esp.open_esp(sa, data[esp_layer.offset:])
        esp_total = len(data) - esp_layer.offset
        trailer = esp_total - _esp.ESP_HEADER_LEN - _esp.ESP_IV_LEN - len(clear) - _esp.ESP_ICV_LEN
        parts["outer IPv4"] = ip_layers[0].header_len
        if esp_mode == "tunnel":
            geneve_view = dissect(b"\x00" * 12 + b"\x08\x00" + clear)
            parts["Geneve IPv4 (inside ESP)"] = geneve_view.layers[1].header_len
            rest = geneve_view.layers[2:5]
        else:
            geneve_view = dissect(b"\x00" * 12 + b"\x08\x00" + _fake_ip_udp(clear))
            rest = geneve_view.layers[2:5]
        parts.update({"UDP": rest[0].header_len, "Geneve": rest[1].header_len, "inner Ethernet": rest[2].header_len,
                      "ESP header": _esp.ESP_HEADER_LEN, "ESP IV": _esp.ESP_IV_LEN,
                      "ESP trailer (pad+2)": trailer, "ESP ICV": _esp.ESP_ICV_LEN})
    total = wire_len - inner_len
    if sum(parts.values()) != total:  # the breakdown must account for every byte
        raise AssertionError(f"{mode}: parts {parts} do not add up to {total}")
    return {"mode": mode, "inner_len": inner_len, "wire_len": wire_len, "overhead": total, "parts": parts}


def _fake_ip_udp(udp_and_rest: bytes) -> bytes:
    # Transport-mode ESP encrypts what followed the IP header; put a 20-byte IPv4 header back in
    # front (protocol UDP) so the dissector can walk UDP/Geneve/Ethernet again.
    return ipv4("0.0.0.0", "0.0.0.0", IPPROTO_UDP, udp_and_rest)


def overhead_table(inner_lengths: tuple[int, ...] = (40, 100, 576, 1400), esp_mode: str = "transport") -> pd.DataFrame:
    """Overhead in bytes per mode (rows) and pod packet size (columns), measured from built frames."""
    import pandas as pd

    rows = {mode: {f"{n} B": overhead(mode, n, esp_mode=esp_mode)["overhead"] for n in inner_lengths}
            for mode in MODES}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "mode"
    return frame


def overhead_breakdown(inner_len: int = 100, esp_mode: str = "transport") -> pd.DataFrame:
    """One row per mode and header, in bytes, for a pod packet of ``inner_len`` bytes."""
    import pandas as pd

    rows = []
    for mode in MODES:
        result = overhead(mode, inner_len, esp_mode=esp_mode)
        rows += [{"mode": mode, "part": part, "bytes": size} for part, size in result["parts"].items()]
        rows.append({"mode": mode, "part": "total", "bytes": result["overhead"]})
    return pd.DataFrame(rows)


def pod_mtu(mode: str, underlay_mtu: int = 1500, esp_mode: str = "transport") -> int:
    """The largest pod IP packet whose encapsulation still fits ``underlay_mtu`` (measured)."""
    size = underlay_mtu
    while size >= 40 and overhead(mode, size, esp_mode=esp_mode)["wire_len"] > underlay_mtu:
        size -= 1
    return size


def mtu_table(underlay_mtu: int = 1500) -> pd.DataFrame:
    """Measured largest pod packet per mode next to the MTU Antrea configures (its fixed budgets)."""
    import pandas as pd

    rows = [{"mode": m, "largest pod packet (measured)": pod_mtu(m, underlay_mtu),
             "Antrea pod MTU": underlay_mtu - ANTREA_MTU_DEDUCTION[m]} for m in MODES]
    return pd.DataFrame(rows).set_index("mode")


__all__ = [
    "ANTREA_MTU_DEDUCTION",
    "GLOBAL_VIRTUAL_MAC",
    "MODES",
    "WIREGUARD_PORT",
    "Capture",
    "Frame",
    "PodEndpoint",
    "PodPacket",
    "build_capture",
    "build_captures",
    "check_mode",
    "derived_mac",
    "endpoints_from_state",
    "geneve_packet",
    "http_exchange",
    "ipsec_sas",
    "mtu_table",
    "overhead",
    "overhead_breakdown",
    "overhead_table",
    "pod_mtu",
    "wireguard_keys",
]
