"""SmartNIC nodes on the ovs backend: VF representors, DPU isolation, and offload reports from real flows.

A topology with ``spec.hardwareOffload`` (``topologies/smartnic.yaml``) gives every node a NIC
profile (``nic``, overridden per node under ``nodes``). What the lab then does:

* **VF-style pod ports.** In Antrea's hardware-offload mode each Pod gets an SR-IOV VF and OVS
  holds the VF's representor instead of a veth. Antrea's CNI looks the representor up
  (sriovnet ``GetVfRepresentor``) and *renames it to the host interface name* it would have given
  the veth (pkg/agent/cniserver, ``configureContainerLinkSriov``: "rename VF representor to
  hostIfaceName"), so ``br-int`` keeps Antrea's ``<pod>-<hash>`` port names. labkit keeps the
  veth (the kernel here has no SR-IOV) and records the switchdev identity the representor would
  have had: the altname ``pf0vf<N>`` (switchdev ``phys_port_name``) on the port and
  ``external_ids:vf-representor`` / ``vf-index`` in OVSDB.
* **DPU nodes** (profile ``switchRunsOn: dpu-arm``). The node namespace plays the DPU's Arm side:
  ovs-vswitchd, ``br-int`` and the representors live there. The node's host OS gets a namespace of
  its own (``names.node_host_netns``), linked to the DPU only by ``tmfifo_net0`` (BlueField's
  rshim host<->Arm link, 192.168.100.1 <-> .2, on which OVS does not listen). :func:`host_attack`
  plays root on that host: in a sandbox whose mount table hides the DPU's files (its OVS database,
  sockets and pidfiles) and whose process table holds only the host's processes, as a separate
  computer would, it tries what an attacker would try against the policy.
* **Offload reports** (:meth:`SmartNics.report`): each node's real megaflows
  (``ovs-appctl dpctl/dump-flows``) classified with the node's profile, plus the node's
  ``dpif-netdev/pmd-stats-show`` counters for upcalls.

What is emulated and what is real is listed in docs/smartnic.md.
"""

from __future__ import annotations

import shlex
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..._util.proc import run
from ...datapath.topology import FIRST_POD_OFPORT, NodeSpec, PodSpec, Topology
from ...errors import CommandError, ManifestError, NotFoundError, Problem
from ...smartnic.offload import classify, parse_dump_flows
from ...smartnic.profiles import NicProfile, default_topology_path, load_profiles
from ...smartnic.report import NodeOffload, OffloadReport, parse_pmd_stats
from . import names

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from .realize import Realization

TMFIFO = "tmfifo_net0"
HOST_TMFIFO_IP = "192.168.100.1"  # BlueField defaults: host side of the rshim network interface
DPU_TMFIFO_IP = "192.168.100.2"  # ... and the DPU's Arm side
OVSDB_PORT, OPENFLOW_PORT = 6640, 6653  # where an OVS that listened on TCP would (labkit's does not)


def representor_name(pod: PodSpec) -> str:
    """The switchdev name of the pod's VF representor: ``pf0vf<N>``, N = the VF index on the node."""
    return f"pf0vf{pod.ofport - FIRST_POD_OFPORT}"


# ---------------------------------------------------------------------------- topology data

def _profiles_for(offload: dict, data: dict, path: Path) -> dict[str, NicProfile]:
    """The NIC profiles a topology uses: its own ``spec.nicProfiles``, else ``hardwareOffload.profiles``
    (a path relative to the topology), else topologies/smartnic.yaml."""
    if (data.get("spec") or {}).get("nicProfiles"):
        return load_profiles(path)
    source = offload.get("profiles")
    return load_profiles(path.parent / source if source else default_topology_path())


