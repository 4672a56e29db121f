"""The ``ovs`` backend: namespaces + veths + a private Open vSwitch per node, Antrea's pipeline,
real probes. Import cost is small (no OVS is touched until ``OvsBackend.start``).

Public surface: :class:`OvsBackend` (the Backend protocol plus ``dump_flows``, ``traceflow``,
``flows``, ``verify``), :func:`sweep` (remove a crashed lab's leftovers), :func:`load_topology`, the
ownership interface an owner process uses (:class:`Ownership`, :func:`owner`, :func:`revoke`) and
the errors a broken or taken lab raises (:class:`NodeUnavailable`, :class:`LabAlreadyRunning`,
:class:`LabTakenDown`, :class:`ApplyFailed`).
"""

from .backend import OvsBackend, check_available
from .flowsync import ApplyFailed
from .health import NodeUnavailable
from .ownership import LabAlreadyRunning, LabTakenDown, Ownership, owner, revoke
from .sweep import SweepReport, sweep
from .topology import TopologySpec, build_topology, load_topology

__all__ = ["OvsBackend", "check_available", "sweep", "SweepReport", "load_topology", "build_topology", "TopologySpec",
           "Ownership", "owner", "revoke", "NodeUnavailable", "LabAlreadyRunning", "LabTakenDown", "ApplyFailed"]
