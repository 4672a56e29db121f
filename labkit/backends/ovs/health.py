"""Keep each node's OVS alive and programmed, as antrea-agent and the antrea-ovs container do.

On a real Antrea node two things bring the datapath back after OVS fails:

* the antrea-ovs container's ``start_ovs`` loop checks the daemons every 30 s and starts the one
  that is gone, after deleting its stale pidfile and control socket (issue #870), and starts
  ``ovs-vswitchd`` with ``other_config:flow-restore-wait=true`` so the new daemon handles no
  packet with an empty flow table (build/images/scripts/start_ovs);
* antrea-agent notices that its OpenFlow connection was re-established, replays every flow it
  caches (``ReplayFlows``, pkg/agent/openflow/client.go), restores port configuration, and then
  removes ``flow-restore-wait`` (``FlowRestoreComplete``, pkg/agent/agent.go). Its packet-in
  handlers (Reject, Traceflow) ride on that same connection, so they come back with it.

:class:`Keeper` does both for a lab: :meth:`Keeper.check` looks at one node (pidfiles and the
processes they name, whether ``ovs-vswitchd`` was restarted behind labkit's back, the Reject
agent's connection, the pod server), cheaply enough to run before every apply, matrix and trace
and from the backend's watchdog thread; :meth:`Keeper.repair` restarts what is gone, replays the
node's flows and re-attaches the agent. A node that cannot be repaired raises
:class:`NodeUnavailable` naming the node, the daemon and the daemon's last log lines.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ...datapath.topology import NodeSpec, Topology
from ...errors import CommandError, LabStateError
from . import names
from .daemons import OVSDB, VSWITCHD
from .ofclient import OpenFlowUnavailable, table_counts

if TYPE_CHECKING:  # pragma: no cover
    from .agent import RejectAgent
    from .realize import Realization

PODSERVER = "pod server"
REPAIRED = "repaired"  # the last event of every repair
AGENT = "reject agent"
RECONNECT_GRACE_S = 1.0  # how long a live vswitchd may take to reconnect to a restarted ovsdb-server
OPENFLOW_TIMEOUT_S = 1.0  # a vswitchd that does not answer one OpenFlow request within this is hung


class NodeUnavailable(LabStateError):
    """A node's datapath is down and labkit could not bring it back."""

    def __init__(self, node: str, daemon: str, why: str, log: str = "") -> None:
        self.node, self.daemon, self.why = node, daemon, why
        tail = "\n  last lines of its log:\n    " + "\n    ".join(log.splitlines()) if log else ""
        super().__init__(f"node {node}: {daemon} is down and could not be restarted: {why}{tail}\n"
                         f"fix: nothing on this node forwards packets until it runs again; stop the lab and start it "
                         f"again (lab.stop(); Lab(...)) if it does not come back")


@dataclass
class NodeCheck:
    """What :meth:`Keeper.check` found on one node."""

    node: str
    dead: set[str] = field(default_factory=set)  # daemons to start again: ovsdb-server, ovs-vswitchd, pod server
    restarted: bool = False  # ovs-vswitchd runs, but not the process labkit programmed: its flows are gone
    agent_lost: bool = False
    components: list[tuple[str, str]] = field(default_factory=list)  # (component, one sentence) per problem
    counts: dict[int, int] | None = None  # flows per table, when ovs-vswitchd answered OpenFlow

    @property
    def ok(self) -> bool:
        return not (self.dead or self.restarted or self.agent_lost)

    @property
    def problems(self) -> list[str]:
        return [text for _, text in self.components]

    def add(self, component: str, text: str) -> None:
        self.components.append((component, text))


@dataclass(frozen=True)
class HealthEvent:
    """Something the keeper noticed or did (``backend.health_events``; the recovery bench reads them)."""

    at: float  # time.monotonic()
    node: str
    what: str


