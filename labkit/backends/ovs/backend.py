"""The ``ovs`` backend: real packets through real Open vSwitch running Antrea's pipeline.

``start`` realizes the topology (namespaces, private OVS per node, pods with servers), compiles
the PolicySet into each node's flows and installs them; ``sync`` recompiles after every
apply/delete/label and replaces each node's flows in one atomic bundle; ``reachability`` measures
with real connections. ``dump_flows`` and ``traceflow`` expose the datapath the way
``antctl get ovsflows`` and Antrea's Traceflow do.
"""

from __future__ import annotations

import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ...datapath.compile import compile_flows
from ...datapath.openflow import FlowEntry, parse_dump, render_flows
from ...datapath.pipeline import table_id
from ...datapath.topology import Topology
from ...errors import BackendUnavailable, LabStateError, NotFoundError, UnsupportedOperation
from ...model.cluster import ClusterState
from ...policy.compiler import PolicySet
from ...policy.probe import Probe
from ...policy.explain import explain as engine_explain
from ...policy.reachability import Explanation, Reachability
from ..base import (AttacksHost, Backend, Captures, DumpsFlows, Encrypts, ExecResult, Executes, Explains,
                    GeneratesTraffic, ReportsOffload, Resumable, ShowsRepresentors, SteadyTraffic, Traceflows)
from . import names
from . import sweep as sweeping
from .agent import RejectAgent
from .flowinfo import describe_cookie
from .prober import MAX_IN_FLIGHT, Target, run_probes
from .realize import Realization
from .topology import TopologySpec, build_topology, load_topology

# Same-node pairs need an ARP entry in both pods; the kernel's neighbour table is global.
NEIGHBOUR_BUDGET = 400

if TYPE_CHECKING:  # pragma: no cover
    from ...policy.traceflow import Traceflow
    from .ofproto_trace import NodeTrace

REQUIRED_TOOLS = ("ovs-vswitchd", "ovsdb-server", "ovsdb-tool", "ovs-vsctl", "ovs-ofctl", "ovs-appctl", "ip")

# The backend running each lab name in this process. A lab name is one set of namespaces, so a
# second Lab with the same name (a notebook's lab cell run again) replaces the first one instead of
# colliding with its namespaces (which used to fail and take the first lab down too).
_RUNNING: dict[str, "OvsBackend"] = {}


def check_available() -> None:
    if os.geteuid() != 0:
        raise BackendUnavailable("the ovs backend needs root (network namespaces, veth, OVS); use backend='sim'")
    for tool in REQUIRED_TOOLS:
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            raise BackendUnavailable(f"{tool} is not installed (apt-get install openvswitch-switch iproute2); "
                                     "use backend='sim' meanwhile")


