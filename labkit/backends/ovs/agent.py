"""The reject agent: antrea-agent's packet-in handler for Reject rules, over plain OpenFlow 1.3.

Antrea implements ``action: Reject`` by sending the packet to the agent (packet-in from the Metric
table) and answering the client with a packet-out (pkg/agent/openflow/packetout.go,
pkg/agent/controller/networkpolicy/reject.go): a TCP RST+ACK (ack = seq + 1, ports swapped) for
TCP, an ICMP Destination Unreachable type 3 code 10 ("host administratively prohibited") for UDP,
SCTP and ICMP. This agent does the same, so a reject is observed on the wire.

It connects to each node's ``br-int.mgmt`` socket as a service controller, sets
``miss_send_len`` (OVS sends async messages to service connections only after that), answers echo
requests, and for every OFPT_PACKET_IN builds the answer with ``struct`` and sends it back with
OFPT_PACKET_OUT: to the client's port if the client runs on this node, else through
``antrea-tun0`` with ``tun_dst`` = the client's node (the client node's pipeline delivers it: the
answer belongs to a committed connection, so it is ``+est``/``+rel`` and skips policy).
"""

from __future__ import annotations

import logging
import os
import selectors
import socket
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable

from ...datapath.topology import GLOBAL_VIRTUAL_MAC, TUN_OFPORT, Topology
from ...encryption.headers import internet_checksum as checksum  # RFC 1071, shared with the frame builders

log = logging.getLogger(__name__)

OFP_VERSION = 0x04  # OpenFlow 1.3
OFPT_HELLO, OFPT_ERROR, OFPT_ECHO_REQUEST, OFPT_ECHO_REPLY = 0, 1, 2, 3
OFPT_SET_CONFIG, OFPT_PACKET_IN, OFPT_PACKET_OUT = 9, 10, 13
OFPP_CONTROLLER = 0xFFFFFFFD
NO_BUFFER = 0xFFFFFFFF
OFPAT_OUTPUT, OFPAT_SET_FIELD = 0, 25
NXM_NX_TUN_IPV4_DST = (0x0001, 32)  # OXM class NXM_1, field 32, 4 bytes
ETH_P_IP = 0x0800
IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP = 1, 6, 17, 132
ICMP_DEST_UNREACH, ICMP_HOST_ANO = 3, 10
TCP_RST, TCP_ACK, TCP_SYN, TCP_FIN = 0x04, 0x10, 0x02, 0x01


def ipv4_header(src: bytes, dst: bytes, proto: int, payload_len: int) -> bytes:
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload_len, 0, 0x4000, 64, proto, 0, src, dst)
    return hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]


@dataclass(frozen=True)
class Rejected:
    """One answer the agent sent: ``key`` identifies the client's flow (see :func:`flow_key`)."""

    node: str
    key: tuple
    cookie: int
    at: float


def flow_key(proto: int, client_ip: str, client_port: int, server_ip: str, server_port: int) -> tuple:
    """How probes and the agent name one attempt (for ICMP the ports are the echo id and 0)."""
    return (proto, client_ip, client_port, server_ip, server_port)


