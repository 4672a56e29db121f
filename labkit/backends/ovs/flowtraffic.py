"""Drive planned connections (``labkit.flows.traffic.plan_connections``) as real sockets between
the pods' network namespaces, on a compressed clock.

Each connection's socket is created inside its source pod's namespace (setns per thread, as the
prober does), bound to the planned source address and port (so the 5-tuple the datapath sees is
the planned one), and driven from one non-blocking selector loop:

* TCP: connect; send the request (at most :data:`MAX_REQUEST_OCTETS`: the node's pod server
  echoes one read and closes, so a request is one segment); read the echo until the server
  closes; close. A refused connect is the reject agent's RST (Reject), silence until
  ``connect_timeout_s`` a drop: Linux retransmits the SYN after 1 s, as the sim's model says;
* UDP: send one datagram, wait ``udp_timeout_s`` for the echo.

Connections start at ``plan start x time_scale`` after the run starts: a minute of profile time
runs in seconds of real time. What the client saw is returned per connection; what the datapath
saw is the flow records' business.
"""

from __future__ import annotations

import errno
import selectors
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ..._util.netns import entered
from ...flows.traffic import PlannedConnection
from . import names

MAX_REQUEST_OCTETS = 1024
MAX_OPEN = 256  # sockets open at once (file descriptors, and the 2 datapath threads)


@dataclass
class ClientOutcome:
    """What the client of one planned connection observed."""

    planned: PlannedConnection
    result: str = "pending"  # ok | refused | timeout | error
    sent_octets: int = 0
    received_octets: int = 0
    started_s: float = 0.0
    ended_s: float = 0.0
    error: str = ""


@dataclass
class _Active:
    outcome: ClientOutcome
    sock: socket.socket
    state: str  # connecting | reading
    deadline: float
    request: bytes


def drive(lab: str, planned: Sequence[PlannedConnection], *, time_scale: float, connect_timeout_s: float = 2.5,
          udp_timeout_s: float = 0.5, io_timeout_s: float = 5.0) -> list[ClientOutcome]:
    """Open every planned connection at its (scaled) time; returns when all are finished."""
    if not planned:
        return []
    origin = min(p.start_s for p in planned)
    outcomes = [ClientOutcome(p) for p in planned]
    order = sorted(range(len(planned)), key=lambda i: planned[i].start_s)
    sel = selectors.DefaultSelector()
    active: dict[int, _Active] = {}
    t0 = time.monotonic()
    nxt = 0

    def finish(fd: int, result: str, error: str = "") -> None:
        item = active.pop(fd)
        item.outcome.result, item.outcome.error = result, error
        item.outcome.ended_s = time.time()
        try:
            sel.unregister(item.sock)
        except (KeyError, ValueError):
            pass
        item.sock.close()

    while nxt < len(order) or active:
        now = time.monotonic()
        while nxt < len(order) and len(active) < MAX_OPEN and \
                (planned[order[nxt]].start_s - origin) * time_scale <= now - t0:
            outcome = outcomes[order[nxt]]
            nxt += 1
            item = _open(lab, outcome, connect_timeout_s, udp_timeout_s)
            if item is not None:
                active[item.sock.fileno()] = item
                sel.register(item.sock, selectors.EVENT_WRITE if item.state == "connecting" else selectors.EVENT_READ,
                             item.sock.fileno())
        timeout = 0.02
        if nxt < len(order) and not active:
            timeout = max(0.0, min(0.05, (planned[order[nxt]].start_s - origin) * time_scale - (now - t0)))
        for key, _ in sel.select(timeout=timeout):
            fd = key.data
            item = active.get(fd)
            if item is None:
                continue
            if item.state == "connecting":
                err = item.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err == 0:
                    try:
                        item.sock.send(item.request)
                        item.outcome.sent_octets += len(item.request)
                    except OSError as exc:
                        finish(fd, "error", str(exc))
                        continue
                    item.state, item.deadline = "reading", time.monotonic() + io_timeout_s
                    sel.modify(item.sock, selectors.EVENT_READ, fd)
                elif err == errno.ECONNREFUSED:
                    finish(fd, "refused")
                elif err not in (errno.EINPROGRESS, errno.EALREADY):
                    finish(fd, "refused" if err in (errno.EHOSTUNREACH, errno.ENETUNREACH) else "error",
                           errno.errorcode.get(err, str(err)))
                continue
            try:
                data = item.sock.recv(65536)
            except BlockingIOError:
                continue
            except ConnectionRefusedError:
                finish(fd, "refused")
                continue
            except OSError as exc:
                finish(fd, "refused" if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH) else "error", str(exc))
                continue
            item.outcome.received_octets += len(data)
            if not data or item.outcome.planned.protocol == "UDP":
                finish(fd, "ok")
        now = time.monotonic()
        for fd in [fd for fd, item in active.items() if now >= item.deadline]:
            finish(fd, "timeout")
    sel.close()
    return outcomes


def _open(lab: str, outcome: ClientOutcome, connect_timeout_s: float, udp_timeout_s: float) -> _Active | None:
    p = outcome.planned
    udp = p.protocol == "UDP"
    outcome.started_s = time.time()
    try:
        with entered(names.pod_netns(lab, p.source)):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
    except OSError as exc:
        outcome.result, outcome.error = "error", str(exc)
        return None
    request = b"x" * max(1, min(p.request_bytes, MAX_REQUEST_OCTETS))
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((p.key.source_ip, p.key.source_transport_port))
        sock.setblocking(False)
        err = sock.connect_ex((p.key.destination_ip, p.key.destination_transport_port))
        if udp:
            sock.send(request)
            outcome.sent_octets = len(request)
            return _Active(outcome, sock, "reading", time.monotonic() + udp_timeout_s, request)
        if err not in (0, errno.EINPROGRESS):
            raise OSError(err, errno.errorcode.get(err, str(err)))
        return _Active(outcome, sock, "connecting", time.monotonic() + connect_timeout_s, request)
    except OSError as exc:
        sock.close()
        outcome.result = "refused" if exc.errno == errno.ECONNREFUSED else "error"
        outcome.error = str(exc)
        outcome.ended_s = time.time()
        return None


__all__ = ["ClientOutcome", "MAX_REQUEST_OCTETS", "drive"]
