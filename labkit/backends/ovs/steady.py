"""Steady traffic between pods, so that datapath flows exist and count packets (notebook 08).

One background thread drives every socket (created inside the source pods' namespaces, as the
prober does) from one selector:

* **streams**: long-lived UDP "connections" (one 5-tuple each) at ``pps`` datagrams per second;
  the node's pod server echoes each datagram, so conntrack sees both directions and the flows go
  ``+est`` after the first exchange, like the long-lived iperf3 stream of Antrea's offload doc;
* **churn**: ``churn_per_s`` short TCP connections per second (connect, send, read the echo, close),
  each a new conntrack entry whose first packets take the ``+new`` flows and upcalls.

Rates are kept small (the machine has 2 shared cores): the point is the *shape* of the datapath
flows and their counters, not throughput. (:mod:`.traffic` replays planned flow-visibility
connections instead; this module only keeps flows busy.)
"""

from __future__ import annotations

import errno
import itertools
import selectors
import socket
import threading
import time
from dataclasses import dataclass, field

from ..._util.netns import socket_in


@dataclass(frozen=True)
class Stream:
    src: str  # pod key
    dst: str
    src_netns: str
    dst_ip: str
    port: int


@dataclass
class TrafficStats:
    datagrams_sent: int = 0
    datagrams_echoed: int = 0
    connections_opened: int = 0
    connections_completed: int = 0
    connections_failed: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if k != "errors"}


class SteadyTraffic:
    """Background traffic; use as a context manager or call :meth:`stop` (idempotent)."""

    def __init__(self, streams: list[Stream], pps: float = 50.0, churn: list[Stream] | None = None,
                 churn_per_s: float = 0.0, payload: bytes = b"labkit-steady-traffic") -> None:
        self.streams = list(streams)
        self.pps = float(pps)
        self.churn = list(churn or [])
        self.churn_per_s = float(churn_per_s)
        self.payload = payload
        self.stats = TrafficStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> "SteadyTraffic":
        if not self.running:
            self._stop.clear()
            self._ready.clear()
            self._thread = threading.Thread(target=self._run, name="labkit-steady-traffic", daemon=True)
            self._thread.start()
            self._ready.wait(10)
        return self

    def stop(self, timeout_s: float = 10.0) -> TrafficStats:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        return self.stats

    def __enter__(self) -> "SteadyTraffic":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return (f"<SteadyTraffic {len(self.streams)} streams at {self.pps:g} pps, {self.churn_per_s:g} new "
                f"connections/s, running={self.running} {self.stats.as_dict()}>")

    # ------------------------------------------------------------------ the loop

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        udp: list[socket.socket] = []
        try:
            for s in self.streams:
                sock = socket_in(s.src_netns, socket.AF_INET, socket.SOCK_DGRAM)
                sock.setblocking(False)
                sock.connect((s.dst_ip, s.port))
                sel.register(sock, selectors.EVENT_READ, "udp")
                udp.append(sock)
        except OSError as exc:
            self.stats.errors.append(f"could not open a stream socket: {exc}")
        finally:
            self._ready.set()
        churn = itertools.cycle(self.churn) if self.churn else None
        start = time.monotonic()
        rounds = opened = 0
        pending: dict[socket.socket, float] = {}
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                while udp and rounds < int((now - start) * self.pps):
                    rounds += 1
                    for sock in udp:
                        try:
                            sock.send(self.payload)
                            self.stats.datagrams_sent += 1
                        except OSError:
                            pass  # e.g. ECONNREFUSED after an ICMP error: keep the stream going
                while churn is not None and opened < int((now - start) * self.churn_per_s):
                    opened += 1
                    self._open(sel, next(churn), pending)
                for sock, deadline in list(pending.items()):
                    if now > deadline:
                        self._close(sel, sock, pending, ok=False)
                for key, _ in sel.select(timeout=0.005):
                    self._ready_socket(sel, key, pending)
        finally:
            for sock in list(pending):
                self._close(sel, sock, pending, ok=False)
            for sock in udp:
                sel.unregister(sock)
                sock.close()
            sel.close()

    def _ready_socket(self, sel: selectors.BaseSelector, key: selectors.SelectorKey, pending: dict) -> None:
        sock = key.fileobj
        if key.data == "udp":
            try:
                while sock.recv(2048):
                    self.stats.datagrams_echoed += 1
            except OSError:
                pass
        elif key.data == "connecting":
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                self._close(sel, sock, pending, ok=False)
                return
            try:
                sock.send(self.payload)
            except OSError:
                self._close(sel, sock, pending, ok=False)
                return
            sel.modify(sock, selectors.EVENT_READ, "reading")
        else:
            try:
                data = sock.recv(2048)
            except OSError:
                data = b""
            self._close(sel, sock, pending, ok=bool(data))

    def _open(self, sel: selectors.BaseSelector, s: Stream, pending: dict) -> None:
        try:
            sock = socket_in(s.src_netns, socket.AF_INET, socket.SOCK_STREAM)
        except OSError as exc:
            self.stats.errors.append(str(exc))
            return
        sock.setblocking(False)
        err = sock.connect_ex((s.dst_ip, s.port))
        self.stats.connections_opened += 1
        if err not in (0, errno.EINPROGRESS):
            sock.close()
            self.stats.connections_failed += 1
            return
        sel.register(sock, selectors.EVENT_WRITE, "connecting")
        pending[sock] = time.monotonic() + 2.0

    def _close(self, sel: selectors.BaseSelector, sock: socket.socket, pending: dict, ok: bool) -> None:
        pending.pop(sock, None)
        try:
            sel.unregister(sock)
        except (KeyError, ValueError):
            pass
        sock.close()
        if ok:
            self.stats.connections_completed += 1
        else:
            self.stats.connections_failed += 1


__all__ = ["SteadyTraffic", "Stream", "TrafficStats"]
