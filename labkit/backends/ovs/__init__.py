"""The ``ovs`` backend: namespaces + veths + a private Open vSwitch per node, Antrea's pipeline,
real probes. Import cost is small (no OVS is touched until ``OvsBackend.start``).

Public surface: :class:`OvsBackend` (the Backend protocol plus ``dump_flows``, ``traceflow``,
``flows``), :func:`sweep` (remove a crashed lab's leftovers), :func:`load_topology`.
"""

from .backend import OvsBackend, check_available
from .sweep import SweepReport, sweep
from .topology import TopologySpec, build_topology, load_topology

__all__ = ["OvsBackend", "check_available", "sweep", "SweepReport", "load_topology", "build_topology", "TopologySpec"]
