"""Antrea's ``trafficEncryptionMode`` on the ovs backend, with real packets on the lab's underlay.

* ``none``: what the backend always does — inter-Node pod traffic leaves ``br-int`` through the
  OVS Geneve port ``antrea-tun0`` (``tun_dst`` = the peer Node IP), in clear on the underlay.
* ``wireGuard``: as Antrea's WireGuard mode (docs/traffic-encryption.md; antrea-io/antrea#2297):
  every Node runs a WireGuard device listening on UDP 51820 with the other Nodes as peers
  (endpoint = peer InternalIP, allowed-ips = peer pod CIDR), the peer pod CIDRs are routed to that
  device, and the L3Forwarding flow for a remote pod CIDR no longer tunnels: it rewrites the
  destination MAC to ``antrea-gw0``'s and hands the packet to the Node's routing (as Antrea does
  for WireGuard and noEncap). The device is ``wireguard-go`` (this kernel has no WireGuard
  module); its control socket path is global, so its name is unique per machine
  (``lkwg<hash><n>``) and it carries the altname ``antrea-wg0`` inside its Node namespace.
* ``ipsec``: real IKEv2 + ESP with strongSwan's ``charon`` and ``kernel-libipsec`` (the kernel has
  no ESP transform) in each Node namespace, on the same gateway path as WireGuard. This differs from
  Antrea's IPsec, which has OVS put ESP (transport mode) around the Geneve packets: the Geneve
  packets of the userspace datapath never pass through the Node's kernel, where libipsec's TUN
  device and routes live, and libipsec knows only tunnel mode in UDP 4500. So the underlay carries
  real ESP-in-UDP/4500 around the pod packet (no Geneve inside); docs/encryption.md says so.

Policy is enforced as before: egress rules on the source Node before L3Forwarding, ingress rules
on the destination Node when the packet comes back into ``br-int`` from ``antrea-gw0`` and goes
to the Pod's port. Same-Node traffic never reaches L3Forwarding's remote-CIDR flows.

:func:`capture` taps the underlay (an AF_PACKET socket on the source Node's port of the underlay
bridge) during one HTTP request from one pod to the other and returns a
:class:`labkit.encryption.wire.Capture` of the real frames (``metadata["emulated"] = False``).
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..._util.netns import entered, set_tx_checksum, socket_in
from ...datapath.openflow import FlowEntry
from ...datapath.topology import Topology, mac_for_ip
from ...encryption.dissect import dissect
from ...encryption.pcap import write_pcap
from ...encryption.tap import Tap
from ...encryption.wire import Capture, Frame, PodEndpoint, check_mode
from ...errors import (BackendUnavailable, CommandError, CommandFailure, ConflictError, LabStateError,
                       UnsupportedOperation)
from . import names

if TYPE_CHECKING:  # pragma: no cover
    from ...encryption.ipsec import IPsecMesh
    from ...encryption.wireguard import WireGuardMesh

WG_ALTNAME = "antrea-wg0"  # Antrea's device name; the kernel name must be unique (wireguard-go's socket)
HTTP_PORT = 80
IMPLEMENTATION = {
    "none": "OVS userspace Geneve (antrea-tun0)",
    "wireGuard": "wireguard-go in each Node namespace (Antrea uses the kernel module)",
    "ipsec": "strongSwan charon + kernel-libipsec in each Node namespace (ESP in UDP 4500, tunnel mode)",
}


def _node_endpoints(lab: str, topology: Topology):
    from ...encryption.wireguard import NodeEndpoint

    return [NodeEndpoint(n.name, names.node_netns(lab, n.name), n.node_ip, n.pod_cidr) for n in topology.nodes]


def _sysctl(netns: str, key: str, value: str) -> None:
    with entered(netns):
        Path("/proc/sys", *key.split(".")).write_text(value)


@dataclass
class NodeEncryption:
    """The encryption state of one ovs lab: the mode and the mesh that realizes it."""

    lab: str
    state_dir: Path
    mode: str = "none"
    mesh: WireGuardMesh | IPsecMesh | None = field(default=None, repr=False)
    timings: dict[str, float] = field(default_factory=dict)

    # ------------------------------------------------------------------ flows

    def adjust_flows(self, flows: list[FlowEntry], topology: Topology, node: str) -> list[FlowEntry]:
        """The node's flows for this mode: with encryption, remote pod CIDRs go to ``antrea-gw0``.

        Antrea (WireGuard): L3Forwarding sets the gateway's MAC as destination and the packet
        leaves through the gateway port, to be routed by the Node into the WireGuard device.
        """
        if self.mode == "none":
            return flows
        spec = topology.node(node)
        remote = {f"ip,nw_dst={peer.pod_cidr}" for peer in topology.nodes if peer.name != node}
        out = []
        for f in flows:
            if f.table == "L3Forwarding" and f.match in remote:
                f = FlowEntry(f.table, f.priority, f.match,
                              f"set_field:{spec.gateway_mac}->eth_dst,goto_table:L2ForwardingCalc", f.cookie)
            out.append(f)
        return out

    # ------------------------------------------------------------------ switching

    def set_mode(self, topology: Topology, mode: str, reinstall) -> None:
        """Switch to ``mode``; ``reinstall()`` recompiles and installs every node's flows."""
        check_mode(mode)
        if mode == self.mode:
            return
        t0 = time.monotonic()
        old_mode, old_mesh = self.mode, self.mesh
        if old_mesh is not None:
            # Back to the tunnel first, so no packet is routed to a device that is going away.
            self.mode = "none"
            reinstall()
            self.mesh = None
            old_mesh.stop()
        try:
            if mode != "none":
                mesh = self._start_mesh(topology, mode)
                self.mesh = mesh
                for n in topology.nodes:  # decrypted packets arrive on the device and are forwarded
                    self._forward_from_device(names.node_netns(self.lab, n.name), mode, mesh, n.name)
            for n in topology.nodes:
                self._prepare_node(names.node_netns(self.lab, n.name), routed=mode != "none")
            self.mode = mode
            reinstall()
        except BaseException:
            self.mode = "none"
            if self.mesh is not None:
                self.mesh.stop()
                self.mesh = None
            reinstall()
            raise
        self.timings[f"{old_mode}->{mode}_s"] = time.monotonic() - t0

    @staticmethod
    def _forward_from_device(netns: str, mode: str, mesh, node: str) -> None:
        device = mesh.interfaces[node] if mode == "wireGuard" else "ipsec0"  # kernel-libipsec's TUN
        _sysctl(netns, f"net.ipv4.conf.{device}.forwarding", "1")

    @staticmethod
    def _prepare_node(netns: str, routed: bool) -> None:
        """The Node's kernel now carries pod traffic: it routes between antrea-gw0 and the device,
        and sends/receives the encrypted datagrams through br-phy's internal port."""
        # Forwarding on antrea-gw0 and the mesh's device only (IPv4 checks the *receiving*
        # device): the pods' veths and the uplink are OVS ports, but the kernel sees their frames
        # too, and a pod whose ARP cache holds the veth's MAC would otherwise be forwarded twice
        # (by OVS through the gateway and by the kernel straight from the veth).
        _sysctl(netns, f"net.ipv4.conf.{names.GW_PORT}.forwarding", "1" if routed else "0")
        if not routed:
            return
        # The kernel answers ARP for br-phy's address on the OVS uplink eth0 too (ARP flux), so a
        # peer learns eth0's MAC; arp_ignore=1 keeps the answer to the interface holding the address.
        _sysctl(netns, "net.ipv4.conf.all.arp_ignore", "1")
        # As on the pods' veths (feasibility.md §1): the netdev datapath does not complete checksums
        # the kernel left to offload on its tap ports; UDP from wireguard-go/charon arrived with
        # bad checksums (InCsumErrors) until TX checksumming was off on br-phy and antrea-gw0.
        for ifname in (names.PHY_BRIDGE, names.GW_PORT):
            set_tx_checksum(netns, ifname, False)

    def _start_mesh(self, topology: Topology, mode: str):
        nodes = _node_endpoints(self.lab, topology)
        if mode == "wireGuard":
            from ...encryption.wireguard import WireGuardMesh, available

            ok, why = available()
            if not ok:
                raise BackendUnavailable(f"wireGuard on the ovs lab {self.lab!r} needs wireguard-go: {why}; "
                                         "or use backend='sim' to see the emulated frames")
            mesh = WireGuardMesh(nodes, lab_id=f"ovs/{self.lab}")
            self._remove_stale_sockets(mesh)
            mesh.start()
            from ..._util import proc as cmd

            for node in nodes:  # Antrea's name for the device, where ip(8) shows it
                ifname = mesh.interfaces[node.name]
                cmd.run(["ip", "link", "property", "add", "dev", ifname, "altname", WG_ALTNAME], node.netns,
                           check=False)
            return mesh
        from ...encryption.ipsec import IPsecMesh, available

        ok, why = available()
        if not ok:
            raise BackendUnavailable(f"ipsec on the ovs lab {self.lab!r} needs strongSwan with kernel-libipsec: "
                                     f"{why}; or use backend='sim' to see the emulated ESP frames")
        # Configs (with the PSK) under the lab's ovs/ state, which the crash sweep removes.
        return IPsecMesh(nodes, work_root=self.state_dir / "ovs" / "ipsec").start()

    @staticmethod
    def _remove_stale_sockets(mesh: WireGuardMesh) -> None:
        """A crashed run of this lab (SIGKILLed wireguard-go) leaves its UAPI socket behind; one
        nobody answers on is stale and would make the mesh refuse to start."""
        from ...encryption.wireguard import UAPI_DIR

        for ifname in mesh.interfaces.values():
            sock_path = UAPI_DIR / f"{ifname}.sock"
            if not sock_path.exists():
                continue
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                try:
                    probe.connect(str(sock_path))
                except OSError:
                    sock_path.unlink(missing_ok=True)
                    continue
            raise ConflictError(f"a running wireguard-go already serves {sock_path}: another lab named "
                                "like this one is running on this machine; stop it or pick another lab name")

    def stop(self) -> None:
        """Stop the mesh's processes (their TUN devices, routes and key files go with them); idempotent."""
        if self.mesh is not None:
            self.mesh.stop()
            self.mesh = None
        self.mode = "none"

    def show(self):
        """The mesh's view (``wg show`` / ``swanctl --list-sas``) as a DataFrame, or None with ``none``."""
        return self.mesh.show() if self.mesh is not None else None

    # ------------------------------------------------------------------ capture

    def capture(self, topology: Topology, src: str, dst: str, path: str = "/", timeout_s: float = 10.0) -> Capture:
        """Tap the underlay during one HTTP GET from pod ``src`` to pod ``dst`` (on different Nodes)."""
        sp, dp = topology.pods.get(src), topology.pods.get(dst)
        if sp is None or dp is None:
            raise LabStateError(f"{src} -> {dst}: both pods must be running (scheduled) to capture their traffic")
        if sp.node == dp.node:
            raise UnsupportedOperation(f"{src} and {dst} both run on {sp.node}: their traffic never crosses the "
                                       "underlay, so there is nothing to capture; pick pods on different Nodes")
        s_node, d_node = topology.node(sp.node), topology.node(dp.node)
        ends = [PodEndpoint(p.key, p.ip, n.name, n.node_ip, mac_for_ip(n.node_ip), n.gateway_mac)
                for p, n in ((sp, s_node), (dp, d_node))]
        interface = names.underlay_port(s_node.index)
        tap = Tap(names.underlay_netns(self.lab), interface, {s_node.node_ip, d_node.node_ip})
        tap.start()
        try:
            exchange = http_get(names.pod_netns(self.lab, src), dp.ip, HTTP_PORT, path, timeout_s)
        finally:
            frames = tap.stop()
        out_dir = self.state_dir / "ovs" / "captures"
        out_dir.mkdir(parents=True, exist_ok=True)
        pcap = write_pcap(out_dir / f"{self.mode}-{src.replace('/', '.')}-{dst.replace('/', '.')}.pcap", frames)
        cap = Capture(self.mode, ends[0], ends[1], [_frame(t, data, s_node.node_ip) for t, data in frames], {
            "emulated": False, "real": True, "encrypted": self.mode != "none",
            "implementation": IMPLEMENTATION[self.mode],
            "origin": f"captured by the ovs backend on {interface} (the underlay port of {s_node.name}) "
                      f"in {names.underlay_netns(self.lab)}",
            "http_status": exchange.split(b"\r\n", 1)[0].decode(errors="replace"),
        }, pcap_path=pcap)
        return cap

    def measure_overhead(self, topology: Topology, src: str, dst: str, inner_len: int = 1400) -> dict:
        """Bytes this mode adds to one pod IP packet of ``inner_len`` bytes, read from the wire: one
        ICMP echo of that size from ``src`` to ``dst`` is tapped on the underlay, and the largest
        frame towards ``dst``'s Node minus the underlay Ethernet header (14) minus ``inner_len``
        is the overhead (the same count as :func:`labkit.encryption.wire.overhead`)."""
        from ..._util import proc as cmd

        sp, dp = topology.pods[src], topology.pods[dst]
        s_node = topology.node(sp.node)
        tap = Tap(names.underlay_netns(self.lab), names.underlay_port(s_node.index),
                   {s_node.node_ip, topology.node(dp.node).node_ip})
        tap.start()
        try:
            cmd.run(["ping", "-c", "1", "-W", "3", "-M", "do", "-s", str(inner_len - 28), dp.ip],
                       names.pod_netns(self.lab, src), timeout_s=10)
        finally:
            frames = tap.stop()
        toward = [len(data) for _, data in frames if _frame(0, data, s_node.node_ip).direction == "request"]
        if not toward:
            raise CommandError(f"no frame of the {inner_len}-byte ping {src} -> {dst} crossed the underlay")
        frame_len = max(toward)
        return {"mode": self.mode, "inner_len": inner_len, "frame_len": frame_len,
                "overhead": frame_len - 14 - inner_len}


