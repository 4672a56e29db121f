"""A tap on one interface of a network namespace: an AF_PACKET socket read by a thread, what
``tcpdump -i IF 'host A and host B'`` would keep, returned as (time, frame) pairs for a pcap.

The kernel queues a copy of every frame on AF_PACKET sockets as the frame passes the interface,
so once the traffic under study has completed, everything it put on the wire is in the socket's
queue; :meth:`Tap.stop` drains that queue before closing, so no frame is lost however slowly the
reader thread was scheduled (a capture process stopped by a signal can lose the tail it had not
read yet).
"""

from __future__ import annotations

import select
import socket
import struct
import threading
import time

from .._util.netns import entered, socket_in
from ..errors import CommandError, CommandFailure

ETH_P_ALL = 0x0003
SOCKET_BUFFER = 4 << 20  # a burst of full-size frames must not overflow the queue before it is read


class Tap:
    """Frames on ``interface`` in ``netns``: IPv4 between two of ``node_ips`` and ARP about them
    (every frame when ``node_ips`` is empty)."""

    def __init__(self, netns: str, interface: str, node_ips: set[str] | None = None) -> None:
        self.netns, self.interface = netns, interface
        self.node_ips = {socket.inet_aton(ip) for ip in node_ips or ()}
        self.frames: list[tuple[float, bytes]] = []
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "Tap":
        try:
            self._sock = socket_in(self.netns, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)
            with entered(self.netns):
                self._sock.bind((self.interface, 0))
        except OSError as exc:
            if self._sock is not None:
                self._sock.close()
                self._sock = None
            raise CommandError(f"cannot tap {self.interface} in {self.netns}: {exc} (is the lab running?)",
                               CommandFailure(["AF_PACKET", self.interface], None, str(exc))) from exc
        self._thread = threading.Thread(target=self._run, name=f"tap-{self.interface}", daemon=True)
        self._thread.start()
        return self

    def _keep(self, data: bytes) -> bool:
        if not self.node_ips:
            return True
        if len(data) < 34:
            return False
        ethertype = struct.unpack_from("!H", data, 12)[0]
        if ethertype == 0x0806:
            return data[28:32] in self.node_ips or data[38:42] in self.node_ips
        return ethertype == 0x0800 and data[26:30] in self.node_ips and data[30:34] in self.node_ips

    def _read_ready(self, timeout_s: float) -> bool:
        """Read every frame queued now; False when the queue was empty for ``timeout_s``."""
        assert self._sock is not None
        if not select.select([self._sock], [], [], timeout_s)[0]:
            return False
        while True:
            try:
                data = self._sock.recv(65535, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return True
            if self._keep(data):
                self.frames.append((time.time(), data))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._read_ready(0.05)

    def stop(self, linger_s: float = 0.2) -> list[tuple[float, bytes]]:
        """Stop after ``linger_s`` (frames still on their way, e.g. the last FIN/ACKs), draining
        what the kernel already queued; returns the frames kept."""
        time.sleep(linger_s)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if self._sock is not None:
            while self._read_ready(0):
                pass
            self._sock.close()
            self._sock = None
        return self.frames


__all__ = ["Tap"]
