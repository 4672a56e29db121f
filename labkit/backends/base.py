"""The backend contract: the :class:`Backend` protocol every backend implements, and one small
protocol per optional capability.

The Lab owns the cluster state and the compiled policy set; a backend *realizes* them (nothing to
do for sim; OVS flows for ovs; manifests applied to a real cluster for kind) and *observes*
(reachability, traceflow, flows ...). What a backend can do beyond :class:`Backend` it declares on
its class line, the way antrea-agent splits its OpenFlow client into one interface per feature::

    class OvsBackend(Backend, Traceflows, Explains, DumpsFlows, Captures, Encrypts, ...):

:class:`~labkit.lab.Lab` asks for a capability with :func:`labkit.backends.registry.require`,
which raises :class:`~labkit.errors.UnsupportedOperation` naming the backends that have it (and
why this one has not, from the backend's ``why_not``). Nothing probes a backend with ``getattr``.
``docs/architecture.md`` carries the table of :func:`~labkit.backends.registry.capability_table`,
kept true by a test, and ``tests/contract/`` runs the same assertions per capability on every
backend the machine has. This module imports no backend, so backends stay independent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..encryption.wire import Capture
    from ..flows.traffic import TrafficRun
    from ..model.cluster import ClusterState
    from ..policy.compiler import PolicySet
    from ..policy.probe import Probe
    from ..policy.reachability import Explanation, Reachability
    from ..policy.traceflow import Traceflow
    from ..smartnic.profiles import NicProfile
    from ..smartnic.report import OffloadReport
    from .verification import VerifyReport

BACKEND_NAMES = ("sim", "ovs", "kind")  # every backend labkit ships, in the order tables list them


@runtime_checkable
class Backend(Protocol):
    """What every backend does. ``why_not`` maps a capability this backend lacks to the reason
    (shown by :func:`require` and in the capability table)."""

    name: str
    why_not: ClassVar[dict[type, str]]

    def start(self, state: "ClusterState", policy_set: "PolicySet") -> None:
        """Bring up the cluster described by ``state`` and enforce ``policy_set``."""

    def stop(self) -> None:
        """Tear everything down; idempotent; never raises for what is already gone."""

    def sync(self, state: "ClusterState", policy_set: "PolicySet", manifests: list[dict]) -> None:
        """Realize a changed state (after apply/delete/label); ``manifests`` are the raw objects changed."""

    def reachability(self, state: "ClusterState", policy_set: "PolicySet", probe: "Probe",
                     sources: list[str], destinations: list[str]) -> "Reachability":
        """Verdicts for ``probe`` between pods: computed (sim) or measured (ovs, kind)."""


# ------------------------------------------------------------------------------ capabilities
# One protocol per capability. A backend declares one by inheriting it; the docstring's first
# line is the capability's description in the table of docs/architecture.md.


@runtime_checkable
class Explains(Protocol):
    """Names the deciding rule of a connection on each side (``antctl query networkpolicyevaluation``)."""

    def explain(self, state: "ClusterState", policy_set: "PolicySet", src: str, dst: str,
                probe: "Probe") -> "Explanation":
        """Why ``src`` may or may not reach ``dst`` with ``probe``: egress and ingress decisions."""


@runtime_checkable
class Traceflows(Protocol):
    """Traces one packet through the datapath as Antrea's Traceflow reports it."""

    def traceflow(self, state: "ClusterState", policy_set: "PolicySet", src: str, dst: str,
                  probe: "Probe") -> "Traceflow":
        """Per-node observations of one packet from pod ``src`` to pod ``dst``."""


@runtime_checkable
class DumpsFlows(Protocol):
    """Shows a node's OpenFlow tables with per-rule counters (``antctl get ovsflows``)."""

    def dump_flows(self, node: str, table: str | None = None) -> "pd.DataFrame":
        """``ovs-ofctl dump-flows br-int`` of one node, with table names and the rule of each flow."""


@runtime_checkable
class Encrypts(Protocol):
    """Switches Antrea's ``trafficEncryptionMode`` between the nodes: none, ipsec or wireGuard."""

    def set_encryption(self, state: "ClusterState", mode: str) -> None:
        """Reconfigure inter-node traffic for ``mode`` (Antrea's spelling)."""


