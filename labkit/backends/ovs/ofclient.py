"""A blocking, one-shot OpenFlow 1.3 exchange with a bridge's management socket.

The cheap health and drift check of a node: one ``OFPMP_TABLE`` multipart request over
``br-int.mgmt`` answers, in about a millisecond and without forking ``ovs-ofctl``, both "is
ovs-vswitchd serving OpenFlow?" and "how many flows does each table hold?" (``active_count`` of
``ofp_table_stats``, OpenFlow 1.3.5 §7.3.5.2). Comparing those counts with what labkit installed
finds flows deleted or added behind labkit's back; :mod:`labkit.datapath.drift` then says which.
"""

from __future__ import annotations

import socket
import struct
import time
from pathlib import Path

from .agent import OFP_VERSION, OFPT_ECHO_REPLY, OFPT_ECHO_REQUEST, OFPT_ERROR, OFPT_HELLO, _msg, connect_unix

OFPT_MULTIPART_REQUEST, OFPT_MULTIPART_REPLY = 18, 19
OFPMP_TABLE = 3
OFPMPF_REPLY_MORE = 1
_TABLE_STATS = struct.Struct("!B3xIQQ")  # table_id, active_count, lookup_count, matched_count


class OpenFlowUnavailable(OSError):
    """The switch did not answer on its management socket (absent, refused or silent)."""


def _recv_exact(sock: socket.socket, n: int, deadline: float) -> bytes:
    buf = b""
    while len(buf) < n:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise OpenFlowUnavailable("timed out")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(n - len(buf))
        except socket.timeout as exc:
            raise OpenFlowUnavailable("timed out") from exc
        if not chunk:
            raise OpenFlowUnavailable("connection closed by the switch")
        buf += chunk
    return buf


def table_counts(mgmt_socket: Path, timeout_s: float = 1.0) -> dict[int, int]:
    """Flows per table id (tables with no flow left out) from the switch behind ``mgmt_socket``.

    Raises :class:`OpenFlowUnavailable` when ovs-vswitchd does not answer within ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout_s)
        try:
            connect_unix(sock, mgmt_socket)
        except OSError as exc:
            raise OpenFlowUnavailable(f"cannot connect to {mgmt_socket}: {exc.strerror or exc}") from exc
        xid = 0x1AB
        sock.sendall(_msg(OFPT_HELLO) + _msg(OFPT_MULTIPART_REQUEST, struct.pack("!HH4x", OFPMP_TABLE, 0), xid))
        counts: dict[int, int] = {}
        while True:
            header = _recv_exact(sock, 8, deadline)
            version, msg_type, length, msg_xid = struct.unpack("!BBHI", header)
            body = _recv_exact(sock, length - 8, deadline) if length > 8 else b""
            if msg_type == OFPT_ECHO_REQUEST:
                sock.sendall(_msg(OFPT_ECHO_REPLY, body, msg_xid))
            elif msg_type == OFPT_ERROR and msg_xid == xid:
                raise OpenFlowUnavailable(f"OpenFlow error {body[:4].hex()} (version {version} vs {OFP_VERSION})")
            elif msg_type == OFPT_MULTIPART_REPLY and msg_xid == xid:
                _kind, flags = struct.unpack("!HH", body[:4])
                for offset in range(8, len(body) - _TABLE_STATS.size + 1, _TABLE_STATS.size):
                    table, active, _lookups, _matched = _TABLE_STATS.unpack_from(body, offset)
                    if active:
                        counts[table] = active
                if not flags & OFPMPF_REPLY_MORE:
                    return counts
    except OSError as exc:
        if isinstance(exc, OpenFlowUnavailable):
            raise
        raise OpenFlowUnavailable(str(exc)) from exc
    finally:
        sock.close()


__all__ = ["table_counts", "OpenFlowUnavailable"]
