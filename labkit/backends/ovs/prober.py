"""Measure a reachability matrix with real packets: every cell at once, one selector, one deadline.

Sockets are created inside each source pod's namespace (per-thread setns) and then driven from a
single non-blocking loop (at most 128 attempts in flight), so a 9x9 matrix costs about one
timeout, not 81. Verdicts, as the
upstream netpol e2e probers (agnhost ``connect``) grade them:

* TCP: connect succeeds -> allow; RST answered by the reject agent -> reject; no answer -> drop.
  A RST from the destination's kernel (nothing listens) still means the policy let the SYN through:
  allow, with a warning (``refused``: the backend turns it into an error when the pod declares the
  port, since then its server should have answered). Connections are closed with SO_LINGER 0
  (RST), leaving no TIME_WAIT, so a fixed ``src_port`` can be reused by the next probe.
* UDP: the echo comes back -> allow; ICMP type 3 code 10 (EHOSTUNREACH) that the reject agent
  recorded sending -> reject; port unreachable from the kernel -> allow (warning); silence -> drop.
  Sent every 0.25 s, since UDP has no retransmission.
* SCTP: like TCP where the kernel has SCTP; else UnsupportedOperation.
* ICMP: echo reply -> allow; destination unreachable code 10 quoting our echo, sent by the agent
  -> reject; silence -> drop.

Failures that are not the pipeline's doing are ``error`` cells with a reason, never reject or
drop (``ProbeResult.errors``): the source pod has no address or no route (ENETUNREACH,
EADDRNOTAVAIL), an unreachable error the Reject agent did not send (the source kernel's own
"host unreachable" after a failed ARP; Antrea's agent answers TCP with a RST, never an ICMP
error), a namespace that does not exist. Silence is classified afterwards by the backend (the
source's neighbour table, the daemons' health).

``src_port`` is bound when the probe gives one, so sourcePort rules are tested for real.
"""

from __future__ import annotations

import errno
import os
import random
import selectors
import socket
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from collections.abc import Callable

from ..._util.netns import entered
from ...errors import CommandError
from ...policy.probe import Probe
from .agent import IPPROTO_ICMP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, checksum, flow_key

UNREACH_ERRNOS = (errno.EHOSTUNREACH, errno.ENETUNREACH)
LOCAL_ERRNOS = {errno.ENETUNREACH: "the source pod {src} has no route to {dst_ip} (ENETUNREACH)",
                errno.EADDRNOTAVAIL: "the source pod {src} does not have its address {src_ip} (EADDRNOTAVAIL)",
                errno.EACCES: "the source pod {src}'s kernel refused to send (EACCES)",
                errno.EPERM: "the source pod {src}'s kernel refused to send (EPERM)"}


def _local(c: "_Cell", err: int | None, fallback: str) -> None:
    """The source pod's own kernel refused before any packet left: an error of that pod."""
    t = c.target
    c.verdict, c.local = "error", True
    c.reason = LOCAL_ERRNOS[err].format(src=t.src, dst_ip=t.dst_ip, src_ip=t.src_ip) if err in LOCAL_ERRNOS else \
        f"the source pod {t.src}: {fallback}"
UDP_RESEND_S = 0.25
MAX_IN_FLIGHT = 128
PROTO_NUMBERS = {"TCP": IPPROTO_TCP, "UDP": IPPROTO_UDP, "SCTP": IPPROTO_SCTP, "ICMP": IPPROTO_ICMP}


@dataclass(frozen=True)
class Target:
    src: str  # pod key
    dst: str
    src_netns: str
    src_ip: str
    dst_ip: str


@dataclass
class _Cell:
    target: Target
    sock: socket.socket | None = None
    verdict: str | None = None
    reason: str = ""  # why, for an error verdict
    local: bool = False  # the source pod itself could not send (no address, no route, no namespace)
    key: tuple | None = None
    icmp_id: int = 0
    last_send: float = 0.0
    deadline: float = 0.0


@dataclass
class ProbeResult:
    verdicts: dict[tuple[str, str], str]
    warnings: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    errors: dict[tuple[str, str], str] = field(default_factory=dict)  # error cells: why
    refused: set[tuple[str, str]] = field(default_factory=set)  # allow: the destination's kernel refused
    local: set[tuple[str, str]] = field(default_factory=set)  # error: the source pod itself could not send


def _create(cell: _Cell, probe: Probe) -> None:
    """The cell's socket, created in the source pod's namespace (the caller has entered it)."""
    t = cell.target
    if probe.protocol in ("TCP", "SCTP"):
        proto = socket.IPPROTO_SCTP if probe.protocol == "SCTP" else 0
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if probe.src_port is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((t.src_ip, probe.src_port))
    sock.setblocking(False)
    cell.sock = sock


