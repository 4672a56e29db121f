"""labkit's own dissector for what it writes (and what the lab captures), plus the tshark view.

:func:`dissect` walks one Ethernet frame layer by layer (Ethernet, IPv4, UDP, TCP, Geneve, inner
Ethernet, WireGuard, ESP, HTTP) and records each layer's offset and header length — the overhead
table is computed from these, never from constants. :func:`capture_table` shows a pcap as a
DataFrame with tshark's columns (``tshark -T fields``) when tshark is installed, else with this
dissector, so Binder (no tshark) shows the same table.
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._util import proc as cmd
from ..errors import CommandError, CommandFailure
from .headers import (
    ETH_P_IPV4,
    ETH_P_TEB,
    GENEVE_PORT,
    IPPROTO_ESP,
    IPPROTO_TCP,
    IPPROTO_UDP,
    VXLAN_PORT,
    ip_text,
    mac_text,
)
from .noise import DEFAULT_PORT as WIREGUARD_PORT
from .pcap import LINKTYPE_ETHERNET, read_pcap

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

COLUMNS = ["no", "time", "src", "dst", "protocol", "length", "info", "layers"]
IKE_PORT, NAT_T_PORT = 500, 4500
ETH_P_ARP = 0x0806
_HTTP_STARTS = (b"GET ", b"POST ", b"PUT ", b"HEAD ", b"DELETE ", b"HTTP/1.")
_TCP_FLAG_NAMES = ((0x02, "SYN"), (0x01, "FIN"), (0x04, "RST"), (0x08, "PSH"), (0x10, "ACK"))


@dataclass
class Layer:
    name: str  # eth, ip, udp, tcp, geneve, wg, esp, http, data
    offset: int
    header_len: int  # bytes this layer adds in front of what it carries (for ESP/WireGuard: see trailer_len)
    fields: dict[str, Any] = field(default_factory=dict)
    trailer_len: int = 0  # bytes after the payload (ESP trailer+ICV, WireGuard padding+tag)


@dataclass
class Dissection:
    length: int
    layers: list[Layer]

    @property
    def names(self) -> list[str]:
        return [layer.name for layer in self.layers]

    def find(self, name: str, nth: int = 0) -> Layer | None:
        found = [layer for layer in self.layers if layer.name == name]
        return found[nth] if len(found) > nth else None

    @property
    def protocols(self) -> str:
        return ":".join(self.names)


def dissect(frame: bytes) -> Dissection:
    """Layers of one Ethernet frame (stops, with a ``data`` layer, at what it cannot see into)."""
    result = Dissection(len(frame), [])
    _ethernet(frame, 0, result)
    return result


def _ethernet(frame: bytes, offset: int, out: Dissection) -> None:
    if len(frame) - offset < 14:
        return
    ethertype = struct.unpack_from("!H", frame, offset + 12)[0]
    out.layers.append(Layer("eth", offset, 14, {"dst": mac_text(frame[offset:offset + 6]),
                                                "src": mac_text(frame[offset + 6:offset + 12]),
                                                "type": ethertype}))
    if ethertype == ETH_P_IPV4:
        _ipv4(frame, offset + 14, out)
    elif ethertype == ETH_P_ARP and len(frame) >= offset + 42:
        op = struct.unpack_from("!H", frame, offset + 20)[0]
        out.layers.append(Layer("arp", offset + 14, 28, {
            "op": op, "sha": mac_text(frame[offset + 22:offset + 28]), "spa": ip_text(frame[offset + 28:offset + 32]),
            "tpa": ip_text(frame[offset + 38:offset + 42])}))
    elif len(frame) > offset + 14:
        out.layers.append(Layer("data", offset + 14, 0))


def _ipv4(frame: bytes, offset: int, out: Dissection) -> None:
    ihl = (frame[offset] & 0x0F) * 4
    total, = struct.unpack_from("!H", frame, offset + 2)
    proto, ttl = frame[offset + 9], frame[offset + 8]
    out.layers.append(Layer("ip", offset, ihl, {"src": ip_text(frame[offset + 12:offset + 16]),
                                                "dst": ip_text(frame[offset + 16:offset + 20]),
                                                "proto": proto, "ttl": ttl, "total_length": total}))
    end = offset + total
    if proto == IPPROTO_UDP:
        _udp(frame, offset + ihl, end, out)
    elif proto == IPPROTO_TCP:
        _tcp(frame, offset + ihl, end, out)
    elif proto == IPPROTO_ESP:
        spi, seq = struct.unpack_from("!II", frame, offset + ihl)
        out.layers.append(Layer("esp", offset + ihl, 8, {"spi": spi, "sequence": seq}))
    elif proto == 4:  # IP in IP
        _ipv4(frame, offset + ihl, out)


def _udp(frame: bytes, offset: int, end: int, out: Dissection) -> None:
    sport, dport, length, csum = struct.unpack_from("!HHHH", frame, offset)
    out.layers.append(Layer("udp", offset, 8, {"sport": sport, "dport": dport, "length": length, "checksum": csum}))
    payload = offset + 8
    if dport == GENEVE_PORT:
        opt_len = (frame[payload] & 0x3F) * 4
        proto, vni = struct.unpack_from("!HI", frame, payload + 2)
        out.layers.append(Layer("geneve", payload, 8 + opt_len, {"vni": vni >> 8, "protocol": proto}))
        if proto == ETH_P_TEB:
            _ethernet(frame[:end], payload + 8 + opt_len, out)
    elif dport == VXLAN_PORT:
        out.layers.append(Layer("vxlan", payload, 8, {"vni": struct.unpack_from("!I", frame, payload + 4)[0] >> 8}))
        _ethernet(frame[:end], payload + 8, out)
    elif WIREGUARD_PORT in (sport, dport) and end - payload >= 4:
        _wireguard(frame, payload, end, out)
    elif NAT_T_PORT in (sport, dport) and end - payload >= 8 and frame[payload:payload + 4] != b"\x00" * 4:
        # RFC 3948: ESP in UDP 4500; a zero "non-ESP marker" would mean IKE instead
        spi, seq = struct.unpack_from("!II", frame, payload)
        out.layers.append(Layer("esp", payload, 8, {"spi": spi, "sequence": seq}))
    elif IKE_PORT in (sport, dport) or NAT_T_PORT in (sport, dport):
        out.layers.append(Layer("isakmp", payload, end - payload))
    elif end > payload:
        out.layers.append(Layer("data", payload, 0, {"length": end - payload}))


def _wireguard(frame: bytes, offset: int, end: int, out: Dissection) -> None:
    kind = frame[offset]
    names = {1: "Handshake Initiation", 2: "Handshake Response", 3: "Cookie Reply", 4: "Transport Data"}
    fields: dict[str, Any] = {"type": kind, "message": names.get(kind, f"type {kind}")}
    if kind == 4:
        receiver, counter = struct.unpack_from("<IQ", frame, offset + 4)
        fields.update(receiver=receiver, counter=counter, datalen=end - offset - 16 - 16)
        out.layers.append(Layer("wg", offset, 16, fields, trailer_len=16))
    else:
        if kind in (1, 2):
            fields["sender"] = struct.unpack_from("<I", frame, offset + 4)[0]
        if kind == 2:
            fields["receiver"] = struct.unpack_from("<I", frame, offset + 8)[0]
        out.layers.append(Layer("wg", offset, end - offset, fields))


def _tcp(frame: bytes, offset: int, end: int, out: Dissection) -> None:
    sport, dport, seq, ack, off, flags, window = struct.unpack_from("!HHIIBBH", frame, offset)
    header = (off >> 4) * 4
    payload = frame[offset + header:end]
    out.layers.append(Layer("tcp", offset, header, {"sport": sport, "dport": dport, "seq": seq, "ack": ack,
                                                    "flags": flags, "window": window, "payload_len": len(payload)}))
    if payload.startswith(_HTTP_STARTS):
        first_line = payload.split(b"\r\n", 1)[0].decode("latin-1")
        out.layers.append(Layer("http", offset + header, len(payload), {"line": first_line}))
    elif payload:
        out.layers.append(Layer("data", offset + header, 0, {"length": len(payload)}))


def _info(d: Dissection) -> tuple[str, str, str, str]:
    """(src, dst, protocol, info) the way Wireshark's columns show them: the innermost IP pair."""
    ips = [layer for layer in d.layers if layer.name == "ip"]
    src = ips[-1].fields["src"] if ips else ""
    dst = ips[-1].fields["dst"] if ips else ""
    top = d.layers[-1] if d.layers else None
    if top is None:
        return src, dst, "", ""
    if top.name == "data" and len(d.layers) > 1:
        top = d.layers[-2]
    f = top.fields
    if top.name == "http":
        return src, dst, "HTTP", f["line"]
    if top.name == "tcp":
        flags = ", ".join(name for bit, name in _TCP_FLAG_NAMES if f["flags"] & bit)
        return src, dst, "TCP", (f"{f['sport']} → {f['dport']} [{flags}] Seq={f['seq']} Ack={f['ack']} "
                                 f"Len={f['payload_len']}")
    if top.name == "wg":
        if f["type"] == 4:
            return src, dst, "WireGuard", (f"Transport Data, receiver=0x{f['receiver']:08X}, counter={f['counter']}, "
                                           f"datalen={f['datalen']}")
        extra = f", sender=0x{f['sender']:08X}" if "sender" in f else ""
        return src, dst, "WireGuard", f"{f['message']}{extra}"
    if top.name == "esp":
        return src, dst, "ESP", f"ESP (SPI=0x{f['spi']:08x})"
    if top.name == "arp":
        info = (f"Who has {f['tpa']}? Tell {f['spa']}" if f["op"] == 1 else f"{f['spa']} is at {f['sha']}")
        eth = d.layers[d.layers.index(top) - 1]
        return eth.fields["src"], eth.fields["dst"], "ARP", info
    if top.name == "isakmp":
        return src, dst, "ISAKMP", "IKE"
    if top.name == "udp":
        return src, dst, "UDP", f"{f['sport']} → {f['dport']} Len={f['length'] - 8}"
    return src, dst, top.name.upper(), ""


