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
from typing import TYPE_CHECKING, Any

from ...datapath.compile import compile as compile_flows
from ...datapath.flows import FlowEntry, parse_dump, render_flows
from ...datapath.tables import table_id
from ...datapath.topology import Topology
from ...errors import BackendUnavailable, LabStateError, NotFoundError, UnsupportedOperation
from ...model.cluster import ClusterState
from ...policy.compiler import PolicySet
from ...policy.probe import Probe
from ...policy.reachability import Reachability
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
    from .trace import NodeTrace

REQUIRED_TOOLS = ("ovs-vswitchd", "ovsdb-server", "ovsdb-tool", "ovs-vsctl", "ovs-ofctl", "ovs-appctl", "ip")


def check_available() -> None:
    if os.geteuid() != 0:
        raise BackendUnavailable("the ovs backend needs root (network namespaces, veth, OVS); use backend='sim'")
    for tool in REQUIRED_TOOLS:
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            raise BackendUnavailable(f"{tool} is not installed (apt-get install openvswitch-switch iproute2); "
                                     "use backend='sim' meanwhile")


class OvsBackend:
    name = "ovs"

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

    # ------------------------------------------------------------------ lifecycle

    def start(self, state: ClusterState, policy_set: PolicySet) -> None:
        check_available()
        if sweeping.lab_is_running(self.lab) and (sweeping.registered(self.lab) or {}).get("owner_pid") != os.getpid():
            raise LabStateError(f"an ovs lab named {self.lab!r} is already running (owner pid "
                                f"{sweeping.registered(self.lab)['owner_pid']}); stop it or pick another name")
        sweeping.sweep(names.lab_prefix(self.lab))  # leftovers of a crashed run of this lab
        t0 = time.monotonic()
        self.topology = build_topology(self.spec, state)
        sweeping.register(self.lab, self.state_dir)
        self.running = True  # from here on stop() must clean up
        self.realization.up(self.topology)
        self.timings["realize_s"] = time.monotonic() - t0
        self._install_all(policy_set)
        for node in self.topology.nodes:
            self.agent.attach(node.name, self.realization.instance(node).mgmt_socket(names.INT_BRIDGE))
        with ThreadPoolExecutor(len(self.topology.nodes)) as pool:
            list(pool.map(lambda n: self.realization.start_server(self.topology, n), self.topology.nodes))
        self.timings["start_s"] = time.monotonic() - t0

    def stop(self) -> None:
        """Tear the lab down: agent, servers, daemons, namespaces, state (idempotent)."""
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
        self._install_all(policy_set)
        for node_name in {p.node for p in gone + added}:
            self.realization.start_server(new, new.node(node_name))

    def _install_all(self, policy_set: PolicySet) -> None:
        """Recompile every node; install (one bundle each) where the flows changed."""
        assert self.topology is not None
        self.policy_set = policy_set
        work = []
        for node in self.topology.nodes:
            text = render_flows(compile_flows(policy_set, self.topology, node.name), names=False)
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
            raise LabStateError(f"ovs lab {self.lab!r} is not running: start it first")
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

    def dump_megaflows(self, node: str) -> str:
        """``ovs-appctl dpctl/dump-flows`` of one node: the datapath's megaflow cache, as text
        (what :func:`labkit.smartnic.parse_dump_flows` reads)."""
        topology = self._require()
        return self.realization.instance(topology.node(self._node(node))).appctl(["dpctl/dump-flows"])

    def traceflow(self, state: ClusterState, policy_set: PolicySet, src: str, dst: str,
                  probe: Probe | None = None) -> "Traceflow":
        """Antrea-style Traceflow of one packet from pod ``src`` to pod ``dst``, from ``ofproto/trace``
        on the source node and then on the destination node (labkit.policy.traceflow.Traceflow)."""
        from .trace import traceflow

        topology = self._require()
        if policy_set is not self.policy_set:
            self.sync(state, policy_set, [])
        return traceflow(self, topology, state.pod(src).key, state.pod(dst).key, probe or Probe())

    def capabilities(self) -> dict[str, Any]:
        return {"sctp": self._sctp(self._require()), "reject": True, "traceflow": True, "dump_flows": True}


__all__ = ["OvsBackend", "check_available"]