def _icmp_echo(ident: int, seq: int) -> bytes:
    msg = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + b"labkit-probe"
    return msg[:2] + struct.pack("!H", checksum(msg)) + msg[4:]


def run_probes(targets: list[Target], probe: Probe, timeout_s: float = 1.0,
               was_rejected: Callable[[tuple], bool] = lambda key: False,
               max_in_flight: int = MAX_IN_FLIGHT) -> ProbeResult:
    """Probe every target; verdicts ``allow`` | ``drop`` | ``reject`` | ``error`` per (src, dst).

    At most ``max_in_flight`` attempts are outstanding: a burst of thousands of first packets
    (each an upcall in the userspace datapath) would otherwise overflow socket buffers and turn
    slowness into false drops. Each attempt gets ``timeout_s`` from the moment it starts.
    """
    start = time.monotonic()
    cells = [_Cell(t) for t in targets]
    warnings: list[str] = []
    by_source: dict[str, list[_Cell]] = {}
    for c in cells:
        by_source.setdefault(c.target.src_netns, []).append(c)
    icmp_socks: dict[str, socket.socket] = {}

    def open_source(netns: str) -> None:
        try:
            with entered(netns):
                if probe.protocol == "ICMP":
                    icmp_socks[netns] = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
                    icmp_socks[netns].setblocking(False)
                else:
                    for c in by_source[netns]:
                        try:
                            _create(c, probe)
                        except OSError as exc:
                            _local(c, exc.errno, f"cannot open the probe socket: {exc}")
        except CommandError:  # the pod's namespace is gone
            for c in by_source[netns]:
                _local(c, None, f"its network namespace {netns} does not exist")

    with ThreadPoolExecutor(min(8, max(1, len(by_source)))) as pool:
        list(pool.map(open_source, by_source))

    sel = selectors.DefaultSelector()
    by_id: dict[int, _Cell] = {}
    if probe.protocol == "ICMP":
        for c, ident in zip(cells, random.sample(range(1, 0xFFFF), len(cells))):
            c.icmp_id = ident
            c.key = flow_key(IPPROTO_ICMP, c.target.src_ip, ident, c.target.dst_ip, 0)
            by_id[ident] = c
        for netns, sock in icmp_socks.items():
            sel.register(sock, selectors.EVENT_READ, netns)

    def begin(c: _Cell) -> None:
        c.deadline = time.monotonic() + timeout_s
        c.last_send = time.monotonic()
        if c.verdict is not None:  # could not even open its socket
            return
        if probe.protocol == "ICMP":
            sock = icmp_socks.get(c.target.src_netns)
            if sock is None:
                _local(c, None, f"its network namespace {c.target.src_netns} does not exist")
                return
            try:
                sock.sendto(_icmp_echo(c.icmp_id, 1), (c.target.dst_ip, 0))
            except OSError as exc:
                _local(c, exc.errno, f"cannot send: {exc}")
            return
        err = c.sock.connect_ex((c.target.dst_ip, int(probe.port)))
        c.key = flow_key(PROTO_NUMBERS[probe.protocol], c.target.src_ip, c.sock.getsockname()[1],
                         c.target.dst_ip, int(probe.port))
        if err not in (0, errno.EINPROGRESS):
            # Before any packet left: the source's own kernel refused (no route, no address ...).
            _local(c, err, f"connect failed at once: {os.strerror(err)}")
            return
        if probe.protocol == "UDP":
            try:
                c.sock.send(b"labkit-probe")
            except OSError as exc:
                if exc.errno in UNREACH_ERRNOS:
                    c.verdict = "unreachable?"
                else:
                    _local(c, exc.errno, f"cannot send: {exc}")
                return
            sel.register(c.sock, selectors.EVENT_READ, c)
        else:
            sel.register(c.sock, selectors.EVENT_WRITE, c)

    waiting = list(reversed(cells))
    active: list[_Cell] = []
    while waiting or active:
        while waiting and len(active) < max_in_flight:
            c = waiting.pop()
            begin(c)
            if c.verdict is None:
                active.append(c)
        soonest = min((c.deadline for c in active), default=time.monotonic())
        for key, _ in sel.select(timeout=max(0.0, min(0.05, soonest - time.monotonic()))):
            if probe.protocol == "ICMP":
                _read_icmp(key.fileobj, by_id)
                continue
            c = key.data
            if c.verdict is None:
                c.verdict = _stream_or_dgram_verdict(c, probe, warnings)
        now = time.monotonic()
        still = []
        for c in active:
            if c.verdict is None and now >= c.deadline:
                c.verdict = "drop"
            if c.verdict is not None:
                if c.sock is not None:
                    try:
                        sel.unregister(c.sock)
                    except (KeyError, ValueError):
                        pass
                continue
            if probe.protocol == "UDP" and now - c.last_send > UDP_RESEND_S:
                try:
                    c.sock.send(b"labkit-probe")
                except OSError:
                    pass
                c.last_send = now
            still.append(c)
        active = still

    verdicts: dict[tuple[str, str], str] = {}
    errors: dict[tuple[str, str], str] = {}
    refused: set[tuple[str, str]] = set()
    local: set[tuple[str, str]] = set()
    for c in cells:
        pair = (c.target.src, c.target.dst)
        verdict = c.verdict or "drop"
        if verdict == "reject?":  # a RST / port unreachable: only the agent's answers mean reject
            verdict = "reject" if was_rejected(c.key) else "allow"
            if verdict == "allow":
                refused.add(pair)
                warnings.append(f"{c.target.src} -> {c.target.dst} {probe}: the destination refused (nothing "
                                "serves that port); the policy let the packet through")
        elif verdict == "unreachable?":  # an ICMP unreachable: the agent's, or the kernel's after a failed ARP
            if was_rejected(c.key):
                verdict = "reject"
            else:
                verdict = "error"
                c.reason = c.reason or ("host unreachable, and not from the Reject agent: the source's kernel got no "
                                        "ARP answer for the next hop")
        if verdict == "error":
            errors[pair] = c.reason or "the probe failed"
            if c.local:
                local.add(pair)
        verdicts[pair] = verdict
        if c.sock is not None:
            c.sock.close()
    for sock in icmp_socks.values():
        sock.close()
    sel.close()
    return ProbeResult(verdicts, warnings, time.monotonic() - start, errors, refused, local)


