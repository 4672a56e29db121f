"""The classic libpcap file format, written and read without libpcap.

Format (https://www.tcpdump.org/manpages/pcap-savefile.5.html, and draft-ietf-opsawg-pcap):
a 24-byte global header (magic ``0xa1b2c3d4`` = microsecond timestamps, version 2.4, snaplen,
LINKTYPE) then, per packet, a 16-byte record header (seconds, microseconds, captured length,
original length) and the bytes. Written little-endian, as tcpdump does on x86; read in either
byte order and with nanosecond magic ``0xa1b23c4d`` too (tshark and tcpdump ``-w`` files).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import LabkitError

MAGIC_US = 0xA1B2C3D4
MAGIC_NS = 0xA1B23C4D
LINKTYPE_ETHERNET = 1
LINKTYPE_LINUX_SLL = 113  # "any" device captures
DEFAULT_SNAPLEN = 262144


class PcapError(LabkitError):
    """A file that is not a pcap capture labkit can read (pcapng, truncated, unknown link type)."""


@dataclass(frozen=True)
class PcapRecord:
    time_s: float
    data: bytes
    original_length: int


def write_pcap(path: str | os.PathLike, packets: Iterable[tuple[float, bytes]],
               linktype: int = LINKTYPE_ETHERNET, snaplen: int = DEFAULT_SNAPLEN) -> Path:
    """Write ``(time_s, frame bytes)`` pairs; returns the path. Times are Unix seconds."""
    path = Path(path)
    with path.open("wb") as out:
        out.write(struct.pack("<IHHiIII", MAGIC_US, 2, 4, 0, 0, snaplen, linktype))
        for time_s, data in packets:
            seconds = int(time_s)
            micros = round((time_s - seconds) * 1_000_000)
            if micros == 1_000_000:
                seconds, micros = seconds + 1, 0
            captured = data[:snaplen]
            out.write(struct.pack("<IIII", seconds, micros, len(captured), len(data)))
            out.write(captured)
    return path


def read_pcap(path: str | os.PathLike) -> tuple[int, list[PcapRecord]]:
    """(link type, records) of a classic pcap file."""
    raw = Path(path).read_bytes()
    if len(raw) < 24:
        raise PcapError(f"{path}: {len(raw)} bytes is too short for a pcap header")
    for order in ("<", ">"):
        magic = struct.unpack_from(order + "I", raw)[0]
        if magic in (MAGIC_US, MAGIC_NS):
            break
    else:
        hint = " (it is pcapng: write with 'tshark -F pcap' or 'tcpdump -w')" if raw[:4] == b"\x0a\x0d\x0d\x0a" else ""
        raise PcapError(f"{path}: not a pcap file{hint}")
    scale = 1e-6 if magic == MAGIC_US else 1e-9
    linktype = struct.unpack_from(order + "I", raw, 20)[0] & 0x0FFFFFFF
    records, offset = [], 24
    while offset + 16 <= len(raw):
        seconds, fraction, captured, original = struct.unpack_from(order + "IIII", raw, offset)
        offset += 16
        if offset + captured > len(raw):
            raise PcapError(f"{path}: record at byte {offset - 16} is truncated")
        records.append(PcapRecord(seconds + fraction * scale, raw[offset:offset + captured], original))
        offset += captured
    return linktype, records


__all__ = ["LINKTYPE_ETHERNET", "LINKTYPE_LINUX_SLL", "PcapError", "PcapRecord", "read_pcap", "write_pcap"]
