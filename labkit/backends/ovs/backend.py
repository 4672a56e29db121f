"""The ``ovs`` backend: real packets through real Open vSwitch running Antrea's pipeline.

``start`` realizes the topology (namespaces, private OVS per node, pods with servers), compiles
the PolicySet into each node's flows and installs them; ``sync`` recompiles after every
apply/delete/label and replaces every node's flows as one transaction; ``reachability`` measures
with real connections. ``dump_flows`` and ``traceflow`` expose the datapath the way
``antctl get ovsflows`` and Antrea's Traceflow do; ``verify`` compares it with the model.

What keeps a lab honest while it runs (docs/backend-ovs.md, "Health and repair"):

* every apply, matrix, trace and flow dump first checks the nodes it touches
  (:class:`.health.Keeper`: daemons alive and answering, Reject agent connected, pod server up)
  and repairs them (restart, replay every flow, reconnect), as antrea-agent does after an OVS
  restart; a node that cannot be repaired is named with its daemon, never a hang;
* a watchdog thread does the same once a second between operations;
* the flows are checked for drift (cheaply: per-table counts) before matrices and applies;
* one process owns a lab name (:mod:`.ownership`); the lab dies with it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
import warnings as pywarnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ...datapath.compile import compile_flows
from ...datapath.openflow import FlowEntry, parse_dump, render_flows
from ...datapath.pipeline import table_id
from ...datapath.topology import NodeSpec, Topology
from ...errors import BackendUnavailable, LabkitError, LabStateError, NotFoundError, UnsupportedOperation
from ...model.cluster import ClusterState
from ...policy.compiler import PolicySet
from ...policy.probe import Probe
from ...policy.explain import explain as engine_explain
from ...policy.reachability import Explanation, Reachability
from ..base import (AttacksHost, Backend, Captures, DumpsFlows, Encrypts, ExecResult, Executes, Explains,
                    GeneratesTraffic, ReportsOffload, Resumable, ShowsRepresentors, SteadyTraffic, Traceflows,
                    Verifies)
from . import classify, names, neigh
from . import sweep as sweeping
from .agent import RejectAgent
from .flowinfo import describe_cookie
from .flowsync import FlowSync
from .health import HealthEvent, Keeper, NodeUnavailable
from .ownership import LabTakenDown, Ownership, Revocation
from .prober import MAX_IN_FLIGHT, Target, run_probes
from .realize import Realization
from .topology import TopologySpec, build_topology, load_topology

if TYPE_CHECKING:  # pragma: no cover
    from ...policy.traceflow import Traceflow
    from ..verification import VerifyReport
    from .ofproto_trace import NodeTrace

REQUIRED_TOOLS = ("ovs-vswitchd", "ovsdb-server", "ovsdb-tool", "ovs-vsctl", "ovs-ofctl", "ovs-appctl", "ip")
DRIFT_MODES = ("repair", "warn")
REPAIR_BACKOFF_S = 5.0  # the watchdog retries a node it could not repair after this long

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
                 ShowsRepresentors, GeneratesTraffic, SteadyTraffic, AttacksHost, Verifies):
    name = "ovs"
    why_not: ClassVar[dict[type, str]] = {
        Resumable: "an ovs lab lives in the process that started it (its namespaces and OVS daemons); "
                   "the CLI rebuilds it from lab.json",
    }

    def __init__(self, lab_name: str, state_dir: str | os.PathLike, topology: str | None = None,
                 probe_timeout_s: float = 1.0, watchdog_s: float = 1.0, on_drift: str = "repair") -> None:
        if on_drift not in DRIFT_MODES:
            raise ValueError(f"on_drift must be one of {', '.join(DRIFT_MODES)}, got {on_drift!r}")
        self.lab = lab_name
        self.state_dir = Path(state_dir)
        self.spec: TopologySpec = load_topology(topology)
        self.probe_timeout_s = probe_timeout_s
        self.watchdog_s = watchdog_s  # 0 turns the watchdog off (operations still check and repair)
        self.on_drift = on_drift  # "repair": reinstall drifted flows before measuring; "warn": only say so
        self.topology: Topology | None = None
        self.policy_set: PolicySet | None = None
        self.realization = Realization(lab_name, self.state_dir, self.spec.underlay_mtu)
        self.agent = RejectAgent(lambda: self.topology)
        self.flowsync = FlowSync(self.realization)
        self.keeper = Keeper(self.realization, self.agent, lambda: self.topology, self.flowsync.reinstall)
        self.ownership = Ownership(lab_name, self.state_dir)
        self.taken_down: Revocation | None = None
        self.sctp_supported: bool | None = None
        self.running = False
        self.last_warnings: list[str] = []
        self.last_traces: list["NodeTrace"] = []  # raw ofproto/trace output of the last traceflow()
        self.timings: dict[str, float] = {}
        self._lock = threading.RLock()  # one operation at a time (the watchdog waits its turn)
        self._watchdog: threading.Thread | None = None
        self._watchdog_stop = threading.Event()
        self._repair_failed_at: dict[str, float] = {}
        self._smartnics = None  # .smartnic.SmartNics, made on first use (SmartNIC topologies: at start)
        self._traffic: list = []  # .steady.SteadyTraffic runs, stopped with the lab
        self.flow_export = None  # .flowexport.FlowExport once flow visibility is used (sampling flows + IPFIX)
        self._encryption = None  # .encryption.NodeEncryption once set_encryption/capture is used

    @property
    def health_events(self) -> list[HealthEvent]:
        """What the health checks found and repaired, oldest first (node, what, monotonic time)."""
        return list(self.keeper.events)

    # ------------------------------------------------------------------ lifecycle

    def start(self, state: ClusterState, policy_set: PolicySet) -> None:
        check_available()
        previous = _RUNNING.get(self.lab)
        if previous is not None and previous is not self:
            previous.stop()  # the earlier Lab of this name in this process: this one replaces it
        self.ownership.acquire()  # LabAlreadyRunning while another live process owns the name
        self.running = True  # from here on stop() must clean up
        _RUNNING[self.lab] = self
        t0 = time.monotonic()
        leftovers = sweeping.SweepReport()
        if self.ownership.previous and self.ownership.previous.get("state_dir"):  # a dead owner's daemons
            sweeping.kill_state_dir_processes(Path(self.ownership.previous["state_dir"]), leftovers)
        sweeping.sweep(names.lab_prefix(self.lab), include_running=True)  # and its namespaces
        self.ownership.register()  # the sweep removed the dead owner's registry entry (and ours)
        self.ownership.start_reaper()
        self.topology = build_topology(self.spec, state)
        self.realization.up(self.topology)
        if self.spec.hardware_offload is not None:  # SmartNIC topology: representors, DPU host namespaces
            self.smartnics.up(self.realization, self.topology)
        self.timings["realize_s"] = time.monotonic() - t0
        self._install_all(policy_set)
        for node in self.topology.nodes:
            self.agent.attach(node.name, self.realization.instance(node).mgmt_socket(names.INT_BRIDGE))
            self.keeper.remember(node)
        with ThreadPoolExecutor(len(self.topology.nodes)) as pool:
            list(pool.map(lambda n: self.realization.start_server(self.topology, n), self.topology.nodes))
        self._start_watchdog()
        self.timings["start_s"] = time.monotonic() - t0

    def stop(self) -> None:
        """Tear the lab down: agent, servers, daemons, namespaces, state (idempotent)."""
        self._stop_watchdog()
        with self._lock:
            if not self.running:
                # Never started, refused (the name is another process's running lab), already stopped,
                # replaced or taken down: the namespaces with this lab's prefix are not ours to delete.
                return
            self._teardown()
            self.ownership.release()

    def _teardown(self) -> None:
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
        self.flowsync.clear()
        self.running = False

    # ------------------------------------------------------------------ ownership and health

    def _start_watchdog(self) -> None:
        if self.watchdog_s <= 0 or (self._watchdog is not None and self._watchdog.is_alive()):
            return
        self._watchdog_stop.clear()
        self._watchdog = threading.Thread(target=self._watch, name=f"labkit-ovs-watchdog-{self.lab}", daemon=True)
        self._watchdog.start()

    def _stop_watchdog(self) -> None:
        self._watchdog_stop.set()
        thread, self._watchdog = self._watchdog, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(10)

    def _watch(self) -> None:
        """Between operations: give the lab up if `labkit down --force` asked, else check every node
        and repair what died (as antrea-ovs' start_ovs loop and antrea-agent's reconnection do)."""
        while not self._watchdog_stop.wait(self.watchdog_s):
            if not self._lock.acquire(blocking=False):
                continue  # an operation runs: it checks the nodes itself
            try:
                if not self.running or self.topology is None:
                    return
                if self._revoked():
                    return
                for node in self.topology.nodes:
                    if time.monotonic() - self._repair_failed_at.get(node.name, -1e9) < REPAIR_BACKOFF_S:
                        continue
                    found = self.keeper.check(node)
                    if found.ok:
                        continue
                    try:
                        self.keeper.repair(node, found)
                        self._repair_failed_at.pop(node.name, None)
                    except LabkitError as exc:
                        self._repair_failed_at[node.name] = time.monotonic()
                        self.keeper.events.append(HealthEvent(time.monotonic(), node.name,
                                                              f"repair failed: {str(exc).splitlines()[0]}"))
            except Exception as exc:  # noqa: BLE001 - the watchdog must outlive a bad tick
                self.keeper.events.append(HealthEvent(time.monotonic(), "-", f"watchdog: {exc!r}"))
            finally:
                self._lock.release()

    def _revoked(self) -> bool:
        """If `labkit down --force` asked for this lab: tear it down here (nothing leaks), let the
        name go, and remember why (every later operation raises LabTakenDown)."""
        revocation = self.ownership.revocation()
        if revocation is None:
            return False
        self._teardown()
        self.taken_down = revocation
        self.ownership.release()
        return True

    @contextlib.contextmanager
    def _operation(self) -> Iterator[Topology]:
        """One user operation: exclusive with the watchdog, on a lab that is still ours."""
        with self._lock:
            self._revoked()
            yield self._require()

    def _require(self) -> Topology:
        if self.taken_down is not None:
            raise LabTakenDown(self.taken_down.message(self.lab))
        if not self.running or self.topology is None:
            raise LabStateError(f"ovs lab {self.lab!r} is not running (stopped, or replaced by a newer Lab with the "
                                "same name in this process): start it, or use the newer Lab")
        return self.topology

    def _preflight(self, nodes: list[NodeSpec], drift: bool, tolerate: bool = False) -> tuple[list[str], dict]:
        """Check (and repair) ``nodes`` before an operation. Returns warnings (what was repaired, what
        drifted) and, with ``tolerate``, the nodes that could not be repaired (else they raise
        NodeUnavailable). ``drift``: also compare the flows with what was installed."""
        notes: list[str] = []
        down: dict[str, NodeUnavailable] = {}
        for node in nodes:
            found = self.keeper.check(node)
            if not found.ok:
                problems = found.problems
                try:
                    done = self.keeper.repair(node, found)
                    found = self.keeper.check(node)
                    if not found.ok:
                        daemon = sorted(found.dead)[0] if found.dead else "ovs-vswitchd"
                        raise NodeUnavailable(node.name, daemon, "; ".join(found.problems))
                except NodeUnavailable as exc:
                    if not tolerate:
                        raise
                    down[node.name] = exc
                    continue
                notes.append(f"node {node.name}: {'; '.join(problems)}; repaired: {', '.join(done)}")
            if drift and node.name in self.flowsync.installed:
                found_drift = self.flowsync.drifted(node, found.counts)
                if found_drift is not None:
                    from .verify import describe_drift

                    what = "; ".join(describe_drift(found_drift, self.policy_set)[:3])
                    if self.on_drift == "repair":
                        self.flowsync.reinstall(node)
                        notes.append(f"node {node.name}: br-int's flows had drifted from the compiled policy ({what}); "
                                     "re-installed them before measuring")
                    else:
                        notes.append(f"node {node.name}: br-int's flows differ from the compiled policy ({what}); "
                                     "verdicts through this node may not be the policy's (lab.verify(repair=True) "
                                     "reinstalls them)")
        return notes, down

    # ------------------------------------------------------------------ realize changes

    def sync(self, state: ClusterState, policy_set: PolicySet, manifests: list[dict]) -> None:
        """Realize a changed model: pods added/removed and every node's flows, all or nothing. On a
        failure the datapath is left as it was and the error says which node failed."""
        with self._lock:
            if not self.running or self.topology is None:
                if self.taken_down is not None:
                    raise LabTakenDown(self.taken_down.message(self.lab))
                return
            self._revoked()
            self._require()
            notes, _ = self._preflight(list(self.topology.nodes), drift=False)
            old = self.topology
            new = build_topology(self.spec, state, previous=old)
            half = dict(self.realization.half_made)  # pods an earlier failure left half-made: rebuild them
            leftovers = [p for k, p in half.items() if k not in old.pods]
            if leftovers:
                self.realization.remove_pods(old, leftovers)
                notes.append(f"removed the remains of {len(leftovers)} pod(s) an earlier failure left half-made: "
                             f"{', '.join(p.key for p in leftovers)}")
            gone = [p for k, p in old.pods.items() if k not in new.pods or new.pods[k] != p or k in half]
            added = [p for k, p in new.pods.items() if k not in old.pods or old.pods[k] != p or k in half]
            rebuilt = sorted(set(half) & set(old.pods) & set(new.pods))
            if rebuilt:
                notes.append(f"rebuilt {len(rebuilt)} half-made pod(s): {', '.join(rebuilt)}")
            try:
                if gone:
                    self.realization.remove_pods(old, gone)
                self.topology = new
                if added:
                    self.realization.add_pods(new, added)
                    if self.spec.hardware_offload is not None:
                        self.smartnics.add_pods(self.realization, new, added)
                notes += self._install_all(policy_set)
            except BaseException:
                self._undo_pods(old, new, gone, added)
                raise
            for node_name in {p.node for p in gone + added}:
                self.realization.start_server(new, new.node(node_name))
            self._warn(notes)

    def _undo_pods(self, old: Topology, new: Topology, gone: list, added: list) -> None:
        """Put the pods back as ``old`` had them after a failed sync (best effort: a pod that
        cannot be rebuilt now is rebuilt by the next sync)."""
        self.topology = old
        try:
            if added:
                self.realization.remove_pods(new, added)
            if gone:
                self.realization.add_pods(old, gone)
            for node_name in {p.node for p in gone + added}:
                self.realization.start_server(old, old.node(node_name))
        except LabkitError:
            self.realization.half_made.update({p.key: p for p in gone})

    def compiled_text(self, policy_set: PolicySet, topology: Topology, node: NodeSpec) -> str:
        """The flow file of ``node`` for ``policy_set``: compiled, plus sampling (flow export on) and
        the encryption mode's forwarding (what ``sync`` installs)."""
        flows = compile_flows(policy_set, topology, node.name)
        if self.flow_export is not None:  # flow visibility: IPFIX sampling naming the rules
            from ...datapath.sampling import with_sampling
            from ...flows.exporter import observation_domain_id

            flows = with_sampling(flows, observation_domain_id(node.name))
        if self._encryption is not None:  # wireGuard/ipsec: remote pod CIDRs via antrea-gw0
            flows = self._encryption.adjust_flows(flows, topology, node.name)
        return render_flows(flows, names=False)

    def _install_all(self, policy_set: PolicySet) -> list[str]:
        """Recompile every node and install where the flows changed or drifted, all or nothing."""
        assert self.topology is not None
        texts = {n.name: (n, self.compiled_text(policy_set, self.topology, n)) for n in self.topology.nodes}
        notes = self.flowsync.commit(texts)
        self.policy_set = policy_set
        return notes

    def _warn(self, notes: list[str]) -> None:
        self.last_warnings = list(notes)
        for note in notes:
            pywarnings.warn(f"ovs lab {self.lab!r}: {note}", RuntimeWarning, stacklevel=4)

    # ------------------------------------------------------------------ observe

    def _sctp(self, topology: Topology) -> bool:
        if self.sctp_supported is None:
            from ..._util.netns import sctp_supported

            pod = next(iter(topology.pods), None)
            self.sctp_supported = sctp_supported(names.pod_netns(self.lab, pod) if pod else None)
        return self.sctp_supported

    def reachability(self, state: ClusterState, policy_set: PolicySet, probe: Probe,
                     sources: list[str], destinations: list[str]) -> Reachability:
        """Measure with real connections. The nodes are checked (and repaired) first; the probes run
        without the backend's lock (an apply or the watchdog may run meanwhile, as on a live
        cluster); then daemons that changed during the batch are repaired and their cells measured
        again, and silence that was not the policy's becomes an ``error`` cell."""
        with self._operation() as topology:
            if probe.protocol == "SCTP" and not self._sctp(topology):
                raise UnsupportedOperation("the ovs backend cannot send SCTP probes: this machine's kernel has no "
                                           "SCTP (CONFIG_IP_SCTP); use backend='sim' for SCTP, or a kernel with SCTP")
            notes, down = self._preflight(list(topology.nodes), drift=True, tolerate=True)
            cells, errors, targets = self._plan(topology, sources, destinations, down, notes)
            fulls = neigh.table_fulls()
            pids = {n.name: dict(self.keeper.pids.get(n.name, {})) for n in topology.nodes}
        result = self._probe(targets, probe)
        with self._operation():
            self._settle(topology, probe, targets, result, pids, down, notes)
            cells.update(result.verdicts)
            errors.update(result.errors)
            after = neigh.table_fulls()
            if fulls is not None and after is not None and after > fulls:
                notes.append(f"the kernel's neighbour table was full {after - fulls} time(s) during this measurement "
                             f"(net.ipv4.neigh.default.gc_thresh3 = {neigh.gc_thresh3()}, one table for every lab on "
                             "this machine); labkit's pods use static entries, so another program or lab filled it; "
                             "cells whose source could not resolve its next hop are errors")
            self.timings["last_probe_s"] = result.elapsed_s
            self.last_warnings = notes
        matrix = Reachability.from_cells(sources, destinations, cells, probe, kind="observed", backend=self.name,
                                         errors=errors)
        matrix.warnings = list(notes)
        return matrix

    def _plan(self, topology: Topology, sources: list[str], destinations: list[str],
              down: dict[str, NodeUnavailable], notes: list[str]) -> tuple[dict, dict, list[Target]]:
        """The probes to send, and the cells decided without one (unscheduled pods, dead nodes)."""
        cells: dict[tuple[str, str], str] = {}
        errors: dict[tuple[str, str], str] = {}
        targets = []
        for s in sources:
            for d in destinations:
                sp, dp = topology.pods.get(s), topology.pods.get(d)
                if sp is None or dp is None:
                    cells[(s, d)], errors[(s, d)] = "error", (f"{'source' if sp is None else 'destination'} pod has "
                                                              "no sandbox (not scheduled)")
                    continue
                broken = down.get(sp.node) or down.get(dp.node)
                if broken is not None:
                    cells[(s, d)] = "error"
                    errors[(s, d)] = f"node {broken.node}: {broken.daemon} is down ({broken.why})"
                    continue
                targets.append(Target(s, d, names.pod_netns(self.lab, s), sp.ip, dp.ip))
        for node, exc in down.items():
            notes.append(f"node {node}: {exc.daemon} is down and could not be restarted ({exc.why}); its cells are "
                         "errors")
        return cells, errors, targets

    def _settle(self, topology: Topology, probe: Probe, targets: list[Target], result, pids: dict,
                down: dict[str, NodeUnavailable], notes: list[str]) -> None:
        """After a batch: measure again what a daemon's death or restart may have spoiled, and tell
        infrastructure failures from policy (``result`` is updated in place)."""
        changed = [n for n in topology.nodes if n.name not in down and (not self.keeper.check(n, openflow=False).ok
                                                                          or self.keeper.pids.get(n.name) != pids[n.name])]
        if changed:
            again_notes, again_down = self._preflight(changed, drift=False, tolerate=True)
            notes += [f"during the measurement: {n}" for n in again_notes]
            hit = {n.name for n in changed}
            ends = lambda t: {topology.pods[t.src].node, topology.pods[t.dst].node}  # noqa: E731
            redo = [t for t in targets if result.verdicts[(t.src, t.dst)] != "allow" and ends(t) & hit]
            redo_ok = [t for t in redo if not ends(t) & set(again_down)]
            if redo_ok:
                again = self._probe(redo_ok, probe)
                for t in redo_ok:
                    pair = (t.src, t.dst)
                    result.verdicts[pair] = again.verdicts[pair]
                    result.errors.pop(pair, None)
                    result.local.discard(pair)
                    result.refused.discard(pair)
                result.errors.update(again.errors)
                result.local |= again.local
                result.refused |= again.refused
            for t in redo:
                node = next((n for n in (topology.pods[t.src].node, topology.pods[t.dst].node) if n in again_down), None)
                if node is not None:
                    result.verdicts[(t.src, t.dst)] = "error"
                    result.errors[(t.src, t.dst)] = f"node {node}: {again_down[node].daemon} died during the probe"
        # Silence is only a drop if the packet could leave the source and be taken by the destination.
        drops = [pair for pair, v in result.verdicts.items() if v == "drop"]
        silence = classify.explain_silence(self.lab, topology, drops)
        for pair, why in silence.items():
            result.verdicts[pair], result.errors[pair] = "error", why
        broken = classify.broken_pods(silence) | {src for src, _ in result.local}
        if broken:  # the next apply (or verify(repair=True)) rebuilds them
            self.realization.half_made.update({k: topology.pods[k] for k in broken if k in topology.pods})
            notes.append(f"pod(s) {', '.join(sorted(broken))} are not set up (their cells are errors); the next apply "
                         "or lab.verify(repair=True) rebuilds them")
        for pair in result.refused:
            dst = topology.pods[pair[1]]
            if classify.declares(dst, probe):
                result.verdicts[pair] = "error"
                result.errors[pair] = (f"{pair[1]} declares {probe} but nothing answered there (the pod server of "
                                       f"node {dst.node} does not listen on it)")
        notes += result.warnings

    def _probe(self, targets: list[Target], probe: Probe):
        since = time.monotonic()
        was_rejected = lambda key: self.agent.was_rejected(key, since)  # noqa: E731
        result = run_probes(targets, probe, self.probe_timeout_s, was_rejected)
        dropped = [t for t in targets if result.verdicts[(t.src, t.dst)] == "drop"]
        if len(targets) > MAX_IN_FLIGHT and dropped:
            # A big batch loads the 2 userspace-datapath threads with first-packet upcalls; confirm
            # each drop once with a fresh connection so slowness is never graded as a drop.
            again = run_probes(dropped, probe, self.probe_timeout_s, was_rejected)
            result.verdicts.update(again.verdicts)
            result.errors.update(again.errors)
            result.refused |= again.refused
            result.local |= again.local
            result.warnings += again.warnings
        return result

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
        the policy rule each flow belongs to (``antctl get ovsflows``). Shows what the switch holds,
        drift included (``verify`` compares it with the model)."""
        import pandas as pd

        with self._operation() as topology:
            spec = topology.node(self._node(node))
            self._preflight([spec], drift=False)
            args = ["dump-flows", names.INT_BRIDGE] + ([f"table={table_id(table)}"] if table else [])
            flows = parse_dump(self.realization.instance(spec).ofctl(args, timeout_s=10).stdout)
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
        """The real command in the pod's network namespace: its packets cross the lab's OVS (checked
        and repaired first, as before a matrix; the command itself runs without the backend's lock)."""
        from ..._util import proc as cmd
        from ...errors import CommandError

        with self._operation() as topology:
            if pod not in topology.pods:
                raise NotFoundError(f"pod {pod!r} has no sandbox in the ovs lab (known: "
                                    f"{', '.join(sorted(topology.pods))})")
            self._warn(self._preflight(list(topology.nodes), drift=True)[0])
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
        with self._operation() as topology:
            return self.realization.instance(topology.node(self._node(node))).appctl(["dpctl/dump-flows"])

    def explain(self, state: ClusterState, policy_set: PolicySet, src: str, dst: str, probe: Probe) -> Explanation:
        """The deciding rules from the policy model this datapath was compiled from (as
        antrea-controller answers ``antctl query networkpolicyevaluation``); the differential test
        checks the datapath against it."""
        return engine_explain(state, policy_set, src, dst, probe)

    def traceflow(self, state: ClusterState, policy_set: PolicySet, src: str, dst: str,
                  probe: Probe | None = None) -> "Traceflow":
        """Antrea-style Traceflow of one packet from pod ``src`` to pod ``dst``, from ``ofproto/trace``
        on the source node and then on the destination node (labkit.policy.traceflow.Traceflow).
        The nodes are checked first: a trace through a dead or drifted switch would describe a
        datapath that is not there."""
        from .ofproto_trace import traceflow

        with self._operation() as topology:
            if policy_set is not self.policy_set:
                self.sync(state, policy_set, [])
            nodes = {topology.pods[k].node for k in (state.pod(src).key, state.pod(dst).key) if k in topology.pods}
            notes, _ = self._preflight([topology.node(n) for n in sorted(nodes)], drift=True)
            self._warn(notes)
            result, self.last_traces = traceflow(self.realization, self.policy_set, topology, state.pod(src).key,
                                                 state.pod(dst).key, probe or Probe())
            return result

    def verify(self, state: ClusterState, policy_set: PolicySet, repair: bool = False) -> "VerifyReport":
        """Compare every node's daemons, flows (with those compiled from ``policy_set``), ports and
        pods with the model; with ``repair``, fix what differs first (:mod:`.verify`)."""
        from .verify import verify

        with self._operation() as topology:
            return verify(self, topology, policy_set, repair)
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
        with self._operation() as topology:
            nodes = [topology.node(self._node(node))] if node else list(topology.nodes)
            self._warn(self._preflight(nodes, drift=False)[0])
            report = self.smartnics.report(self.realization, topology, nodes, profile, flow_capacity)
            if reset:
                self.smartnics.reset(self.realization, nodes)
            return report

    def representors(self):
        """Pods, VF index, representor and br-int port (SmartNIC topologies)."""
        with self._operation() as topology:
            return self.smartnics.representors(self.realization, topology)

    def host_attack(self, node: str):
        """Play root on the node's host OS against the policy (see .smartnic.SmartNics.host_attack)."""
        with self._operation() as topology:
            return self.smartnics.host_attack(self.realization, topology, topology.node(self._node(node)))

    def steady_traffic(self, pairs: list[tuple[str, str]], port: int = 80, pps: float = 50.0,
                       churn_per_s: float = 0.0):
        """Background traffic between pod pairs: UDP streams at ``pps`` plus ``churn_per_s`` short TCP
        connections per second, cycling over the same pairs (:class:`.steady.SteadyTraffic`)."""
        from .steady import SteadyTraffic, Stream

        with self._operation() as topology:
            self._warn(self._preflight(list(topology.nodes), drift=True)[0])
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

        with self._operation() as topology:
            if self.flow_export is None:
                export = FlowExport(self.realization)
                export.start(topology)
                self.flow_export = export
                assert self.policy_set is not None
                try:
                    self._install_all(self.policy_set)
                except BaseException:
                    self.flow_export = None
                    export.stop()
                    raise
            return self.flow_export

    def generate_traffic(self, state: ClusterState, policy_set: PolicySet, profile: Any = "shop", *,
                         duration_s: float = 60.0, seed: int = 0, real_time_s: float | None = None, **_: Any):
        """Play a traffic profile as real connections between the pods and read every node's flow
        records from OVS IPFIX and conntrack (:func:`.flowexport.generate_traffic`)."""
        from .flowexport import generate_traffic

        with self._operation() as topology:
            if policy_set is not self.policy_set:
                self.sync(state, policy_set, [])
            self._warn(self._preflight(list(topology.nodes), drift=True)[0])
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
        with self._operation() as topology:
            assert self.policy_set is not None
            self._preflight(list(topology.nodes), drift=False)
            self.encryption.set_mode(topology, mode, lambda: self._install_all(self.policy_set))

    def capture(self, state: ClusterState, src_key: str, dst_key: str, mode: str):
        """Real frames on the underlay during one HTTP GET src -> dst (labkit.encryption.wire.Capture)."""
        with self._operation() as topology:
            if mode != self.encryption.mode:
                self.set_encryption(state, mode)
            self._warn(self._preflight(list(topology.nodes), drift=True)[0])
            return self.encryption.capture(topology, src_key, dst_key)

    def supports_sctp(self) -> bool:
        """Can this machine's kernel carry the SCTP probes (CONFIG_IP_SCTP)?"""
        return self._sctp(self._require())


__all__ = ["OvsBackend", "check_available"]