def dissector_rows(path: str | os.PathLike) -> list[dict]:
    linktype, records = read_pcap(path)
    if linktype != LINKTYPE_ETHERNET:
        raise ValueError(f"{path}: link type {linktype}; labkit's dissector reads Ethernet captures only")
    rows, start = [], records[0].time_s if records else 0.0
    for i, rec in enumerate(records, 1):
        d = dissect(rec.data)
        src, dst, proto, info = _info(d)
        rows.append({"no": i, "time": round(rec.time_s - start, 6), "src": src, "dst": dst, "protocol": proto,
                     "length": rec.original_length, "info": info, "layers": d.protocols})
    return rows


def tshark_available() -> bool:
    return shutil.which("tshark") is not None


def tshark_options(wg_keylog: str | None = None, esp_sas: list[str] | None = None) -> list[str]:
    """``-o`` options that make tshark decrypt: a WireGuard keylog file, ESP SAs (UAT records)."""
    opts = []
    if wg_keylog:
        opts += ["-o", f"wg.keylog_file:{wg_keylog}", "-o", "wg.dissect_packet:TRUE"]
    if esp_sas:
        opts += ["-o", "esp.enable_encryption_decode:TRUE"]
        for record in esp_sas:
            opts += ["-o", f"uat:esp_sa:{record}"]
    return opts