def build_reject(frame: bytes) -> tuple[bytes, tuple] | None:
    """The answer Antrea's agent would send for ``frame`` (an Ethernet/IPv4 packet), and its flow key."""
    if len(frame) < 34 or struct.unpack("!H", frame[12:14])[0] != ETH_P_IP:
        return None
    eth_dst, eth_src = frame[0:6], frame[6:12]
    ip = frame[14:]
    ihl = (ip[0] & 0x0F) * 4
    proto = ip[9]
    src, dst = ip[12:16], ip[16:20]
    l4 = ip[ihl:]
    client, server = socket.inet_ntoa(src), socket.inet_ntoa(dst)
    if proto == IPPROTO_TCP and len(l4) >= 20:
        sport, dport, seq, ack = struct.unpack("!HHII", l4[:12])
        flags = l4[13]
        if flags & TCP_RST:
            return None  # never answer a RST
        data_off = (l4[12] >> 4) * 4
        seg_len = len(l4) - data_off + (1 if flags & TCP_SYN else 0) + (1 if flags & TCP_FIN else 0)
        # RFC 793: no ACK in the segment -> RST with seq 0 and ack = seq + len; else seq = its ack.
        rst_seq = ack if flags & TCP_ACK else 0
        tcp = struct.pack("!HHIIBBHHH", dport, sport, rst_seq, (seq + seg_len) & 0xFFFFFFFF, 5 << 4,
                          TCP_RST | TCP_ACK, 0, 0, 0)
        pseudo = struct.pack("!4s4sBBH", dst, src, 0, IPPROTO_TCP, len(tcp))
        tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
        packet = ipv4_header(dst, src, IPPROTO_TCP, len(tcp)) + tcp
        key = flow_key(IPPROTO_TCP, client, sport, server, dport)
    elif proto in (IPPROTO_UDP, IPPROTO_SCTP, IPPROTO_ICMP):
        if proto == IPPROTO_ICMP and (len(l4) < 8 or l4[0] not in (8, 13, 15, 17)):
            return None  # only answer queries, never ICMP errors (RFC 1122)
        quoted = ip[:ihl + 8]
        icmp = struct.pack("!BBHI", ICMP_DEST_UNREACH, ICMP_HOST_ANO, 0, 0) + quoted
        icmp = icmp[:2] + struct.pack("!H", checksum(icmp)) + icmp[4:]
        packet = ipv4_header(dst, src, IPPROTO_ICMP, len(icmp)) + icmp
        if proto == IPPROTO_ICMP:
            key = flow_key(IPPROTO_ICMP, client, struct.unpack("!H", l4[4:6])[0], server, 0)
        else:
            sport, dport = struct.unpack("!HH", l4[:4])
            key = flow_key(proto, client, sport, server, dport)
    else:
        return None
    return eth_src + eth_dst + struct.pack("!H", ETH_P_IP) + packet, key


def connect_unix(sock: socket.socket, path: Path) -> None:
    """``sock.connect(path)`` even when ``path`` is longer than a sockaddr_un holds (108 bytes): as
    OVS's own clients do, go through the directory's descriptor (``/proc/self/fd/<dir>/<name>``)."""
    path = Path(path)
    if len(str(path).encode()) < 100:
        sock.connect(str(path))
        return
    fd = os.open(path.parent, os.O_PATH | os.O_CLOEXEC)
    try:
        sock.connect(f"/proc/self/fd/{fd}/{path.name}")
    finally:
        os.close(fd)


def _msg(msg_type: int, body: bytes = b"", xid: int = 0) -> bytes:
    return struct.pack("!BBHI", OFP_VERSION, msg_type, 8 + len(body), xid) + body


def packet_out(frame: bytes, out_port: int, tun_dst: str | None = None) -> bytes:
    actions = b""
    if tun_dst is not None:
        cls, fld = NXM_NX_TUN_IPV4_DST
        oxm = struct.pack("!HBB4s", cls, fld << 1, 4, socket.inet_aton(tun_dst))
        body = oxm + b"\0" * (-(4 + len(oxm)) % 8)
        actions += struct.pack("!HH", OFPAT_SET_FIELD, 4 + len(body)) + body
    actions += struct.pack("!HHIH6x", OFPAT_OUTPUT, 16, out_port, 0xFFFF)
    return _msg(OFPT_PACKET_OUT, struct.pack("!IIH6x", NO_BUFFER, OFPP_CONTROLLER, len(actions)) + actions + frame)


def parse_packet_in(body: bytes) -> tuple[int, int, bytes]:
    """(table_id, cookie, frame) of an OpenFlow 1.3 packet-in body (after the 8-byte header)."""
    _buffer_id, _total_len, _reason, table_id, cookie = struct.unpack("!IHBBQ", body[:16])
    _match_type, match_len = struct.unpack("!HH", body[16:20])
    match_end = 16 + match_len + (-match_len % 8)
    return table_id, cookie, body[match_end + 2:]


class _Conn:
    def __init__(self, node: str, sock: socket.socket) -> None:
        self.node = node
        self.sock = sock
        self.buf = b""


