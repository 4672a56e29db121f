"""The pods' servers: one process per node answers on every container port of the node's pods.

Run as ``ip netns exec <node netns> python -m labkit.backends.ovs.podserver <spec.json>``. For each
pod it enters the pod's network namespace (per thread, setns), opens its listening sockets, and
comes back; one selector loop then serves all of them (as agnhost ``porter``/``serve-hostname``
does in the upstream e2e tests, but one process per node instead of one per pod):

* TCP: accept, echo what arrives, close (an HTTP ``GET`` gets a ``200 OK`` naming the pod instead);
* UDP: echo every datagram to its sender;
* SCTP: as TCP, where the kernel has SCTP (this machine's kernel may not: the spec says so).

Prints ``ready <n sockets>`` on stdout once everything listens. Exits on SIGTERM.
"""

from __future__ import annotations

import json
import selectors
import signal
import socket
import sys

from ..._util.netns import entered

PROTOS = {"TCP": (socket.SOCK_STREAM, 0), "UDP": (socket.SOCK_DGRAM, 0),
          "SCTP": (socket.SOCK_STREAM, getattr(socket, "IPPROTO_SCTP", 132))}


def open_listeners(spec: list[dict]) -> list[tuple[socket.socket, str]]:
    out = []
    for pod in spec:
        with entered(pod["netns"]):
            for proto, ports in pod["ports"].items():
                kind, number = PROTOS[proto]
                for port in ports:
                    try:
                        sock = socket.socket(socket.AF_INET, kind, number)
                    except OSError:
                        continue  # SCTP without kernel support: nothing listens (the backend reports it)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    sock.bind(("0.0.0.0", int(port)))
                    if kind == socket.SOCK_STREAM:
                        sock.listen(128)
                    sock.setblocking(False)
                    out.append((sock, proto))
    return out


def http_answer(conn: socket.socket) -> bytes:
    """A small HTTP/1.1 200 answer naming the pod (its address), then the connection closes."""
    body = f"hello from {conn.getsockname()[0]}\n".encode()
    return (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + str(len(body)).encode()
            + b"\r\nConnection: close\r\n\r\n" + body)


def serve(listeners: list[tuple[socket.socket, str]]) -> None:
    sel = selectors.DefaultSelector()
    for sock, proto in listeners:
        sel.register(sock, selectors.EVENT_READ, ("listen" if sock.type == socket.SOCK_STREAM else "udp", sock))
    while True:
        for key, _ in sel.select(timeout=1.0):
            role, sock = key.data
            try:
                if role == "listen":
                    conn, _ = sock.accept()
                    conn.setblocking(False)
                    sel.register(conn, selectors.EVENT_READ, ("conn", conn))
                elif role == "udp":
                    data, peer = sock.recvfrom(65535)
                    sock.sendto(data, peer)
                else:
                    data = sock.recv(65535)
                    if data.startswith(b"GET "):  # an HTTP client (lab.capture): answer like a web server
                        sock.send(http_answer(sock))
                    elif data:
                        sock.send(data)
                    sel.unregister(sock)
                    sock.close()
            except OSError:
                if role == "conn":
                    try:
                        sel.unregister(sock)
                    except (KeyError, ValueError):
                        pass
                    sock.close()


def main(argv: list[str]) -> int:
    with open(argv[1]) as fh:
        spec = json.load(fh)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    listeners = open_listeners(spec)
    print(f"ready {len(listeners)}", flush=True)
    sys.stdout.close()
    serve(listeners)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