def offload_problems(offload: Any, data: dict, path: Path) -> list[Problem]:
    """Every problem of ``spec.hardwareOffload`` at once (load_topology reports them with its own)."""
    name = str((data.get("metadata") or {}).get("name", path.stem))

    def problem(field: str, message: str, hint: str = "") -> Problem:
        return Problem(message, f"spec.hardwareOffload{field}", "Topology", name, source=str(path), hint=hint)

    if not isinstance(offload, dict):
        return [problem("", "must be a mapping", "write e.g. {nic: connectx-class, nodes: {kind-worker2: "
                                                 "bluefield-class}}")]
    unknown = sorted(set(offload) - {"nic", "nodes", "profiles"})
    problems = [problem(f".{k}", f"unknown field {k!r}", "known fields: nic, nodes, profiles") for k in unknown]
    try:
        known = _profiles_for(offload, data, path)
    except ManifestError as exc:  # the profiles themselves are invalid: report their problems too
        return problems + exc.problems
    except (OSError, NotFoundError) as exc:
        return problems + [problem(".profiles", f"cannot read the NIC profiles: {exc}",
                                   "point profiles at a Topology file with spec.nicProfiles")]
    hint = f"known profiles: {', '.join(known)}"
    if offload.get("nic", "no-offload") not in known:
        problems.append(problem(".nic", f"no NIC profile {offload.get('nic')!r}", hint))
    nodes = offload.get("nodes") or {}
    if not isinstance(nodes, dict):
        problems.append(problem(".nodes", "must map node names to NIC profiles"))
    else:
        problems += [problem(f".nodes.{n}", f"no NIC profile {p!r}", hint) for n, p in nodes.items() if p not in known]
    return problems


# ---------------------------------------------------------------------------- the nodes' NICs