@runtime_checkable
class Captures(Protocol):
    """Captures what a tap on the underlay sees of one HTTP request between two pods."""

    def capture(self, state: "ClusterState", src: str, dst: str, mode: str) -> "Capture":
        """Frames on the wire during one HTTP GET from pod ``src`` to pod ``dst`` under ``mode``."""


@runtime_checkable
class ReportsOffload(Protocol):
    """Reports which datapath flows a SmartNIC holds and which stay on the host, with packet counts."""

    def offload_report(self, node: str | None, profile: "NicProfile | None", flow_capacity: int | None,
                       reset: bool) -> "OffloadReport":
        """Classify the datapath's flows with a NIC profile (``node``: one node, else all)."""


@runtime_checkable
class GeneratesTraffic(Protocol):
    """Plays a traffic profile through the lab and returns every node's flow records (IPFIX)."""

    def generate_traffic(self, state: "ClusterState", policy_set: "PolicySet", profile: Any, *,
                         duration_s: float, seed: int) -> "TrafficRun":
        """Run ``profile`` (a TrafficProfile or its name) for ``duration_s`` of profile time."""


@runtime_checkable
class SteadyTraffic(Protocol):
    """Sends real background traffic between pod pairs (UDP streams plus TCP connection churn)."""

    def steady_traffic(self, pairs: list[tuple[str, str]], port: int, pps: float, churn_per_s: float) -> Any:
        """Start the traffic; the handle has ``.stop()`` and ``.stats``; stopped with the lab at the latest."""


@dataclass(frozen=True)
class ExecResult:
    """What a command run in a pod left: its exit code and output (as ``kubectl exec`` shows it)."""

    exit_code: int
    stdout: bytes = b""
    stderr: bytes = b""


@runtime_checkable
class Executes(Protocol):
    """Runs a command in a pod (``kubectl exec``): probes such as ``wget``, ``curl``, ``nc``, ``agnhost connect``."""

    def exec(self, state: "ClusterState", policy_set: "PolicySet", pod: str, command: list[str],
             timeout_s: float) -> ExecResult:
        """Run ``command`` in pod ``pod`` (``ns/name``); a command still running after ``timeout_s`` is
        stopped and exits 124 (as coreutils' ``timeout`` does)."""


@runtime_checkable
class ShowsRepresentors(Protocol):
    """Lists each pod's virtual function and its VF representor port (SmartNIC topologies)."""

    def representors(self) -> "pd.DataFrame":
        """Pods, VF index, representor name and br-int port."""


@runtime_checkable
class AttacksHost(Protocol):
    """Plays root on a node's host OS against the policy, with real commands."""

    def host_attack(self, node: str) -> "pd.DataFrame":
        """Every attempt made and its outcome (a DataFrame)."""


@runtime_checkable
class Resumable(Protocol):
    """Re-attaches to a lab that is still running after the process that started it has gone."""

    def attach(self, state: "ClusterState", policy_set: "PolicySet") -> None:
        """Take over the live resources (cluster, daemons) described by ``state``."""


@runtime_checkable
class Verifies(Protocol):
    """Compares the running datapath (daemons, flows, ports, pods) with the model, and repairs drift."""

    def verify(self, state: "ClusterState", policy_set: "PolicySet", repair: bool) -> "VerifyReport":
        """Every difference found; with ``repair``, reinstall and recreate what differs first."""


CAPABILITIES: tuple[type, ...] = (Explains, Traceflows, DumpsFlows, Executes, Encrypts, Captures, ReportsOffload,
                                  ShowsRepresentors, GeneratesTraffic, SteadyTraffic, AttacksHost, Resumable,
                                  Verifies)

def has(backend: object, capability: type) -> bool:
    """Does ``backend`` declare ``capability`` (on its class line)?"""
    return capability in type(backend).__mro__


__all__ = ["Backend", "Explains", "Traceflows", "DumpsFlows", "Encrypts", "Captures", "ReportsOffload",
           "Executes", "ExecResult", "ShowsRepresentors", "GeneratesTraffic", "SteadyTraffic", "AttacksHost", "Resumable",
           "Verifies", "CAPABILITIES",
           "BACKEND_NAMES", "has"]