class RejectAgent:
    """One thread serving every node's br-int: packet-in in, packet-out back."""

    def __init__(self, topology: Callable[[], Topology]) -> None:
        self._topology = topology
        self._sel = selectors.DefaultSelector()
        self._conns: dict[str, _Conn] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.rejected: dict[tuple, Rejected] = {}
        self.errors: list[str] = []

    def attach(self, node: str, mgmt_socket: Path, timeout_s: float = 5.0) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout_s)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                connect_unix(sock, mgmt_socket)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        sock.sendall(_msg(OFPT_HELLO) + _msg(OFPT_SET_CONFIG, struct.pack("!HH", 0, 0xFFFF), xid=1))
        sock.setblocking(False)
        self.detach(node)  # a stale connection to a vswitchd that went away
        with self._lock:
            conn = _Conn(node, sock)
            self._conns[node] = conn
            self._sel.register(sock, selectors.EVENT_READ, conn)
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="labkit-reject-agent", daemon=True)
            self._thread.start()

    def connected(self, node: str) -> bool:
        """Is the agent's OpenFlow connection to ``node``'s br-int open? (It closes when
        ovs-vswitchd goes away; the backend's keeper then re-attaches, as antrea-agent's packet-in
        handlers come back with its reconnected OpenFlow client.)"""
        return node in self._conns  # no lock: the loop holds it while it waits in select()

    def detach(self, node: str) -> None:
        with self._lock:
            conn = self._conns.pop(node, None)
            if conn is not None:
                self._sel.unregister(conn.sock)
                conn.sock.close()

    def _drop(self, conn: _Conn) -> None:
        """Close ``conn`` if it is still the node's connection (a newer one may have replaced it)."""
        with self._lock:
            if self._conns.get(conn.node) is conn:
                del self._conns[conn.node]
            try:
                self._sel.unregister(conn.sock)
            except (KeyError, ValueError):
                pass
            conn.sock.close()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
            self._thread = None
        for node in list(self._conns):
            self.detach(node)

    def was_rejected(self, key: tuple, since: float = 0.0) -> bool:
        hit = self.rejected.get(key)
        return hit is not None and hit.at >= since

    # ------------------------------------------------------------------ loop

    def _loop(self) -> None:
        while not self._stop.is_set():
            # attach()/detach() from other threads wait at most one short select for the lock.
            with self._lock:
                events = self._sel.select(timeout=0.02) if self._conns else []
            if not events and not self._conns:
                self._stop.wait(0.05)
            for key, _ in events:
                try:
                    self._read(key.data)
                except OSError as exc:  # an answer to a switch that just went away
                    self.errors.append(f"{key.data.node}: {exc}")
                    self._drop(key.data)

    def _read(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError as exc:
            self.errors.append(f"{conn.node}: {exc}")
            self._drop(conn)
            return
        if not data:
            self._drop(conn)  # ovs-vswitchd went away
            return
        conn.buf += data
        while len(conn.buf) >= 8:
            _version, msg_type, length, xid = struct.unpack("!BBHI", conn.buf[:8])
            if len(conn.buf) < length:
                break
            body, conn.buf = conn.buf[8:length], conn.buf[length:]
            if msg_type == OFPT_ECHO_REQUEST:
                conn.sock.sendall(_msg(OFPT_ECHO_REPLY, body, xid))
            elif msg_type == OFPT_PACKET_IN:
                self._packet_in(conn, body)
            elif msg_type == OFPT_ERROR:
                self.errors.append(f"{conn.node}: OpenFlow error {body[:4].hex()}")
                log.warning("OpenFlow error from %s: %s", conn.node, body.hex())

    def _packet_in(self, conn: _Conn, body: bytes) -> None:
        _table, cookie, frame = parse_packet_in(body)
        built = build_reject(frame)
        if built is None:
            return
        answer, key = built
        topology = self._topology()
        client_ip = key[1]
        client = topology.pod_by_ip(client_ip)
        if client is not None and client.node == conn.node:
            out = packet_out(answer, client.ofport)
        else:
            node = topology.node_of_ip(client_ip)
            if node is None:
                return
            # Through the tunnel: the client's node routes by IP and rewrites the MACs.
            answer = bytes.fromhex(GLOBAL_VIRTUAL_MAC.replace(":", "")) + answer[6:]
            out = packet_out(answer, TUN_OFPORT, tun_dst=node.node_ip)
        # Record before sending: a prober that sees the answer must find the record.
        self.rejected[key] = Rejected(conn.node, key, cookie, time.monotonic())
        try:
            conn.sock.sendall(out)
        except OSError as exc:
            self.errors.append(f"{conn.node}: packet-out failed: {exc}")


__all__ = ["RejectAgent", "connect_unix", "Rejected", "build_reject", "flow_key", "packet_out", "parse_packet_in", "checksum"]
