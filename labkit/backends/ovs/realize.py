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

Every pod gets permanent neighbour entries for its gateway and its same-node peers (:mod:`.neigh`):
pods never ARP, so no lab can fill the kernel's shared neighbour table and starve another.

Pods are created all or nothing (:meth:`Realization.add_pods` removes what it made when a step
fails; a pod it could not even remove is remembered in ``half_made`` and rebuilt by the next
sync), and :meth:`Realization.inspect_ports` / :meth:`Realization.inspect_pods` compare what
exists with the topology (``lab.verify()``).

Work is batched: one ``ip -batch`` per namespace, one ``ovs-vsctl`` transaction per node.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import socket
import struct
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..._util.netns import entered, set_tx_checksum
from ..._util import proc as cmd
from ..._util.proc import run
from ...datapath.openflow import FlowEntry, render_flows
from ...datapath.pipeline import PIPELINE
from ...datapath.topology import GW_OFPORT, TUN_OFPORT, NodeSpec, PodSpec, Topology, mac_for_ip
from ...datapath.drift import FlowDrift, parse_diff
from ...errors import CommandError, CommandFailure, LabkitError
from . import names, neigh
from .daemons import OvsInstance, kill_pidfile, pid_alive

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
        self.half_made: dict[str, PodSpec] = {}  # pods made only in part (creation and its undo failed)

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
        for node in topology.nodes:
            self.node_runtime(topology, node)

    def node_runtime(self, topology: Topology, node: NodeSpec) -> None:
        """What lives only in ovs-vswitchd's memory, to set again after it restarts: the tunnel
        neighbour cache, pre-loaded with the peers' underlay MACs.

        OVS's userspace tunnel drops the first packet to a peer whose MAC it has not learned (it
        sends an ARP instead); a probe's SYN lost that way would look like a policy drop.
        """
        inst = self.instance(node)
        for peer in topology.nodes:
            if peer.name != node.name:
                inst.appctl(["tnl/neigh/set", names.PHY_BRIDGE, peer.node_ip, mac_for_ip(peer.node_ip)])

    # ------------------------------------------------------------------ pods

    def add_pods(self, topology: Topology, pods: list[PodSpec]) -> None:
        """Create ``pods`` (namespaces, veths, OVS ports, addresses, routes, neighbours): all or
        nothing. On a failure what was made is removed again and the error raised; a pod that cannot
        even be removed (its node's ovsdb-server is down) goes into ``half_made`` for the next sync."""
        if not pods:
            return
        try:
            self._create_pods(topology, pods)
        except BaseException:
            try:
                self.remove_pods(topology, pods)
            except LabkitError:
                self.half_made.update({p.key: p for p in pods})
            raise
        for p in pods:
            self.half_made.pop(p.key, None)

    @staticmethod
    def neighbours_of(topology: Topology, pod: PodSpec) -> list[tuple[str, str]]:
        """(ip, mac) a pod may need to resolve: its gateway and every pod on its node."""
        node = topology.node(pod.node)
        return [(node.gateway_ip, node.gateway_mac)] + [(q.ip, q.mac) for q in topology.pods_on(pod.node)
                                                        if q.key != pod.key]

    def _create_pods(self, topology: Topology, pods: list[PodSpec]) -> None:
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
            neigh.set_permanent(netns, names.POD_IFNAME, self.neighbours_of(topology, p))

        new = {p.key for p in pods}

        def peers_learn(q: PodSpec) -> None:  # pods already on a node learn the new ones
            neigh.set_permanent(names.pod_netns(lab, q.key), names.POD_IFNAME,
                                [(p.ip, p.mac) for p in pods if p.node == q.node])

        existing = [q for q in topology.pods.values() if q.key not in new and q.node in by_node
                    and q.key not in self.half_made]
        with ThreadPoolExecutor(PARALLEL) as pool:
            list(pool.map(pod_side, pods))
            list(pool.map(peers_learn, existing))

    def remove_pods(self, topology: Topology, pods: list[PodSpec]) -> None:
        """Delete pods' OVS ports and namespaces (idempotent); their peers forget their addresses."""
        for node_name in {p.node for p in pods}:
            node = topology.node(node_name)
            args: list[str] = []
            for p in pods:
                if p.node == node_name:
                    args += ["--", "--if-exists", "del-port", names.INT_BRIDGE, names.pod_host_ifname(p.key)]
            self.instance(node).vsctl(args)
        present = existing_netns()
        # Delete the veths from the node's side: a pod namespace whose name is gone lives on while the
        # node's pod server still holds sockets in it, and so would its veth (a re-made pod of the same
        # name would then collide with it).
        for node_name in {p.node for p in pods}:
            if names.node_netns(self.lab, node_name) in present:
                run(["ip", "-n", names.node_netns(self.lab, node_name), "-force", "-batch", "-"],
                    input="".join(f"link del {names.pod_host_ifname(p.key)}\n" for p in pods if p.node == node_name),
                    timeout_s=60, check=False)
        _ip_batch([f"netns del {names.pod_netns(self.lab, p.key)}" for p in pods
                   if names.pod_netns(self.lab, p.key) in present])
        gone = {p.key for p in pods}
        for key in gone:
            self.half_made.pop(key, None)
        for q in topology.pods.values():
            ips = [p.ip for p in pods if p.node == q.node and p.ip != q.ip]
            if q.key not in gone and ips and names.pod_netns(self.lab, q.key) in present:
                try:
                    neigh.delete(names.pod_netns(self.lab, q.key), names.POD_IFNAME, ips)
                except (OSError, CommandError):
                    pass  # a stale permanent entry names the removed pod's own MAC: harmless

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

    def server_alive(self, node: NodeSpec) -> bool:
        """Does the node's pod server run? (A node without pods has none and needs none.)"""
        proc = self.servers.get(node.name)
        if proc is not None:
            return proc.poll() is None
        try:
            pid = int((self.instance(node).rundir / "podserver.pid").read_text())
        except (OSError, ValueError):
            return False
        return pid_alive(pid)

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

    def diff_flows(self, node: NodeSpec, text: str) -> FlowDrift:
        """br-int's flows against ``text`` (the compiled flows), compared by OVS itself (both sides
        normalized), as :class:`~labkit.datapath.drift.FlowDrift`."""
        inst = self.instance(node)
        path = inst.base / "expected-flows.txt"
        path.write_text(text)
        diff = inst.ofctl(["diff-flows", names.INT_BRIDGE, str(path)], check=False)
        if diff.returncode not in (0, 2) or (diff.stderr.strip() and not diff.stdout.strip()):
            raise CommandError(f"node {node.name}: ovs-ofctl diff-flows failed: {diff.stderr.strip()[-500:]}",
                               CommandFailure(["ovs-ofctl", "diff-flows"], diff.returncode, diff.stderr))
        return parse_diff(diff.stdout)

    # ------------------------------------------------------------------ inspect (lab.verify)

    def inspect_ports(self, topology: Topology, node: NodeSpec) -> list[str]:
        """br-int's ports against the topology: missing, unattached, renumbered or foreign ones."""
        out = self.instance(node).vsctl(["--format=csv", "--data=bare", "--no-headings", "--columns=name,ofport",
                                         "list", "Interface"], timeout_s=5)
        have: dict[str, int] = {}
        for line in out.splitlines():
            name, _, ofport = line.partition(",")
            have[name.strip('"')] = int(ofport) if ofport.strip().lstrip("-").isdigit() else -1
        want = {names.TUN_PORT: TUN_OFPORT, names.GW_PORT: GW_OFPORT}
        owner = {}
        for p in topology.pods_on(node.name):
            want[names.pod_host_ifname(p.key)] = p.ofport
            owner[names.pod_host_ifname(p.key)] = f" (pod {p.key})"
        problems = []
        for name, ofport in want.items():
            if name not in have:
                problems.append(f"port {name}{owner.get(name, '')} is missing from br-int")
            elif have[name] == -1:
                problems.append(f"port {name}{owner.get(name, '')} has no OpenFlow port (ofport -1): its interface "
                                "is gone or could not be opened")
            elif have[name] != ofport:
                problems.append(f"port {name}{owner.get(name, '')} is OpenFlow port {have[name]}, compiled flows "
                                f"use {ofport}")
        infrastructure = {names.INT_BRIDGE, names.PHY_BRIDGE, names.NODE_UPLINK}
        for name in sorted(set(have) - set(want) - infrastructure):
            problems.append(f"port {name} is on the switch but no pod of the model uses it")
        return problems

    def inspect_pods(self, topology: Topology, pods: list[PodSpec]) -> dict[str, list[str]]:
        """Per pod, what differs from the model: namespace, veth, address, route, neighbours."""
        present = existing_netns()
        links: dict[str, set[str]] = {}
        for node in {p.node for p in pods}:
            try:
                with entered(names.node_netns(self.lab, node)):
                    links[node] = {name for _, name in socket.if_nameindex()}
            except CommandError:
                links[node] = set()

        def one(p: PodSpec) -> tuple[str, list[str]]:
            netns = names.pod_netns(self.lab, p.key)
            if netns not in present:
                return p.key, [f"network namespace {netns} is missing"]
            problems = []
            if names.pod_host_ifname(p.key) not in links.get(p.node, set()):
                problems.append(f"veth {names.pod_host_ifname(p.key)} is missing on node {p.node}")
            node = topology.node(p.node)
            problems += pod_interface_problems(netns, p, node.gateway_ip)
            try:
                table = neigh.dump(netns)
            except (OSError, CommandError) as exc:
                table = {}
                problems.append(f"its neighbour table cannot be read: {exc}")
            missing = [ip for ip, mac in self.neighbours_of(topology, p)
                       if table.get(ip, ("", ""))[0] != "PERMANENT" or table[ip][1] != mac]
            if missing:
                problems.append(f"{len(missing)} static neighbour entr{'y' if len(missing) == 1 else 'ies'} missing or "
                                f"wrong ({', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}): it would "
                                "have to ARP")
            return p.key, problems

        with ThreadPoolExecutor(PARALLEL) as pool:
            return {key: found for key, found in pool.map(one, pods) if found}

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


