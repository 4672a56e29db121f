"""Two Nodes and two pods in network namespaces, to capture and measure real encryption (root).

A stand-alone stand-in for the ovs backend's nodes (which will later provide the same
:class:`~labkit.encryption.wireguard.NodeEndpoint` list)::

    pod1 (10.251.1.2) ── node1 ══ underlay veth 10.250.0.1 ↔ 10.250.0.2 ══ node2 ── pod2 (10.251.2.2)

Pods reach their Node over a veth and are routed by the Node's kernel. Between Nodes:

* ``mode="none"``: a Linux Geneve device (VNI 5001, UDP 6081), or VXLAN (UDP 4789) where the
  kernel has no Geneve — what crosses the underlay is cleartext, as in Antrea's default encap mode;
* ``mode="wireGuard"``: a :class:`WireGuardMesh` (wireguard-go) routes each peer pod CIDR;
* ``mode="ipsec"``: an :class:`IPsecMesh` (strongSwan charon, userspace ESP in UDP 4500) does.

Every namespace is named ``lkenc-<pid>-<tag>-<role>``: all addresses exist only inside them, and
:meth:`Testbed.stop` (or :func:`labkit.encryption._netns.sweep` after a crash) removes them.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BackendUnavailable, CommandError, UnsupportedOperation
from . import _netns
from .._util import proc as cmd
from .ipsec import IPsecMesh
from .pcap import write_pcap
from .tap import Tap
from .ipsec import available as ipsec_available
from .wireguard import NodeEndpoint, WireGuardMesh
from .wireguard import available as wireguard_available

UNDERLAY = ("10.250.0.1", "10.250.0.2")
POD_CIDRS = ("10.251.1.0/24", "10.251.2.0/24")
POD_IPS = ("10.251.1.2", "10.251.2.2")
GATEWAYS = ("10.251.1.1", "10.251.2.1")
TUNNEL_IPS = ("10.252.0.1", "10.252.0.2")  # addresses on the tunnel devices (next hops for the pod CIDRs)
TUNNEL_VNI = 5001
UNDERLAY_IF = "ul0"
HTTP_PORT = 80
REAL_MODES = ("none", "ipsec", "wireGuard")
TUNNEL_MACS = ("02:00:0a:fc:00:01", "02:00:0a:fc:00:02")
UNDERLAY_MACS = ("02:00:0a:fa:00:01", "02:00:0a:fa:00:02")


def available(mode: str = "wireGuard") -> tuple[bool, str]:
    if mode not in REAL_MODES:
        return False, f"unknown mode {mode!r}; choose one of {', '.join(REAL_MODES)}"
    if os.geteuid() != 0:
        return False, "needs root (network namespaces)"
    missing = cmd.missing_tools("ip")
    if missing:
        return False, f"{', '.join(missing)} not installed (apt-get install iproute2)"
    if mode == "wireGuard":
        return wireguard_available()
    if mode == "ipsec":
        return ipsec_available()
    return True, ""


@dataclass
class Testbed:
    __test__ = False  # not a pytest test class, whatever its name
    """Two node and two pod namespaces joined by an underlay veth, with ``mode`` between the Nodes."""

    mode: str = "wireGuard"
    tag: str = field(default_factory=lambda: secrets.token_hex(2))
    mesh: WireGuardMesh | IPsecMesh | None = field(default=None, init=False)
    tunnel_type: str = field(default="", init=False)  # geneve | vxlan (mode none)
    _created: list[str] = field(default_factory=list, init=False, repr=False)
    _procs: list[subprocess.Popen] = field(default_factory=list, init=False, repr=False)
    _tmp: tempfile.TemporaryDirectory | None = field(default=None, init=False, repr=False)
    secret: str = field(default_factory=lambda: f"labkit-secret-{secrets.token_hex(6)}", init=False)

    def __post_init__(self) -> None:
        base = f"{_netns.NETNS_PREFIX}{os.getpid()}-{self.tag}"
        self.ns = {role: f"{base}-{role}" for role in ("n1", "n2", "p1", "p2")}

    @property
    def nodes(self) -> list[NodeEndpoint]:
        return [NodeEndpoint("node1", self.ns["n1"], UNDERLAY[0], POD_CIDRS[0]),
                NodeEndpoint("node2", self.ns["n2"], UNDERLAY[1], POD_CIDRS[1])]

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Testbed:
        ok, why = available(self.mode)
        if not ok:
            raise BackendUnavailable(f"testbed mode {self.mode!r} cannot run here: {why}")
        self._tmp = tempfile.TemporaryDirectory(prefix="lkenc-")
        try:
            self._build()
        except BaseException:
            self.stop()
            raise
        return self

    def _build(self) -> None:
        run = cmd.run
        for ns in self.ns.values():
            run(["ip", "netns", "add", ns])
            self._created.append(ns)
            run(["ip", "link", "set", "lo", "up"], ns)
            # IPv4 only: no router solicitations or MLD reports in the captures
            run(["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"], ns)
        n1, n2 = self.ns["n1"], self.ns["n2"]
        # the underlay: one veth whose two ends live in the node namespaces (nothing in the root namespace)
        run(["ip", "-n", n1, "link", "add", UNDERLAY_IF, "address", UNDERLAY_MACS[0], "type", "veth",
             "peer", "name", UNDERLAY_IF, "address", UNDERLAY_MACS[1], "netns", n2])
        for i, node in enumerate((n1, n2)):
            run(["ip", "addr", "add", f"{UNDERLAY[i]}/24", "dev", UNDERLAY_IF], node)
            run(["ip", "link", "set", UNDERLAY_IF, "up"], node)
            # static neighbours: no ARP on the underlay either, so a capture holds only the traffic under test
            run(["ip", "neigh", "replace", UNDERLAY[1 - i], "lladdr", UNDERLAY_MACS[1 - i], "dev", UNDERLAY_IF,
                 "nud", "permanent"], node)
            run(["sysctl", "-qw", "net.ipv4.ip_forward=1"], node)
            pod = self.ns[f"p{i + 1}"]
            run(["ip", "-n", node, "link", "add", "gw0", "type", "veth", "peer", "name", "eth0", "netns", pod])
            run(["ip", "addr", "add", f"{GATEWAYS[i]}/24", "dev", "gw0"], node)
            run(["ip", "link", "set", "gw0", "up"], node)
            run(["ip", "addr", "add", f"{POD_IPS[i]}/24", "dev", "eth0"], pod)
            run(["ip", "link", "set", "eth0", "up"], pod)
            run(["ip", "route", "add", "default", "via", GATEWAYS[i]], pod)
        if self.mode == "none":
            for i, node in enumerate((n1, n2)):
                self._add_tunnel(node, UNDERLAY[1 - i])
                run(["ip", "link", "set", "tun0", "address", TUNNEL_MACS[i], "mtu", "1450", "up"], node)
                run(["ip", "addr", "add", f"{TUNNEL_IPS[i]}/24", "dev", "tun0"], node)
                run(["ip", "neigh", "replace", TUNNEL_IPS[1 - i], "lladdr", TUNNEL_MACS[1 - i], "dev", "tun0",
                     "nud", "permanent"], node)
                run(["ip", "route", "add", POD_CIDRS[1 - i], "via", TUNNEL_IPS[1 - i], "dev", "tun0"], node)
        elif self.mode == "wireGuard":
            self.mesh = WireGuardMesh(self.nodes, lab_id=f"{os.getpid()}{self.tag}").start()
        else:
            self.mesh = IPsecMesh(self.nodes).start()

    def _add_tunnel(self, node: str, remote: str) -> None:
        # Geneve as Antrea uses by default; kernels built without it (like this lab's machine) get
        # VXLAN, which carries the same inner Ethernet frame in clear on UDP 4789.
        geneve = ["ip", "link", "add", "tun0", "type", "geneve", "id", str(TUNNEL_VNI), "remote", remote]
        vxlan = ["ip", "link", "add", "tun0", "type", "vxlan", "id", str(TUNNEL_VNI), "remote", remote,
                 "dstport", "4789"]
        if cmd.run(geneve, node, check=False).returncode == 0:
            self.tunnel_type = "geneve"
        else:
            cmd.run(vxlan, node)
            self.tunnel_type = "vxlan"

    def stop(self) -> None:
        """Tear everything down, in order: our processes, the mesh, the namespaces (idempotent)."""
        for proc in self._procs:
            cmd.terminate(proc, signal.SIGINT)
            for stream in (proc.stdout, proc.stderr):
                if stream:
                    stream.close()
        self._procs.clear()
        if self.mesh is not None:
            self.mesh.stop()
            self.mesh = None
        for ns in reversed(self._created):
            for pid in cmd.run(["ip", "netns", "pids", ns], check=False).stdout.split():
                # only processes we started can be in a namespace we created moments ago
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            cmd.run(["ip", "netns", "del", ns], check=False)
        self._created.clear()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Testbed:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ workloads

    @property
    def workdir(self) -> Path:
        if self._tmp is None:
            raise UnsupportedOperation("the testbed is not running: call start() first")
        return Path(self._tmp.name)

    def serve_http(self) -> None:
        """An HTTP server on pod2:80 serving ``/secret.txt`` containing :attr:`secret`."""
        root = self.workdir / "www"
        root.mkdir(exist_ok=True)
        (root / "secret.txt").write_text(self.secret + "\n")
        proc = cmd.spawn([sys.executable, "-m", "http.server", str(HTTP_PORT), "--bind", POD_IPS[1],
                             "--directory", str(root)], self.ns["p2"])
        self._procs.append(proc)
        cmd.wait_for(lambda: cmd.run(["ss", "-ltnH", f"sport = :{HTTP_PORT}"], self.ns["p2"],
                                           check=False).stdout.strip() != "", 5.0, "the HTTP server on pod2")

    def http_get(self, path: str = "/secret.txt", timeout_s: float = 5.0) -> str:
        """GET from pod1 to pod2; returns the body."""
        code = ("import sys,urllib.request;"
                f"sys.stdout.write(urllib.request.urlopen('http://{POD_IPS[1]}:{HTTP_PORT}{path}',"
                f"timeout={timeout_s}).read().decode())")
        try:
            return cmd.run([sys.executable, "-c", code], self.ns["p1"], timeout_s=timeout_s + 5).stdout
        except CommandError as exc:
            raise CommandError(f"HTTP GET pod1 -> pod2 over {self.mode} failed: {str(exc)[-200:]}\n"
                               f"{self.diagnostics()}", exc.failure) from exc

    def diagnostics(self) -> str:
        """Interface counters, routes and neighbours of every namespace (for failure messages)."""
        out = []
        for role, ns in self.ns.items():
            for argv in (["ip", "-s", "-o", "link"], ["ip", "-o", "route"], ["ip", "neigh"]):
                text = cmd.run(argv, ns, check=False).stdout.strip().replace("\\", "")
                out.append(f"[{role}] {' '.join(argv)}:\n{text}")
        return "\n".join(out)

    def ping(self, count: int = 20, interval_s: float = 0.05) -> dict[str, float]:
        """RTT pod1 → pod2 in ms (min/avg/max/mdev) from ``ping -q``."""
        out = cmd.run(["ping", "-q", "-c", str(count), "-i", str(interval_s), POD_IPS[1]], self.ns["p1"],
                         timeout_s=count * interval_s + 10).stdout
        m = re.search(r"= ([\d.]+)/([\d.]+)/([\d.]+)/([\d.]+) ms", out)
        if not m:
            raise CommandError(f"cannot read ping's summary: {out.strip()[-200:]}")
        return dict(zip(("min_ms", "avg_ms", "max_ms", "mdev_ms"), map(float, m.groups()), strict=True))

    def iperf3(self, seconds: float = 3.0, reverse: bool = False) -> dict[str, float]:
        """TCP throughput pod1 → pod2 (receiver side, Mbit/s) with iperf3."""
        if cmd.missing_tools("iperf3"):
            raise BackendUnavailable("iperf3 is not installed (apt-get install iperf3)")
        server = cmd.spawn(["iperf3", "-s", "-1", "-B", POD_IPS[1]], self.ns["p2"])
        self._procs.append(server)
        try:
            cmd.wait_for(lambda: cmd.run(["ss", "-ltnH", "sport = :5201"], self.ns["p2"],
                                               check=False).stdout.strip() != "", 5.0, "the iperf3 server")
            argv = ["iperf3", "-c", POD_IPS[1], "-t", str(seconds), "-J"] + (["-R"] if reverse else [])
            result = json.loads(cmd.run(argv, self.ns["p1"], timeout_s=seconds + 20).stdout)
        finally:
            cmd.terminate(server)
        end = result["end"]
        return {"receiver_mbit_s": end["sum_received"]["bits_per_second"] / 1e6,
                "sender_mbit_s": end["sum_sent"]["bits_per_second"] / 1e6,
                "retransmits": float(end["sum_sent"].get("retransmits", 0))}

    # ------------------------------------------------------------------ capture

    def capture(self, name: str = "underlay") -> UnderlayCapture:
        """A capture of node1's underlay interface, as a context manager."""
        return UnderlayCapture(self.ns["n1"], self.workdir / f"{name}.pcap")


@dataclass
class UnderlayCapture:
    """Every frame on one interface of a node namespace (``tcpdump -i ul0 -w file.pcap``), taken
    around some traffic with an AF_PACKET tap (:class:`labkit.encryption.tap.Tap`) and written as
    a classic pcap when the block ends. A tap drains what the kernel queued before it stops, so
    the last frames of the exchange are never lost (a tshark stopped by SIGINT under load could
    lose the tail it had not read yet)."""

    netns: str
    path: Path
    interface: str = UNDERLAY_IF
    _tap: Tap | None = field(default=None, init=False, repr=False)

    def __enter__(self) -> UnderlayCapture:
        self._tap = Tap(self.netns, self.interface).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._tap is not None:
            write_pcap(self.path, self._tap.stop())
            self._tap = None

    def raw(self) -> bytes:
        from .pcap import read_pcap

        return b"".join(r.data for r in read_pcap(self.path)[1])


__all__ = ["POD_CIDRS", "POD_IPS", "REAL_MODES", "UNDERLAY", "Testbed", "UnderlayCapture", "available"]