class Keeper:
    """Checks and repairs the nodes of one lab (see the module docstring)."""

    def __init__(self, realization: "Realization", agent: "RejectAgent", topology: Callable[[], Topology | None],
                 replay: Callable[[NodeSpec], int]) -> None:
        self.realization = realization
        self.agent = agent
        self._topology = topology
        self._replay = replay  # installs again what labkit last installed on a node; returns how many flows
        self.pids: dict[str, dict[str, int]] = {}  # node -> daemon -> pid labkit started or adopted
        self.events: list[HealthEvent] = []

    def _event(self, node: str, what: str) -> None:
        self.events.append(HealthEvent(time.monotonic(), node, what))
        if len(self.events) > 1000:
            del self.events[:500]

    def remember(self, node: NodeSpec) -> None:
        """Record the daemons now running on ``node`` as the ones labkit programmed."""
        inst = self.realization.instance(node)
        self.pids[node.name] = {d: pid for d in (OVSDB, VSWITCHD) if (pid := inst.pid(d)) is not None}

    # ------------------------------------------------------------------ look

    def check(self, node: NodeSpec, openflow: bool = True) -> NodeCheck:
        """Daemons, agent and pod server of ``node``; ``openflow`` also asks ovs-vswitchd for its
        table statistics (one request on br-int.mgmt, ~1 ms), which finds a hung daemon and gives
        the flow counts the drift check compares."""
        inst = self.realization.instance(node)
        known = self.pids.get(node.name, {})
        found = NodeCheck(node.name)
        for daemon in (OVSDB, VSWITCHD):
            pid = inst.pid(daemon)
            if pid is None:
                found.dead.add(daemon)
                was = f" (pid {known[daemon]} exited)" if daemon in known else ""
                found.add(daemon, f"{daemon} is not running{was}")
            elif daemon in known and pid != known[daemon]:
                if daemon == VSWITCHD:
                    found.restarted = True
                    found.add(daemon, f"ovs-vswitchd was restarted outside labkit (pid {known[daemon]} -> {pid}): "
                                      "it starts with no flows")
                else:
                    known[daemon] = pid  # the database survives an ovsdb-server restart: nothing to redo
        # A vswitchd without its database serves no OpenFlow: asking it then would only wait for the
        # timeout; the repair of ovsdb-server finds out whether it reconnects.
        if openflow and VSWITCHD not in found.dead and OVSDB not in found.dead:
            try:
                found.counts = table_counts(inst.mgmt_socket(names.INT_BRIDGE), OPENFLOW_TIMEOUT_S)
            except OpenFlowUnavailable as exc:
                found.dead.add(VSWITCHD)
                found.add(VSWITCHD, f"ovs-vswitchd does not answer OpenFlow on br-int ({exc})")
        if not self.agent.connected(node.name):
            found.agent_lost = True
            found.add(AGENT, "the Reject agent lost its OpenFlow connection (rejects would read as drops)")
        if not self.realization.server_alive(node):
            found.dead.add(PODSERVER)
            found.add(PODSERVER, "the pod server exited (nothing answers on the pods' ports)")
        return found

    # ------------------------------------------------------------------ repair

    def repair(self, node: NodeSpec, found: NodeCheck) -> list[str]:
        """Restart what is dead, replay the flows, re-attach the agent; returns what was done.

        Raises NodeUnavailable when a daemon cannot be brought back."""
        inst = self.realization.instance(node)
        topology = self._topology()
        done: list[str] = []
        for problem in found.problems:
            self._event(node.name, f"found: {problem}")
        if OVSDB in found.dead:
            inst.kill(OVSDB)  # a hung one
            if not inst.db_file.exists():
                raise NodeUnavailable(node.name, OVSDB, f"its database {inst.db_file} is gone",
                                      inst.log_tail(OVSDB))
            try:
                inst.start_ovsdb(timeout_s=10)
            except CommandError as exc:
                raise NodeUnavailable(node.name, OVSDB, str(exc).splitlines()[0], inst.log_tail(OVSDB)) from exc
            done.append("restarted ovsdb-server")
            if VSWITCHD not in found.dead:
                if self._reconnected(inst):
                    done.append("ovs-vswitchd reconnected to it with its flows")
                else:
                    # A live vswitchd retries its database connection with a backoff of up to 8 s
                    # and serves no OpenFlow meanwhile; restarting it is faster than waiting.
                    found.dead.add(VSWITCHD)
        replay = VSWITCHD in found.dead or found.restarted
        if replay:
            self.agent.detach(node.name)
            if VSWITCHD in found.dead:
                inst.kill(VSWITCHD)
                try:
                    inst.start_vswitchd(flow_restore_wait=True, timeout_s=10)
                except CommandError as exc:
                    raise NodeUnavailable(node.name, VSWITCHD, str(exc).splitlines()[0],
                                          inst.log_tail(VSWITCHD)) from exc
                done.append("restarted ovs-vswitchd")
            try:
                self._wait_openflow(inst)
                self.realization.node_runtime(topology, node)  # tunnel neighbours live in vswitchd's memory
                done.append(f"replayed {self._replay(node)} flows")
                if VSWITCHD in found.dead:
                    inst.flow_restore_complete()
            except (CommandError, OpenFlowUnavailable) as exc:
                raise NodeUnavailable(node.name, VSWITCHD, f"it did not take its flows back: {exc}",
                                      inst.log_tail(VSWITCHD)) from exc
        if replay or found.agent_lost or not self.agent.connected(node.name):
            try:
                self.agent.attach(node.name, inst.mgmt_socket(names.INT_BRIDGE))
            except OSError as exc:
                raise NodeUnavailable(node.name, AGENT, f"cannot reconnect to br-int.mgmt: {exc}") from exc
            done.append("reconnected the Reject agent")
        if PODSERVER in found.dead and topology is not None:
            self.realization.start_server(topology, node)
            done.append("restarted the pod server")
        self.remember(node)
        for what in done:
            self._event(node.name, what)
        self._event(node.name, REPAIRED)
        return done

    def _reconnected(self, inst) -> bool:
        deadline = time.monotonic() + RECONNECT_GRACE_S
        while time.monotonic() < deadline:
            try:  # a vswitchd without its database serves no OpenFlow; once reconnected it answers again
                table_counts(inst.mgmt_socket(names.INT_BRIDGE), 0.3)
                return True
            except (CommandError, OpenFlowUnavailable):
                time.sleep(0.05)
        return False

    @staticmethod
    def _wait_openflow(inst, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                table_counts(inst.mgmt_socket(names.INT_BRIDGE), 0.5)
                return
            except OpenFlowUnavailable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)


__all__ = ["Keeper", "NodeCheck", "NodeUnavailable", "HealthEvent", "PODSERVER", "AGENT", "REPAIRED"]