class SmartNics:
    """The NICs of one lab's nodes: realize representors and DPU hosts, report, attack."""

    def __init__(self, lab: str, offload: dict, topology_path: str) -> None:
        path = Path(topology_path)
        import yaml

        data = yaml.safe_load(path.read_text()) or {}
        self.lab = lab
        self.profiles = _profiles_for(offload, data, path)
        self.default = str(offload.get("nic", "no-offload"))
        self.per_node = {str(k): str(v) for k, v in (offload.get("nodes") or {}).items()}
        # node -> flow identity -> order first seen: a NIC keeps the flows it already holds, so
        # when the table is full the *newer* flows stay on the host (classify fills in this order)
        self._seen: dict[str, dict[str, int]] = {}

    def profile(self, node: str) -> NicProfile:
        return self.profiles[self.per_node.get(node, self.default)]

    def is_dpu(self, node: str) -> bool:
        return self.profile(node).isolated_from_host

    # ------------------------------------------------------------------ realize

    def up(self, realization: "Realization", topology: Topology) -> None:
        """DPU host namespaces with their tmfifo link, and the representor identity of every pod."""
        dpus = [n for n in topology.nodes if self.is_dpu(n.name)]
        if dpus:
            _ip(["netns add " + names.node_host_netns(self.lab, n.name) for n in dpus])
            _ip([f"link add {TMFIFO} netns {names.node_host_netns(self.lab, n.name)} type veth peer name {TMFIFO} "
                 f"netns {names.node_netns(self.lab, n.name)}" for n in dpus])
            for n in dpus:
                _ip(["link set lo up", f"addr add {HOST_TMFIFO_IP}/30 dev {TMFIFO}", f"link set {TMFIFO} up"],
                    names.node_host_netns(self.lab, n.name))
                _ip([f"addr add {DPU_TMFIFO_IP}/30 dev {TMFIFO}", f"link set {TMFIFO} up"],
                    names.node_netns(self.lab, n.name))
        self.add_pods(realization, topology, list(topology.pods.values()))

    def add_pods(self, realization: "Realization", topology: Topology, pods: list[PodSpec]) -> None:
        by_node: dict[str, list[PodSpec]] = {}
        for p in pods:
            by_node.setdefault(p.node, []).append(p)
        for node_name, node_pods in by_node.items():
            node = topology.node(node_name)
            args: list[str] = []
            lines = []
            for p in node_pods:
                port, rep = names.pod_host_ifname(p.key), representor_name(p)
                args += ["--", "set", "Interface", port, f"external_ids:vf-representor={rep}",
                         f"external_ids:vf-index={p.ofport - FIRST_POD_OFPORT}",
                         f"external_ids:nic-profile={self.profile(node_name).name}"]
                lines.append(f"link property add dev {port} altname {rep}")
            realization.instance(node).vsctl(args)
            # A reused port number would collide with a leftover altname: ignore "exists" (-force)
            _ip(lines, names.node_netns(self.lab, node_name), force=True)

    def representors(self, realization: "Realization", topology: Topology) -> "pd.DataFrame":
        """Pods, their VF index, representor name and the br-int port Antrea's CNI renamed it to."""
        import pandas as pd

        rows = []
        for p in sorted(topology.pods.values(), key=lambda p: (p.node, p.ofport)):
            profile = self.profile(p.node)
            rows.append({"pod": p.key, "node": p.node, "nic": profile.name,
                         "switch runs in": "DPU namespace" if profile.isolated_from_host else "host namespace",
                         "vf": p.ofport - FIRST_POD_OFPORT, "representor": representor_name(p),
                         "br-int port": names.pod_host_ifname(p.key), "ofport": p.ofport})
        return pd.DataFrame(rows)

    # ------------------------------------------------------------------ report

    def report(self, realization: "Realization", topology: Topology, nodes: list[NodeSpec],
               profile: NicProfile | None = None, flow_capacity: int | None = None) -> OffloadReport:
        """Classify each node's real datapath flows and read its upcall counters."""
        out = []
        for node in nodes:
            inst = realization.instance(node)
            dump = inst.appctl(["dpctl/dump-flows", "--names"])
            counters = parse_pmd_stats(inst.appctl(["dpif-netdev/pmd-stats-show"]))
            nic = profile or self.profile(node.name)
            if flow_capacity is not None:
                nic = replace(nic, flow_capacity=flow_capacity)
            flows = self._in_arrival_order(node.name, parse_dump_flows(dump))
            out.append(NodeOffload(node.name, nic, tuple(classify(flows, nic)), counters,
                                   "dpu" if nic.isolated_from_host else "host"))
        return OffloadReport(tuple(out), "ovs", "measured", (
            "flows: ovs-appctl dpctl/dump-flows of each node's userspace datapath; upcalls: "
            "dpif-netdev/pmd-stats-show; the NIC is emulated: the decision follows the node's NIC profile",))

    def reset(self, realization: "Realization", nodes: list[NodeSpec]) -> None:
        """Start a new measurement window: delete the datapath flows (``revalidator/purge``; their
        counters go to the OpenFlow flows) and zero the pmd counters (``dpif-netdev/pmd-stats-clear``)."""
        for node in nodes:
            inst = realization.instance(node)
            inst.appctl(["revalidator/purge"])
            inst.appctl(["dpif-netdev/pmd-stats-clear"])
            self._seen.pop(node.name, None)

    def _in_arrival_order(self, node: str, flows: list) -> list:
        seen = self._seen.setdefault(node, {})
        keys = [",".join(f"{k}({v})" for k, v in f.match.items()) for f in flows]
        for key in keys:
            seen.setdefault(key, len(seen))
        current = set(keys)
        for key in [k for k in seen if k not in current]:  # gone from the datapath: its NIC slot is free
            del seen[key]
        return [f for _, f in sorted(zip(keys, flows, strict=True), key=lambda kf: seen[kf[0]])]

    def reset_order(self) -> None:
        self._seen.clear()

    # ------------------------------------------------------------------ a compromised host

    def host_attack(self, realization: "Realization", topology: Topology, node: NodeSpec,
                    timeout_s: float = 10.0) -> "pd.DataFrame":
        """Play root on ``node``'s host OS against the policy, with real commands; one row per attempt.

        DPU node: the commands run in the node's *host* namespace, in a sandbox (new mount and pid
        namespaces) where the DPU's directory and /run/openvswitch are empty and the DPU's processes
        do not exist, as on a separate computer; each destructive attempt is made and fails.
        eSwitch/no-offload node: OVS runs on the host, so only harmless look-ups are made (they
        succeed: the same root could rewrite or delete the policy flows).
        """
        import pandas as pd

        inst = realization.instance(node)
        pods = topology.pods_on(node.name)
        port = names.pod_host_ifname(pods[0].key) if pods else names.GW_PORT
        pid = _read_pid(inst.rundir / "ovs-vswitchd.pid")
        db, mgmt, ctl = inst.db_sock, inst.mgmt_socket(names.INT_BRIDGE), inst.vswitchd_ctl
        dpu = self.is_dpu(node.name)
        # (attack, destructive command (tried on a DPU), harmless look-up (tried when OVS is on the host))
        attacks = [
            ("delete br-int through OVSDB", f"ovs-vsctl --db={db} --timeout=3 del-br br-int",
             f"ovs-vsctl --db={db} --timeout=3 br-exists br-int"),
            ("delete every OpenFlow flow", f"ovs-ofctl del-flows unix:{mgmt}",
             f"ovs-ofctl dump-flows unix:{mgmt} table=0 --no-stats"),
            ("add an allow-all flow above the policy", f"ovs-ofctl add-flow unix:{mgmt} priority=65535,actions=NORMAL",
             f"ovs-ofctl dump-aggregate unix:{mgmt}"),
            ("stop ovs-vswitchd", f"ovs-appctl -t {ctl} exit", f"ovs-appctl -t {ctl} version"),
            ("kill ovs-vswitchd by pid", f"kill -9 {pid}", f"kill -0 {pid}"),
            ("take the pod's representor down", f"ip link set {port} down", f"ip link show {port}"),
            ("remove TC filters on the representor", f"tc filter del dev {port} ingress",
             f"tc qdisc show dev {port}"),
            ("reach OVSDB over the host<->DPU link", f"timeout 3 bash -c 'exec 3<>/dev/tcp/{DPU_TMFIFO_IP}/{OVSDB_PORT}'",
             None),
            ("reach OpenFlow over the host<->DPU link",
             f"timeout 3 bash -c 'exec 3<>/dev/tcp/{DPU_TMFIFO_IP}/{OPENFLOW_PORT}'", None),
        ]
        rows = []
        for what, harm, look in attacks:
            command = harm if dpu else look
            if command is None:
                continue  # no host<->DPU link on an eSwitch node: OVS is local
            proc = self._as_host_root(node, inst.base, command, dpu, timeout_s)
            said = (proc.stdout + proc.stderr).strip().splitlines()
            if dpu:
                outcome = "blocked: the switch runs on the DPU" if proc.returncode else "SUCCEEDED"
            else:
                outcome = "reachable: OVS runs on this host" if proc.returncode == 0 else "not reachable"
            rows.append({"attack": what, "command tried (root on the host)": command.replace(str(inst.base), "<ovs>"),
                         "exit": proc.returncode,
                         "output": said[0][:120] if said else "", "outcome": outcome})
        return pd.DataFrame(rows)

    def _as_host_root(self, node: NodeSpec, dpu_dir: Path, command: str, dpu: bool, timeout_s: float):
        if not dpu:
            return run(["ip", "netns", "exec", names.node_netns(self.lab, node.name), "sh", "-c", command],
                       timeout_s=timeout_s, check=False)
        ready = "labkit-host-sandbox-ready"
        script = (f"set -e; mount -t tmpfs labkit-hidden {shlex.quote(str(dpu_dir))}; "
                  "if [ -d /run/openvswitch ]; then mount -t tmpfs labkit-hidden /run/openvswitch; fi; "
                  f"echo {ready} >&2; set +e; {command}")
        proc = run(["ip", "netns", "exec", names.node_host_netns(self.lab, node.name), "unshare", "--mount",
                    "--propagation", "private", "--pid", "--fork", "--mount-proc", "sh", "-c", script],
                   timeout_s=timeout_s, check=False)
        if ready not in proc.stderr:
            raise CommandError(f"could not build the compromised-host sandbox of node {node.name} (needs "
                               f"unshare and tmpfs mounts as root): {proc.stderr.strip()[-500:]}")
        proc.stderr = proc.stderr.replace(ready + "\n", "")
        return proc


def _read_pid(path: Path) -> int:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return 0


def _ip(lines: list[str], netns: str | None = None, force: bool = False) -> None:
    if lines:
        run(["ip"] + (["-n", netns] if netns else []) + (["-force"] if force else []) + ["-batch", "-"],
            input="\n".join(lines) + "\n", timeout_s=60, check=not force)


__all__ = ["SmartNics", "offload_problems", "representor_name", "TMFIFO", "HOST_TMFIFO_IP", "DPU_TMFIFO_IP"]