SIOCGIFFLAGS, SIOCGIFADDR, IFF_UP = 0x8913, 0x8915, 0x1


def pod_interface_problems(netns: str, pod: PodSpec, gateway_ip: str) -> list[str]:
    """eth0 up with the pod's address, and a default route via the gateway (read in-process)."""
    problems = []
    try:
        with entered(netns):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                ifreq = struct.pack("16s16x", names.POD_IFNAME.encode())
                try:
                    flags = struct.unpack_from("H", fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, ifreq), 16)[0]
                except OSError:
                    return [f"{names.POD_IFNAME} is missing in the pod"]
                if not flags & IFF_UP:
                    problems.append(f"{names.POD_IFNAME} is down")
                try:
                    addr = socket.inet_ntoa(fcntl.ioctl(sock.fileno(), SIOCGIFADDR, ifreq)[20:24])
                except OSError:
                    addr = ""
                if addr != pod.ip:
                    problems.append(f"{names.POD_IFNAME} has {'address ' + addr if addr else 'no address'}, "
                                    f"the model says {pod.ip}")
            routes = Path("/proc/thread-self/net/route").read_text().splitlines()[1:]
    except CommandError:
        return [f"network namespace {netns} is missing"]
    gateway = socket.inet_aton(gateway_ip)[::-1].hex().upper()
    default = [r.split() for r in routes if r.split()[1:2] == ["00000000"]]
    if not any(r[2] == gateway for r in default):
        problems.append(f"no default route via the gateway {gateway_ip}")
    return problems


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


__all__ = ["Realization", "existing_netns", "pod_interface_problems"]