def run_tshark(path: str | os.PathLike, fields: list[str], options: list[str] | None = None,
               display_filter: str | None = None, timeout_s: float = 30.0) -> list[list[str]]:
    """Rows of ``tshark -r path -T fields -e ...`` (tab-separated). Raises CommandError on failure."""
    argv = ["tshark", "-n", "-r", str(path), *(options or []), "-T", "fields", "-E", "separator=/t",
            "-E", "occurrence=a", "-E", "aggregator=,"]
    if display_filter:
        argv += ["-Y", display_filter]
    for f in fields:
        argv += ["-e", f]
    # An empty, private config dir: the learner's Wireshark profile must not change what we see.
    with tempfile.TemporaryDirectory(prefix="lkenc-tshark-") as home:
        env = {"HOME": home, "XDG_CONFIG_HOME": home, "WIRESHARK_CONFIG_DIR": home}
        proc = cmd.run(argv, timeout_s=timeout_s, env=env, check=False, hint="apt-get install tshark")
    if proc.returncode != 0:
        raise CommandError(f"tshark failed on {path} (exit {proc.returncode}): {proc.stderr.strip()[-400:]}",
                           CommandFailure(argv, proc.returncode, proc.stderr))
    return [line.split("\t") for line in proc.stdout.splitlines()]


_TSHARK_FIELDS = ["frame.number", "frame.time_relative", "_ws.col.Source", "_ws.col.Destination",
                  "_ws.col.Protocol", "frame.len", "_ws.col.Info", "frame.protocols"]


def tshark_rows(path: str | os.PathLike, options: list[str] | None = None) -> list[dict]:
    rows = []
    for r in run_tshark(path, _TSHARK_FIELDS, options):
        r = (r + [""] * len(_TSHARK_FIELDS))[:len(_TSHARK_FIELDS)]
        rows.append({"no": int(r[0]), "time": round(float(r[1] or 0), 6), "src": r[2], "dst": r[3],
                     "protocol": r[4], "length": int(r[5] or 0), "info": r[6], "layers": r[7]})
    return rows


def capture_table(path: str | os.PathLike, engine: str = "auto", options: list[str] | None = None) -> pd.DataFrame:
    """A pcap as a table: no, time, src, dst, protocol, length, info, layers.

    ``engine``: ``"tshark"``, ``"labkit"`` (the built-in dissector) or ``"auto"`` (tshark if installed).
    ``options``: extra tshark ``-o`` options, e.g. from :func:`tshark_options` to decrypt.
    """
    import pandas as pd

    if engine not in ("auto", "tshark", "labkit"):
        raise ValueError(f"engine {engine!r}: use 'auto', 'tshark' or 'labkit'")
    use_tshark = engine == "tshark" or (engine == "auto" and tshark_available())
    rows = tshark_rows(path, options) if use_tshark else dissector_rows(path)
    frame = pd.DataFrame(rows, columns=COLUMNS).set_index("no")
    frame.attrs["engine"] = "tshark" if use_tshark else "labkit"
    frame.attrs["path"] = str(path)
    return frame


__all__ = [
    "COLUMNS",
    "Dissection",
    "Layer",
    "capture_table",
    "dissect",
    "dissector_rows",
    "run_tshark",
    "tshark_available",
    "tshark_options",
    "tshark_rows",
]
