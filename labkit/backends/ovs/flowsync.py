"""Put compiled flows on every node of a lab: all nodes or none, and never blind to drift.

What labkit installed on each node is kept (:attr:`FlowSync.installed`, the flow text, and
:attr:`FlowSync.counts`, the per-table flow counts the switch reported right after). It is the
replay source after a restart (as antrea-agent's flow cache is for ``ReplayFlows``) and the
reference of the cheap drift check: one OpenFlow table-statistics request per node
(:func:`.ofclient.table_counts`) compared with :attr:`FlowSync.counts`; only if they differ is the
exact comparison (``ovs-ofctl diff-flows``, :mod:`labkit.datapath.drift`) run, to say what drifted.

:meth:`FlowSync.commit` changes several nodes as one transaction:

1. prepare: every node's new flow file is compiled and written, and every node whose flows are
   unchanged is checked for drift (a no-op apply re-installs a node whose flows were changed
   behind labkit's back, instead of skipping it);
2. commit: one atomic OpenFlow bundle per node (``ovs-ofctl --bundle replace-flows``), in parallel;
3. on any failure, the nodes already committed are put back to their previous flows and the
   error says which node failed and that nothing changed. OVS validates a bundle only when it
   commits it, so a refusal cannot be known earlier; rolling back is what makes the whole apply
   atomic across nodes. The daemons' health is checked by the caller before step 1.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from ...datapath.drift import FlowDrift, counts_differ
from ...datapath.topology import NodeSpec
from ...errors import CommandError, LabkitError
from . import names
from .ofclient import OpenFlowUnavailable, table_counts

if TYPE_CHECKING:  # pragma: no cover
    from .realize import Realization


class ApplyFailed(CommandError):
    """Flows could not be installed on some node; every node was left with its previous flows."""


class FlowSync:
    """The flows installed on each node of one lab, and the all-or-nothing way to change them."""

    def __init__(self, realization: "Realization") -> None:
        self.realization = realization
        self.installed: dict[str, str] = {}  # node -> flow text last installed (the replay source)
        self.counts: dict[str, dict[int, int]] = {}  # node -> flows per table right after that install
        self.stale: set[str] = set()  # nodes whose flows are not `installed` (a rollback that failed)

    def clear(self) -> None:
        self.installed.clear()
        self.counts.clear()
        self.stale.clear()

    # ------------------------------------------------------------------ drift

    def live_counts(self, node: NodeSpec) -> dict[int, int]:
        return table_counts(self.realization.instance(node).mgmt_socket(names.INT_BRIDGE))

    def drifted(self, node: NodeSpec, counts: dict[int, int] | None = None) -> FlowDrift | None:
        """What differs between the node's switch and what labkit installed, or None if nothing
        does. Cheap when nothing does (one OpenFlow request); ``counts`` if already read."""
        text = self.installed.get(node.name)
        if text is None:
            return None
        if node.name not in self.stale:
            try:
                live = counts if counts is not None else self.live_counts(node)
            except OpenFlowUnavailable:
                return None  # the daemon is the problem; the health check reports it
            if not counts_differ(self.counts.get(node.name, {}), live):
                return None
        drift = self.realization.diff_flows(node, text)
        return None if drift.ok else drift

    def reinstall(self, node: NodeSpec) -> int:
        """Install the node's flows again (after drift or a restart); returns how many (0 when
        nothing was installed there yet)."""
        text = self.installed.get(node.name)
        if text is None:
            return 0
        self.install(node, text)
        return text.count("\n")

    # ------------------------------------------------------------------ install

    def install(self, node: NodeSpec, text: str) -> None:
        """Install ``text`` on one node (one bundle) and remember it as what the node holds."""
        self.realization.install_flows(node, text)
        self._installed_now(node, text)

    def _installed_now(self, node: NodeSpec, text: str) -> None:
        self.installed[node.name] = text
        self.stale.discard(node.name)
        try:
            self.counts[node.name] = self.live_counts(node)
        except OpenFlowUnavailable:
            self.counts.pop(node.name, None)

    def commit(self, texts: dict[str, tuple[NodeSpec, str]]) -> list[str]:
        """Install ``texts`` (node name -> (node, flow text)) on every node, or on none.

        Returns notes about drift found on unchanged nodes (and repaired by re-installing them);
        raises ApplyFailed (or the node's own error) after rolling the committed nodes back."""
        notes: list[str] = []
        work: list[tuple[NodeSpec, str]] = []
        for name, (node, text) in texts.items():  # phase 1: prepare
            if self.installed.get(name) != text or name in self.stale:
                work.append((node, text))
                continue
            drift = self.drifted(node)
            if drift is not None:
                notes.append(f"node {name}: br-int's flows had drifted from the compiled ones ({drift}); "
                             "re-installed them")
                work.append((node, text))
        if not work:
            return notes

        def install(item: tuple[NodeSpec, str]) -> BaseException | None:
            node, text = item
            try:
                self.realization.install_flows(node, text)
                return None
            except BaseException as exc:  # noqa: BLE001 - collected, then rolled back as one
                return exc

        with ThreadPoolExecutor(len(work)) as pool:  # phase 2: commit
            outcomes = list(pool.map(install, work))
        failed = [(node, exc) for (node, _), exc in zip(work, outcomes) if exc is not None]
        if not failed:
            for node, text in work:
                self._installed_now(node, text)
            return notes
        # phase 3: roll back every node that took the new flows
        rolled, stuck = [], []
        for (node, _), exc in zip(work, outcomes):
            if exc is not None:
                continue
            previous = self.installed.get(node.name)
            if previous is None:
                continue
            try:
                self.realization.install_flows(node, previous)
                rolled.append(node.name)
            except LabkitError:
                self.stale.add(node.name)  # the next health check re-installs `installed` there
                stuck.append(node.name)
        node, exc = failed[0]
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        message = (f"the new flows could not be installed on node {node.name}: {first}"
                   + (f" (and {len(failed) - 1} other node{'s' if len(failed) > 2 else ''})" if len(failed) > 1 else "")
                   + "; nothing was applied: " + (f"node{'s' if len(rolled) > 1 else ''} {', '.join(rolled)} rolled back "
                                                 "to the previous policy" if rolled else "no node had changed")
                   + (f"; {', '.join(stuck)} could not be rolled back yet and will be on the next operation"
                      if stuck else ""))
        raise ApplyFailed(message) from exc


__all__ = ["FlowSync", "ApplyFailed"]