class OvsBackend(Backend, Explains, Traceflows, DumpsFlows, Executes, Encrypts, Captures, ReportsOffload,
                 ShowsRepresentors, GeneratesTraffic, SteadyTraffic, AttacksHost):
    name = "ovs"
    why_not: ClassVar[dict[type, str]] = {
        Resumable: "an ovs lab lives in the process that started it (its namespaces and OVS daemons); "
                   "the CLI rebuilds it from lab.json",
    }

    def __init__(self, lab_name: str, state_dir: str | os.PathLike, topology: str | None = None,
                 probe_timeout_s: float = 1.0) -> None:
        self.lab = lab_name
        self.state_dir = Path(state_dir)
        self.spec: TopologySpec = load_topology(topology)
        self.probe_timeout_s = probe_timeout_s
        self.topology: Topology | None = None
        self.policy_set: PolicySet | None = None
        self.realization = Realization(lab_name, self.state_dir, self.spec.underlay_mtu)
        self.agent = RejectAgent(lambda: self.topology)
        self._installed: dict[str, str] = {}  # node -> flow file text last installed
        self.sctp_supported: bool | None = None
        self.running = False
        self.last_warnings: list[str] = []
        self.last_traces: list["NodeTrace"] = []  # raw ofproto/trace output of the last traceflow()
        self.timings: dict[str, float] = {}
        self._smartnics = None  # .smartnic.SmartNics, made on first use (SmartNIC topologies: at start)
        self._traffic: list = []  # .steady.SteadyTraffic runs, stopped with the lab
        self.flow_export = None  # .flowexport.FlowExport once flow visibility is used (sampling flows + IPFIX)
        self._encryption = None  # .encryption.NodeEncryption once set_encryption/capture is used

    # ------------------------------------------------------------------ lifecycle

    def start(self, state: ClusterState, policy_set: PolicySet) -> None:
        check_available()
        if sweeping.lab_is_running(self.lab) and (sweeping.registered(self.lab) or {}).get("owner_pid") != os.getpid():
            raise LabStateError(f"an ovs lab named {self.lab!r} is already running (owner pid "
                                f"{sweeping.registered(self.lab)['owner_pid']}); stop it or pick another name")
        previous = _RUNNING.get(self.lab)
        if previous is not None and previous is not self:
            previous.stop()  # the earlier Lab of this name in this process: this one replaces it
        sweeping.sweep(names.lab_prefix(self.lab))  # leftovers of a crashed run of this lab
        t0 = time.monotonic()
        self.topology = build_topology(self.spec, state)
        sweeping.register(self.lab, self.state_dir)
        self.running = True  # from here on stop() must clean up
        _RUNNING[self.lab] = self
        self.realization.up(self.topology)
        if self.spec.hardware_offload is not None:  # SmartNIC topology: representors, DPU host namespaces
            self.smartnics.up(self.realization, self.topology)
        self.timings["realize_s"] = time.monotonic() - t0
        self._install_all(policy_set)
        for node in self.topology.nodes:
            self.agent.attach(node.name, self.realization.instance(node).mgmt_socket(names.INT_BRIDGE))
        with ThreadPoolExecutor(len(self.topology.nodes)) as pool:
            list(pool.map(lambda n: self.realization.start_server(self.topology, n), self.topology.nodes))
        self.timings["start_s"] = time.monotonic() - t0

    def stop(self) -> None:
        """Tear the lab down: agent, servers, daemons, namespaces, state (idempotent)."""
        if not self.running:
            # Never started, refused (the name is another process's running lab), already stopped or
            # replaced: the namespaces with this lab's prefix are not ours to delete.
            return
        if _RUNNING.get(self.lab) is self:
            del _RUNNING[self.lab]
        for traffic in self._traffic:  # its sockets live in the pods' namespaces
            traffic.stop()
        self._traffic.clear()
        if self.flow_export is not None:  # its collector sockets live in the nodes' namespaces
            self.flow_export.stop()
            self.flow_export = None
        if self._encryption is not None:  # wireguard-go / charon live in the node namespaces
            self._encryption.stop()
            self._encryption = None
        self.agent.stop()
        self.realization.down(self.topology)
        base = self.state_dir / "ovs"
        if base.is_dir() and not os.environ.get("LABKIT_KEEP_OVS_STATE"):
            shutil.rmtree(base, ignore_errors=True)
        sweeping.unregister(self.lab)
        self._installed.clear()
        self.running = False

    # ------------------------------------------------------------------ realize changes

    def sync(self, state: ClusterState, policy_set: PolicySet, manifests: list[dict]) -> None:
        if not self.running or self.topology is None:
            return
        old = self.topology
        new = build_topology(self.spec, state, previous=old)
        gone = [p for k, p in old.pods.items() if k not in new.pods or new.pods[k] != p]
        added = [p for k, p in new.pods.items() if k not in old.pods or old.pods[k] != p]
        if gone:
            self.realization.remove_pods(old, gone)
        self.topology = new
        if added:
            self.realization.add_pods(new, added)
            if self.spec.hardware_offload is not None:
                self.smartnics.add_pods(self.realization, new, added)
        self._install_all(policy_set)
        for node_name in {p.node for p in gone + added}:
            self.realization.start_server(new, new.node(node_name))

    def _install_all(self, policy_set: PolicySet) -> None:
        """Recompile every node; install (one bundle each) where the flows changed."""
        assert self.topology is not None
        self.policy_set = policy_set
        work = []
        for node in self.topology.nodes:
            flows = compile_flows(policy_set, self.topology, node.name)
            if self.flow_export is not None:  # flow visibility: IPFIX sampling naming the rules
                from ...datapath.sampling import with_sampling
                from ...flows.exporter import observation_domain_id

                flows = with_sampling(flows, observation_domain_id(node.name))
            if self._encryption is not None:  # wireGuard/ipsec: remote pod CIDRs via antrea-gw0
                flows = self._encryption.adjust_flows(flows, self.topology, node.name)
            text = render_flows(flows, names=False)
            if self._installed.get(node.name) != text:
                work.append((node, text))

        def install(item) -> None:
            node, text = item
            self.realization.install_flows(node, text)
            self._installed[node.name] = text

        if work:
            with ThreadPoolExecutor(len(work)) as pool:
                list(pool.map(install, work))

    # ------------------------------------------------------------------ observe

    def _require(self) -> Topology:
        if not self.running or self.topology is None:
            raise LabStateError(f"ovs lab {self.lab!r} is not running (stopped, or replaced by a newer Lab with the "
                                "same name in this process): start it, or use the newer Lab")
        return self.topology

    def _sctp(self, topology: Topology) -> bool:
        if self.sctp_supported is None:
            from ..._util.netns import sctp_supported

            pod = next(iter(topology.pods), None)
            self.sctp_supported = sctp_supported(names.pod_netns(self.lab, pod) if pod else None)
        return self.sctp_supported

    def reachability(self, state: ClusterState, policy_set: PolicySet, probe: Probe,
                     sources: list[str], destinations: list[str]) -> Reachability:
        topology = self._require()
        if probe.protocol == "SCTP" and not self._sctp(topology):
            raise UnsupportedOperation("the ovs backend cannot send SCTP probes: this machine's kernel has no SCTP "
                                       "(CONFIG_IP_SCTP); use backend='sim' for SCTP, or a kernel with SCTP")
        targets, cells, warnings = [], {}, []
        for s in sources:
            for d in destinations:
                sp, dp = topology.pods.get(s), topology.pods.get(d)
                if sp is None or dp is None:
                    cells[(s, d)] = "drop"
                    warnings.append(f"{s} -> {d}: {'source' if sp is None else 'destination'} has no sandbox "
                                    "(not scheduled)")
                    continue
                targets.append(Target(s, d, names.pod_netns(self.lab, s), sp.ip, dp.ip))
        local_pairs = sum(1 for t in targets if topology.pods[t.src].node == topology.pods[t.dst].node)
        if local_pairs > NEIGHBOUR_BUDGET:
            warnings.append(f"{local_pairs} same-node pod pairs at once: the kernel's neighbour table is shared by "
                            f"every namespace (net.ipv4.neigh.default.gc_thresh3, usually 1024) and may overflow, "
                            "which shows up as false drops; probe fewer sources at a time")
        since = time.monotonic()
        result = run_probes(targets, probe, self.probe_timeout_s,
                            lambda key: self.agent.was_rejected(key, since))
        cells.update(result.verdicts)
        dropped = [t for t in targets if result.verdicts[(t.src, t.dst)] == "drop"]
        if len(targets) > MAX_IN_FLIGHT and dropped:
            # A big batch loads the 2 userspace-datapath threads with first-packet upcalls; confirm
            # each drop once with a fresh connection so slowness is never graded as a drop.
            again = run_probes(dropped, probe, self.probe_timeout_s, lambda key: self.agent.was_rejected(key, since))
            cells.update(again.verdicts)
            result.warnings += again.warnings
        self.last_warnings = warnings + result.warnings
        self.timings["last_probe_s"] = result.elapsed_s
        matrix = Reachability.from_cells(sources, destinations, cells, probe, kind="observed", backend=self.name)
        matrix.warnings = list(self.last_warnings)
        return matrix

    def flows(self, node: str) -> list[FlowEntry]:
        """The flows labkit compiled for ``node`` (what should be installed)."""
        topology = self._require()
        assert self.policy_set is not None
        return compile_flows(self.policy_set, topology, self._node(node))

    def _node(self, node: str) -> str:
        topology = self._require()
        for n in topology.nodes:
            if node in (n.name, str(n.index)):
                return n.name
        raise NotFoundError(f"no node {node!r}; nodes: {', '.join(n.name for n in topology.nodes)}")

    def dump_flows(self, node: str, table: str | None = None):
        """``ovs-ofctl dump-flows br-int`` of one node as a DataFrame with table names, counters and
        the policy rule each flow belongs to (``antctl get ovsflows``)."""
        import pandas as pd

        topology = self._require()
        spec = topology.node(self._node(node))
        args = ["dump-flows", names.INT_BRIDGE] + ([f"table={table_id(table)}"] if table else [])
        flows = parse_dump(self.realization.instance(spec).ofctl(args).stdout)
        rows = []
        for f in flows:
            rows.append({"table": f.table, "table_id": table_id(f.table), "priority": f.priority, "match": f.match,
                         "actions": f.actions, "n_packets": f.n_packets, "n_bytes": f.n_bytes,
                         "cookie": f"{f.cookie:#x}", **describe_cookie(f.cookie, self.policy_set)})
        frame = pd.DataFrame(rows, columns=["table", "table_id", "priority", "match", "actions", "n_packets",
                                            "n_bytes", "cookie", "category", "policy", "rule"])
        return frame.sort_values(["table_id", "priority"], ascending=[True, False], kind="stable").reset_index(drop=True)

    def exec(self, state: ClusterState, policy_set: PolicySet, pod: str, command: list[str],
             timeout_s: float) -> ExecResult:
        """The real command in the pod's network namespace: its packets cross the lab's OVS."""
        from ..._util import proc as cmd
        from ...errors import CommandError

        topology = self._require()
        if pod not in topology.pods:
            raise NotFoundError(f"pod {pod!r} has no sandbox in the ovs lab (known: {', '.join(sorted(topology.pods))})")
        try:
            done = cmd.run(command, names.pod_netns(self.lab, pod), timeout_s=timeout_s, check=False, text=False)
        except CommandError as exc:  # ran too long (124, as coreutils' timeout) or is missing (127, as a shell)
            if exc.failure is not None and exc.failure.timeout_s is not None:
                return ExecResult(124, b"", f"labkit: {exc}\n".encode())
            return ExecResult(127, b"", f"labkit: {command[0]}: not found (an ovs pod runs the programs "
                                        "installed on this machine)\n".encode())
        return ExecResult(done.returncode, done.stdout, done.stderr)

    def dump_megaflows(self, node: str) -> str:
        """``ovs-appctl dpctl/dump-flows`` of one node: the datapath's megaflow cache, as text
        (what :func:`labkit.smartnic.parse_dump_flows` reads)."""
        topology = self._require()
        return self.realization.instance(topology.node(self._node(node))).appctl(["dpctl/dump-flows"])

    def explain(self, state: ClusterState, policy_set: PolicySet, src: str, dst: str, probe: Probe) -> Explanation:
        """The deciding rules from the policy model this datapath was compiled from (as
        antrea-controller answers ``antctl query networkpolicyevaluation``); the differential test
        checks the datapath against it."""
        return engine_explain(state, policy_set, src, dst, probe)

    def traceflow(self, state: ClusterState, policy_set: PolicySet, src: str, dst: str,
                  probe: Probe | None = None) -> "Traceflow":
        """Antrea-style Traceflow of one packet from pod ``src`` to pod ``dst``, from ``ofproto/trace``
        on the source node and then on the destination node (labkit.policy.traceflow.Traceflow)."""
        from .ofproto_trace import traceflow

        topology = self._require()
        if policy_set is not self.policy_set:
            self.sync(state, policy_set, [])
        result, self.last_traces = traceflow(self.realization, self.policy_set, topology, state.pod(src).key,
                                             state.pod(dst).key, probe or Probe())
        return result

    # ------------------------------------------------------------------ SmartNICs (.smartnic)

    @property
    def smartnics(self):
        if self._smartnics is None:
            from .smartnic import SmartNics

            self._smartnics = SmartNics(self.lab, self.spec.hardware_offload or {}, self.spec.path)
        return self._smartnics

    def offload_report(self, node: str | None = None, profile: Any = None, flow_capacity: int | None = None,
                       reset: bool = False):
        """Each node's real datapath flows classified with its NIC profile (or ``profile``), with OVS's
        counters: a :class:`labkit.smartnic.report.OffloadReport`. ``reset`` then starts a new window
        (datapath flows purged, pmd counters zeroed)."""
        topology = self._require()
        nodes = [topology.node(self._node(node))] if node else list(topology.nodes)
        report = self.smartnics.report(self.realization, topology, nodes, profile, flow_capacity)
        if reset:
            self.smartnics.reset(self.realization, nodes)
        return report

    def representors(self):
        """Pods, VF index, representor and br-int port (SmartNIC topologies)."""
        return self.smartnics.representors(self.realization, self._require())

    def host_attack(self, node: str):
        """Play root on the node's host OS against the policy (see .smartnic.SmartNics.host_attack)."""
        topology = self._require()
        return self.smartnics.host_attack(self.realization, topology, topology.node(self._node(node)))

    def steady_traffic(self, pairs: list[tuple[str, str]], port: int = 80, pps: float = 50.0,
                       churn_per_s: float = 0.0):
        """Background traffic between pod pairs: UDP streams at ``pps`` plus ``churn_per_s`` short TCP
        connections per second, cycling over the same pairs (:class:`.steady.SteadyTraffic`)."""
        from .steady import SteadyTraffic, Stream

        topology = self._require()
        streams = []
        for src, dst in pairs:
            if src not in topology.pods or dst not in topology.pods:
                raise NotFoundError(f"{src} -> {dst}: both pods must be scheduled; pods: {', '.join(topology.pods)}")
            streams.append(Stream(src, dst, names.pod_netns(self.lab, src), topology.pods[dst].ip, port))
        traffic = SteadyTraffic(streams, pps=pps, churn=streams if churn_per_s else [], churn_per_s=churn_per_s)
        self._traffic.append(traffic)
        return traffic.start()

    # ------------------------------------------------------------------ flow visibility (.flowexport)

    def enable_flow_export(self):
        """Turn on OVS IPFIX flow sampling on every node (collectors in the node namespaces, sampling
        flows naming the policy rules); idempotent. Returns the :class:`.flowexport.FlowExport`."""
        from .flowexport import FlowExport

        topology = self._require()
        if self.flow_export is None:
            export = FlowExport(self.realization)
            export.start(topology)
            self.flow_export = export
            assert self.policy_set is not None
            self._install_all(self.policy_set)
        return self.flow_export

    def generate_traffic(self, state: ClusterState, policy_set: PolicySet, profile: Any = "shop", *,
                         duration_s: float = 60.0, seed: int = 0, real_time_s: float | None = None, **_: Any):
        """Play a traffic profile as real connections between the pods and read every node's flow
        records from OVS IPFIX and conntrack (:func:`.flowexport.generate_traffic`)."""
        from .flowexport import generate_traffic

        if policy_set is not self.policy_set:
            self.sync(state, policy_set, [])
        topology = self._require()
        return generate_traffic(self.enable_flow_export(), self.lab, topology, state, policy_set, profile,
                                duration_s=duration_s, seed=seed, real_time_s=real_time_s)

    # ------------------------------------------------------------------ encryption (.encryption)

    @property
    def encryption(self):
        if self._encryption is None:
            from .encryption import NodeEncryption

            self._encryption = NodeEncryption(self.lab, self.state_dir)
        return self._encryption

    def set_encryption(self, state: ClusterState, mode: str) -> None:
        """Antrea's trafficEncryptionMode between the nodes: none | ipsec | wireGuard (.encryption)."""
        topology = self._require()
        assert self.policy_set is not None
        self.encryption.set_mode(topology, mode, lambda: self._install_all(self.policy_set))

    def capture(self, state: ClusterState, src_key: str, dst_key: str, mode: str):
        """Real frames on the underlay during one HTTP GET src -> dst (labkit.encryption.wire.Capture)."""
        topology = self._require()
        if mode != self.encryption.mode:
            self.set_encryption(state, mode)
        return self.encryption.capture(topology, src_key, dst_key)

    def supports_sctp(self) -> bool:
        """Can this machine's kernel carry the SCTP probes (CONFIG_IP_SCTP)?"""
        return self._sctp(self._require())


__all__ = ["OvsBackend", "check_available"]