def _stream_or_dgram_verdict(c: _Cell, probe: Probe, warnings: list[str]) -> str | None:
    sock = c.sock
    if probe.protocol in ("TCP", "SCTP"):
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err == 0:
            return "allow"
        if err == errno.ECONNREFUSED:
            return "reject?"
        if err in (errno.ETIMEDOUT, errno.EINPROGRESS):
            return None
        # Antrea's agent rejects TCP (and SCTP) with a RST; an ICMP-made error is not its answer.
        c.reason = (f"{os.strerror(err)}, not from the Reject agent (it answers TCP with a RST): "
                    + ("the source's kernel got no ARP answer for the next hop" if err == errno.EHOSTUNREACH
                       else "the source's kernel reported it"))
        return "error"
    try:
        sock.recv(2048)
        return "allow"
    except BlockingIOError:
        return None
    except ConnectionRefusedError:
        return "reject?"
    except OSError as exc:
        if exc.errno in UNREACH_ERRNOS:
            return "unreachable?"
        c.reason = f"{exc.strerror or exc}: not an answer the policy gives"
        return "error"


def _read_icmp(sock: socket.socket, by_id: dict[int, _Cell]) -> int:
    """Read ICMP messages on a source's raw socket; returns how many cells got decided."""
    decided = 0
    while True:
        try:
            data, (addr, _) = sock.recvfrom(4096)
        except (BlockingIOError, InterruptedError):
            return decided
        ihl = (data[0] & 0x0F) * 4
        icmp = data[ihl:]
        if len(icmp) < 8:
            continue
        kind, code = icmp[0], icmp[1]
        if kind == 0:  # echo reply
            ident = struct.unpack("!H", icmp[4:6])[0]
            c = by_id.get(ident)
            if c is not None and c.verdict is None and addr == c.target.dst_ip:
                c.verdict = "allow"
                decided += 1
        elif kind == 3 and len(icmp) >= 8 + 20 + 8:  # destination unreachable quoting our echo request
            inner = icmp[8:]
            inner_ihl = (inner[0] & 0x0F) * 4
            quoted = inner[inner_ihl:]
            if inner[9] == IPPROTO_ICMP and quoted[0] == 8:
                ident = struct.unpack("!H", quoted[4:6])[0]
                c = by_id.get(ident)
                if c is not None and c.verdict is None:
                    if code == 10:  # host administratively prohibited: the agent's answer, if it sent one
                        c.verdict = "unreachable?"
                    else:
                        c.verdict = "error"
                        c.reason = f"ICMP destination unreachable code {code} from {addr}: not the Reject agent's answer"
                    decided += 1


__all__ = ["Target", "ProbeResult", "run_probes"]
