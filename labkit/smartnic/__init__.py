"""SmartNIC / DPU hardware offload (Antrea docs/ovs-offload.md), simulated.

* :mod:`~labkit.smartnic.profiles`: NIC profiles as data (``topologies/smartnic.yaml``);
* :mod:`~labkit.smartnic.offload`: parse ``dpctl/dump-flows`` megaflows and decide, with the
  reason, which ones a NIC can hold;
* :mod:`~labkit.smartnic.workload_model`: traffic over time (steady flows vs churn, Reject/logging rules)
  and what a compromised host can do to policy on an eSwitch vs a DPU;
* :mod:`~labkit.smartnic.report`: :class:`OffloadReport`, what ``lab.offload_report()`` returns on
  every backend (real flows and OVS counters on ovs, the flow model on sim). See docs/smartnic.md.
"""

from .offload import (REASONS, Megaflow, OffloadDecision, classify, decisions_table, format_flow, offload_stats,
                      parse_dump_flows, parse_flow, reasons_table)
from .profiles import NicProfile, get_profile, load_profiles, profiles_table
from .report import NodeOffload, OffloadReport, modelled_report, parse_pmd_stats
from .workload_model import CHURN, MIXED, SAMPLE_DUMP, STEADY, Workload, compare, host_compromise, sample_flows, simulate
from . import exercises  # noqa: E402  (after the names it uses)

__all__ = [
    "NicProfile", "load_profiles", "get_profile", "profiles_table",
    "Megaflow", "OffloadDecision", "parse_flow", "parse_dump_flows", "format_flow", "classify", "decisions_table",
    "offload_stats", "reasons_table", "REASONS",
    "Workload", "STEADY", "CHURN", "MIXED", "SAMPLE_DUMP", "sample_flows", "simulate", "compare", "host_compromise",
    "OffloadReport", "NodeOffload", "modelled_report", "parse_pmd_stats",
    "exercises",  # notebook 08's policies and check (a module: from labkit.smartnic import exercises)
]