def _frame(time_s: float, data: bytes, src_node_ip: str) -> Frame:
    d = dissect(data)
    ips = [layer for layer in d.layers if layer.name == "ip"]
    direction = "request" if ips and ips[0].fields["src"] == src_node_ip else "reply"
    inner = b""
    if len(ips) > 1:  # Geneve: the pod packet is readable
        inner = data[ips[1].offset:ips[1].offset + ips[1].fields["total_length"]]
    return Frame(time_s, data, direction, d.protocols, inner)


def http_get(netns: str, ip: str, port: int, path: str = "/", timeout_s: float = 10.0) -> bytes:
    """One HTTP/1.1 GET from inside ``netns`` (the pod's namespace); returns the raw answer."""
    sock = socket_in(netns, socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout_s)
    chunks = []
    try:
        sock.connect((ip, port))
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {ip}\r\nUser-Agent: labkit\r\nAccept: */*\r\n"
                     "Connection: close\r\n\r\n".encode())
        while True:
            chunk = sock.recv(65535)
            if not chunk:
                break
            chunks.append(chunk)
    except OSError as exc:
        raise CommandError(f"HTTP GET http://{ip}:{port}{path} from {netns} failed: {exc}; is the policy "
                           "allowing it (lab.reachability()) and the lab running?",
                           CommandFailure(["http", ip], None, str(exc))) from exc
    finally:
        sock.close()
    return b"".join(chunks)


__all__ = ["NodeEncryption", "http_get", "IMPLEMENTATION", "WG_ALTNAME"]
