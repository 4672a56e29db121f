"""Realize a :class:`~labkit.datapath.Topology` with network namespaces, veths and private OVS.

Per node (feasibility.md §2, userspace tunnelling): a netns running its own ovsdb-server and
ovs-vswitchd; ``br-phy`` (netdev) holding the uplink ``eth0`` with the node's InternalIP on the
bridge's internal port, as OVS's userspace-tunnelling guide requires; ``br-int`` (netdev,
``fail_mode=secure``: no flows, no forwarding) with ``antrea-tun0`` (Geneve, ``remote_ip=flow``,
``key=flow`` like Antrea's encap mode), ``antrea-gw0`` (internal port with the ``.1`` of the pod
CIDR) and one veth per pod. Pods are netns with ``eth0`` (MTU 1450, the pod's IP and MAC, default
route via the gateway). TX checksum offload is off on both veth ends: the netdev datapath does not
complete offloaded checksums, and TCP would silently fail (feasibility.md §1). The nodes' uplinks
meet on a Linux bridge in the lab's underlay namespace (kind's docker network).

Work is batched: one ``ip -batch`` per namespace, one ``ovs-vsctl`` transaction per node.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..._util.netns import set_tx_checksum
from ..._util import proc as cmd
from ..._util.proc import run
from ...datapath.openflow import FlowEntry, render_flows
from ...datapath.pipeline import PIPELINE
from ...datapath.topology import GW_OFPORT, TUN_OFPORT, NodeSpec, PodSpec, Topology, mac_for_ip
from ...errors import CommandError, CommandFailure
from . import names
from .daemons import OvsInstance, kill_pidfile

PARALLEL = 8


def _ip_batch(lines: list[str], netns: str | None = None, timeout_s: float = 60.0) -> None:
    if not lines:
        return
    argv = ["ip"] + (["-n", netns] if netns else []) + ["-batch", "-"]
    run(argv, input="\n".join(lines) + "\n", timeout_s=timeout_s)


def existing_netns() -> set[str]:
    out = run(["ip", "netns", "list"], timeout_s=10).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


class Realization:
    """The kernel and OVS objects of one lab. Every method is safe to call again after a failure."""

    def __init__(self, lab: str, state_dir: Path, underlay_mtu: int = 1500) -> None:
        self.lab = lab
        self.state_dir = Path(state_dir)
        self.base = self.state_dir / "ovs"
        self.underlay_mtu = underlay_mtu
        self.instances: dict[str, OvsInstance] = {}
        self.servers: dict[str, subprocess.Popen] = {}

    # ------------------------------------------------------------------ names

    def instance(self, node: NodeSpec) -> OvsInstance:
        inst = self.instances.get(node.name)
        if inst is None:
            inst = OvsInstance(names.node_netns(self.lab, node.name), self.base / node.name)
            self.instances[node.name] = inst
        return inst

    # ------------------------------------------------------------------ up

    def up(self, topology: Topology) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        self._namespaces(topology)
        self._underlay(topology)
        with ThreadPoolExecutor(min(PARALLEL, len(topology.nodes))) as pool:
            list(pool.map(lambda n: self.instance(n).start(), topology.nodes))
        for node in topology.nodes:
            self._node_bridges(topology, node)
        self._static_tunnel_neighbours(topology)
        self.add_pods(topology, list(topology.pods.values()))

    def _namespaces(self, topology: Topology) -> None:
        lab = self.lab
        lines = [f"netns add {names.underlay_netns(lab)}"]
        lines += [f"netns add {names.node_netns(lab, n.name)}" for n in topology.nodes]
        _ip_batch(lines)
        # Each veth is created with both ends already in their namespaces: nothing ever appears in
        # the host's namespace, so nothing can be left there.
        lines = [f"link add {names.NODE_UPLINK} netns {names.node_netns(lab, n.name)} mtu {self.underlay_mtu} "
                 f"type veth peer name {names.underlay_port(n.index)} netns {names.underlay_netns(lab)}"
                 for n in topology.nodes]
        _ip_batch(lines)

    def _underlay(self, topology: Topology) -> None:
        lines = ["link set lo up", f"link add {names.UNDERLAY_BRIDGE} type bridge", f"link set {names.UNDERLAY_BRIDGE} up"]
        for n in topology.nodes:
            port = names.underlay_port(n.index)
            lines += [f"link set {port} master {names.UNDERLAY_BRIDGE}", f"link set {port} up"]
        _ip_batch(lines, names.underlay_netns(self.lab))

    def _node_bridges(self, topology: Topology, node: NodeSpec) -> None:
        inst = self.instance(node)
        prefix = ipaddress.ip_network(topology.underlay_cidr).prefixlen
        pod_prefix = ipaddress.ip_network(node.pod_cidr).prefixlen
        tables = []
        for t in PIPELINE:  # name the tables in OVSDB so `ovs-ofctl --names dump-flows` shows Antrea's names
            tables += ["--", f"--id=@t{t.id}", "create", "Flow_Table", f"name={t.name}"]
        tables += ["--", "set", "Bridge", names.INT_BRIDGE] + [f"flow_tables:{t.id}=@t{t.id}" for t in PIPELINE]
        inst.vsctl([
            "--", "add-br", names.PHY_BRIDGE, "--", "set", "Bridge", names.PHY_BRIDGE, "datapath_type=netdev",
            "fail_mode=standalone", f"other_config:hwaddr={mac_for_ip(node.node_ip)}",
            "--", "add-port", names.PHY_BRIDGE, names.NODE_UPLINK,
            "--", "add-br", names.INT_BRIDGE, "--", "set", "Bridge", names.INT_BRIDGE, "datapath_type=netdev",
            "fail_mode=secure", "protocols=OpenFlow10,OpenFlow13,OpenFlow15", "other_config:disable-in-band=true",
            "--", "add-port", names.INT_BRIDGE, names.TUN_PORT, "--", "set", "Interface", names.TUN_PORT,
            f"type={topology.tunnel_type}", "options:remote_ip=flow", "options:key=flow", f"ofport_request={TUN_OFPORT}",
            "--", "add-port", names.INT_BRIDGE, names.GW_PORT, "--", "set", "Interface", names.GW_PORT, "type=internal",
            f"ofport_request={GW_OFPORT}", f'mac="{node.gateway_mac}"', f"mtu_request={topology.mtu}",
            *tables,
            # Revalidate cached megaflows every 100 ms at most (OVS default 500 ms), so counters in
            # dump-flows stay fresh; install_flows purges the datapath cache itself.
            "--", "set", "Open_vSwitch", ".", "other_config:max-revalidator=100",
        ])
        _ip_batch([
            "link set lo up",
            f"link set {names.NODE_UPLINK} up",
            f"addr add {node.node_ip}/{prefix} dev {names.PHY_BRIDGE}",
            f"link set {names.PHY_BRIDGE} up",
            f"addr add {node.gateway_ip}/{pod_prefix} dev {names.GW_PORT}",
            f"link set {names.GW_PORT} up",
        ], inst.netns)

    def _static_tunnel_neighbours(self, topology: Topology) -> None:
        """Pre-load each node's tunnel neighbour cache with its peers' underlay MACs.

        OVS's userspace tunnel drops the first packet to a peer whose MAC it has not learned (it
        sends an ARP instead); a probe's SYN lost that way would look like a policy drop.
        """
        for node in topology.nodes:
            inst = self.instance(node)
            for peer in topology.nodes:
                if peer.name != node.name:
                    inst.appctl(["tnl/neigh/set", names.PHY_BRIDGE, peer.node_ip, mac_for_ip(peer.node_ip)])

    # ------------------------------------------------------------------ pods

    def add_pods(self, topology: Topology, pods: list[PodSpec]) -> None:
        if not pods:
            return
        lab = self.lab
        _ip_batch([f"netns add {names.pod_netns(lab, p.key)}" for p in pods])
        _ip_batch([f"link add {names.pod_host_ifname(p.key)} netns {names.node_netns(lab, p.node)} mtu {topology.mtu} "
                   f"type veth peer name {names.POD_IFNAME} netns {names.pod_netns(lab, p.key)}" for p in pods])
        by_node: dict[str, list[PodSpec]] = {}
        for p in pods:
            by_node.setdefault(p.node, []).append(p)
        for node_name, node_pods in by_node.items():
            node = topology.node(node_name)
            inst = self.instance(node)
            args: list[str] = []
            for p in node_pods:
                ifname = names.pod_host_ifname(p.key)
                args += ["--", "add-port", names.INT_BRIDGE, ifname, "--", "set", "Interface", ifname,
                         f"ofport_request={p.ofport}", f"external_ids:pod={p.key}"]
            inst.vsctl(args)
            _ip_batch([f"link set {names.pod_host_ifname(p.key)} up" for p in node_pods], inst.netns)

        def pod_side(p: PodSpec) -> None:
            node = topology.node(p.node)
            prefix = ipaddress.ip_network(node.pod_cidr).prefixlen
            netns = names.pod_netns(lab, p.key)
            _ip_batch(["link set lo up",
                       f"link set {names.POD_IFNAME} address {p.mac} mtu {topology.mtu}",
                       f"addr add {p.ip}/{prefix} dev {names.POD_IFNAME}",
                       f"link set {names.POD_IFNAME} up",
                       f"route add default via {node.gateway_ip} dev {names.POD_IFNAME}"], netns)
            set_tx_checksum(netns, names.POD_IFNAME, False)
            set_tx_checksum(names.node_netns(lab, p.node), names.pod_host_ifname(p.key), False)

        with ThreadPoolExecutor(PARALLEL) as pool:
            list(pool.map(pod_side, pods))

    def remove_pods(self, topology: Topology, pods: list[PodSpec]) -> None:
        for node_name in {p.node for p in pods}:
            node = topology.node(node_name)
            args: list[str] = []
            for p in pods:
                if p.node == node_name:
                    args += ["--", "--if-exists", "del-port", names.INT_BRIDGE, names.pod_host_ifname(p.key)]
            self.instance(node).vsctl(args)
        present = existing_netns()
        _ip_batch([f"netns del {names.pod_netns(self.lab, p.key)}" for p in pods
                   if names.pod_netns(self.lab, p.key) in present])

    # ------------------------------------------------------------------ servers

    def start_server(self, topology: Topology, node: NodeSpec, timeout_s: float = 20.0) -> None:
        """(Re)start the node's pod server process (see :mod:`.podserver`)."""
        self.stop_server(node)
        spec = []
        for p in topology.pods_on(node.name):
            ports: dict[str, list[int]] = {}
            for cp in p.ports:
                ports.setdefault(cp.protocol, []).append(cp.container_port)
            spec.append({"netns": names.pod_netns(self.lab, p.key), "ports": ports})
        inst = self.instance(node)
        spec_path = inst.base / "podserver.json"
        spec_path.write_text(json.dumps(spec))
        with open(inst.base / "log" / "podserver.log", "w") as log:  # the child keeps its own copy
            proc = cmd.spawn([sys.executable, "-m", "labkit.backends.ovs.podserver", str(spec_path)], inst.netns,
                             stdout=subprocess.PIPE, stderr=log, text=True,
                             cwd=str(Path(__file__).resolve().parents[3]))
        (inst.rundir / "podserver.pid").write_text(str(proc.pid))
        self.servers[node.name] = proc
        line = _readline(proc, timeout_s)
        if not line.startswith("ready"):
            err = (inst.base / "log" / "podserver.log").read_text()[-2000:]
            raise CommandError(f"the pod server of node {node.name} did not start: {err or line!r}",
                               CommandFailure(proc.args, proc.poll(), err))

    def stop_server(self, node: NodeSpec) -> None:
        proc = self.servers.pop(node.name, None)
        cmd.terminate(proc)
        kill_pidfile(self.instance(node).rundir / "podserver.pid", expect="labkit.backends.ovs.podserver")

    # ------------------------------------------------------------------ flows

    def install_flows(self, node: NodeSpec, flows: list[FlowEntry] | str) -> None:
        """Replace br-int's flows atomically (one OpenFlow bundle) and check the switch agrees.

        ``replace-flows`` computes the difference and sends it in one bundle: packets see either the
        old or the new table, never a window without policy; ``revalidator/purge`` then makes sure
        no megaflow cached from the old tables is still used. ``diff-flows`` then reads the switch's
        flows back and compares them with what was meant (OVS normalizes both sides).
        """
        inst = self.instance(node)
        path = inst.base / "flows.txt"
        path.write_text(flows if isinstance(flows, str) else render_flows(flows, names=False))
        inst.ofctl(["--bundle", "replace-flows", names.INT_BRIDGE, str(path)])
        # The datapath keeps cached megaflows computed from the old tables until the revalidators
        # have run. `revalidator/wait` is not enough: the dump it waits for may have started (and
        # revalidated a megaflow) before the main thread noticed the new table version, which let
        # a stale allow through once in seven differential runs (~1 change in 1,000).
        # `revalidator/purge` deletes every datapath flow synchronously (pushing its counters to the OpenFlow flows first); the
        # bundle is already committed, so every later upcall translates against the new tables
        # and "apply returned" means "every packet sees the new policy".
        inst.appctl(["revalidator/purge"])
        diff = inst.ofctl(["diff-flows", names.INT_BRIDGE, str(path)], check=False)
        if diff.returncode != 0 or diff.stdout.strip():
            raise CommandError(f"node {node.name}: br-int's flows differ from the compiled ones after install:\n"
                               f"{diff.stdout[-3000:]}{diff.stderr[-1000:]}",
                               CommandFailure(["ovs-ofctl", "diff-flows"], diff.returncode, diff.stderr))

    # ------------------------------------------------------------------ down

    def down(self, topology: Topology | None = None) -> None:
        """Stop servers and daemons and delete every namespace of the lab (idempotent)."""
        for node_name in list(self.servers):
            proc = self.servers.pop(node_name)
            if proc.poll() is None:
                proc.kill()
                proc.wait(3)
        for inst in list(self.instances.values()):
            kill_pidfile(inst.rundir / "podserver.pid", expect="labkit.backends.ovs.podserver")
            inst.stop()
        prefix = names.lab_prefix(self.lab)
        ours = sorted(ns for ns in existing_netns() if ns.startswith(prefix))
        if ours:
            # Pod namespaces first: their veths then vanish before the node namespaces go.
            ours.sort(key=lambda ns: ns.count("."), reverse=True)
            _ip_batch([f"netns del {ns}" for ns in ours], timeout_s=120)


def _readline(proc: subprocess.Popen, timeout_s: float) -> str:
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if sel.select(timeout=0.1):
            return proc.stdout.readline()
        if proc.poll() is not None:
            return ""
    return ""


__all__ = ["Realization", "existing_netns"]
