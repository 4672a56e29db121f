"""Neighbour (ARP) entries of a lab's namespaces, through rtnetlink from inside each namespace.

Why static entries: the kernel's neighbour table is *one* table for every network namespace of
the machine. Its garbage collector starts refusing new entries above
``net.ipv4.neigh.default.gc_thresh3`` (1024 by default; "neighbor table overflow!"), so one
lab probing a few hundred same-node pairs used to fill it and make *other* labs' first packets
wait for an ARP answer that never came: false drops, for about 15 s. Permanent entries are
exempt from that limit (since Linux 4.19 only non-permanent entries count towards the gc
thresholds: ``neigh_alloc(..., exempt_from_gc)``), and a pod that has one for every address it
talks to never sends an ARP request. That is what an ARP responder guarantees on a real node
(Antrea's ARPResponder table answers ARP for the gateway and remote gateways from the
switch, pkg/agent/openflow/pipeline.go ``arpResponderFlow``); labkit's pipeline still answers ARP
the same way, but no pod needs to ask any more.

Each pod gets a ``PERMANENT`` entry for its gateway and for every pod on its node (the pod CIDR is
on-link, so same-node peers are reached by ARP; remote pods through the gateway).

Nothing here forks ``ip``: the netlink socket is created inside the namespace (setns, see
:mod:`labkit._util.netns`), so thousands of entries cost milliseconds.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Iterable

from ..._util.netns import entered

RTM_NEWNEIGH, RTM_DELNEIGH, RTM_GETNEIGH = 28, 29, 30
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_ACK, NLM_F_REPLACE, NLM_F_CREATE, NLM_F_DUMP = 0x1, 0x4, 0x100, 0x400, 0x300
NDA_DST, NDA_LLADDR = 1, 2
NUD_STATES = {0x01: "INCOMPLETE", 0x02: "REACHABLE", 0x04: "STALE", 0x08: "DELAY", 0x10: "PROBE",
              0x20: "FAILED", 0x40: "NOARP", 0x80: "PERMANENT"}
NUD_PERMANENT = 0x80
UNRESOLVED = ("INCOMPLETE", "FAILED")
_NDMSG = struct.Struct("=BxxxiHBB")
_NLMSGHDR = struct.Struct("=LHHLL")
CHUNK = 256  # requests per send


class NeighbourError(OSError):
    """The kernel refused a neighbour change."""


def _attr(kind: int, data: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(data), kind) + data
    return raw + b"\0" * (-len(raw) % 4)


def _message(msg_type: int, flags: int, seq: int, body: bytes) -> bytes:
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), msg_type, flags, seq, 0) + body


def _read_acks(sock: socket.socket, expected: int) -> list[tuple[int, int]]:
    """Read ``expected`` NLMSG_ERROR acknowledgements; returns (seq, errno) of the failures."""
    failures = []
    seen = 0
    while seen < expected:
        data = sock.recv(1 << 16)
        offset = 0
        while offset + _NLMSGHDR.size <= len(data):
            length, msg_type, _flags, seq, _pid = _NLMSGHDR.unpack_from(data, offset)
            if msg_type == NLMSG_ERROR:
                seen += 1
                code = -struct.unpack_from("=i", data, offset + _NLMSGHDR.size)[0]
                if code:
                    failures.append((seq, code))
            offset += (length + 3) & ~3
            if length == 0:
                break
    return failures


def _open(netns: str) -> tuple[socket.socket, dict[str, int]]:
    with entered(netns):
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        index = {name: idx for idx, name in socket.if_nameindex()}
    sock.bind((0, 0))
    return sock, index


def set_permanent(netns: str, ifname: str, entries: Iterable[tuple[str, str]]) -> int:
    """``ip neigh replace <ip> lladdr <mac> dev <ifname> nud permanent`` for every (ip, mac)."""
    entries = list(entries)
    if not entries:
        return 0
    sock, index = _open(netns)
    with sock:
        ifindex = index.get(ifname)
        if ifindex is None:
            raise NeighbourError(errno.ENODEV, f"no interface {ifname} in netns {netns}")
        # In chunks, each fully acknowledged before the next, so the acks never overflow the socket.
        for first in range(0, len(entries), CHUNK):
            chunk = entries[first:first + CHUNK]
            batch = b"".join(
                _message(RTM_NEWNEIGH, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE, first + i + 1,
                         _NDMSG.pack(socket.AF_INET, ifindex, NUD_PERMANENT, 0, 0)
                         + _attr(NDA_DST, socket.inet_aton(ip))
                         + _attr(NDA_LLADDR, bytes.fromhex(mac.replace(":", ""))))
                for i, (ip, mac) in enumerate(chunk))
            sock.sendall(batch)
            _raise(_read_acks(sock, len(chunk)), entries, netns)
    return len(entries)


def _raise(failures: list[tuple[int, int]], entries: list[tuple[str, str]], netns: str) -> None:
    if failures:
        seq, code = failures[0]
        ip, mac = entries[seq - 1]
        raise NeighbourError(code, f"neighbour {ip} lladdr {mac} in netns {netns}: {os.strerror(code)} "
                                   f"({len(failures)} of {len(entries)} entries refused)")


def delete(netns: str, ifname: str, ips: Iterable[str]) -> None:
    """``ip neigh del <ip> dev <ifname>`` for every ip (absent entries are fine)."""
    ips = list(ips)
    if not ips:
        return
    sock, index = _open(netns)
    with sock:
        ifindex = index.get(ifname)
        if ifindex is None:
            return
        batch = b"".join(_message(RTM_DELNEIGH, NLM_F_REQUEST | NLM_F_ACK, seq,
                                  _NDMSG.pack(socket.AF_INET, ifindex, 0, 0, 0) + _attr(NDA_DST, socket.inet_aton(ip)))
                         for seq, ip in enumerate(ips, start=1))
        sock.sendall(batch)
        _read_acks(sock, len(ips))  # ENOENT for entries already gone is fine


def dump(netns: str) -> dict[str, tuple[str, str]]:
    """IPv4 neighbour entries of ``netns``: ip -> (state name, lladdr)."""
    sock, _ = _open(netns)
    out: dict[str, tuple[str, str]] = {}
    with sock:
        sock.sendall(_message(RTM_GETNEIGH, NLM_F_REQUEST | NLM_F_DUMP, 1,
                              _NDMSG.pack(socket.AF_INET, 0, 0, 0, 0)))
        while True:
            data = sock.recv(1 << 16)
            offset = 0
            while offset + _NLMSGHDR.size <= len(data):
                length, msg_type, _flags, _seq, _pid = _NLMSGHDR.unpack_from(data, offset)
                if msg_type == NLMSG_DONE:
                    return out
                if msg_type == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", data, offset + _NLMSGHDR.size)[0]
                    raise NeighbourError(code, f"neighbour dump in netns {netns}: {os.strerror(code)}")
                if msg_type == RTM_NEWNEIGH:
                    start = offset + _NLMSGHDR.size
                    family, _ifindex, state, _fl, _ty = _NDMSG.unpack_from(data, start)
                    pos, end = start + _NDMSG.size, offset + length
                    ip = mac = ""
                    while pos + 4 <= end:
                        alen, atype = struct.unpack_from("=HH", data, pos)
                        if alen < 4:
                            break
                        value = data[pos + 4:pos + alen]
                        if atype == NDA_DST and len(value) == 4:
                            ip = socket.inet_ntoa(value)
                        elif atype == NDA_LLADDR:
                            mac = ":".join(f"{b:02x}" for b in value)
                        pos += (alen + 3) & ~3
                    if family == socket.AF_INET and ip:
                        out[ip] = (_state_name(state), mac)
                offset += (length + 3) & ~3
                if length == 0:
                    break


def table_fulls(path: str = "/proc/net/stat/arp_cache") -> int | None:
    """How many times the kernel's IPv4 neighbour table was full, machine-wide (every namespace
    and every lab share it): the ``table_fulls`` column summed over CPUs. None if unreadable."""
    try:
        lines = open(path).read().split("\n")
    except OSError:
        return None
    header = lines[0].split()
    if "table_fulls" not in header:
        return None
    column = header.index("table_fulls")
    return sum(int(line.split()[column], 16) for line in lines[1:] if len(line.split()) > column)


def gc_thresh3() -> int | None:
    try:
        return int(open("/proc/sys/net/ipv4/neigh/default/gc_thresh3").read())
    except (OSError, ValueError):
        return None


def _state_name(state: int) -> str:
    return "|".join(name for bit, name in NUD_STATES.items() if state & bit) or "NONE"


__all__ = ["set_permanent", "delete", "dump", "table_fulls", "gc_thresh3", "NeighbourError", "UNRESOLVED"]
