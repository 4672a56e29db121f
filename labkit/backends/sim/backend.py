"""The ``sim`` backend: pure Python, no root, no Docker. Its verdicts are the reference semantics.

Nothing is realized: every observation is a function of the cluster state and the compiled policy
set, computed by labkit's engine, so sim never disagrees with the engine by construction (the ovs
and kind backends are the ones checked against it). What sim shows beyond verdicts is *modelled*
and says so: Traceflow predicted from the engine's explanation (:mod:`.traceflow`), frames built
byte for byte for each encryption mode (IPsec and WireGuard marked emulated), probe commands
answered from the engine's verdict (``kubectl exec``, :mod:`.exec`), flow records
synthesized as each Node's Flow Exporter would export them, and an offload report classifying an
Antrea-shaped sample of datapath flows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from ...model.cluster import ClusterState
from ...policy.compiler import PolicySet
from ...policy.evaluate import evaluate
from ...policy.explain import explain as engine_explain
from ...policy.probe import Probe
from ...policy.reachability import Explanation, Reachability
from ..base import (AttacksHost, Backend, Captures, DumpsFlows, Encrypts, ExecResult, Executes, Explains,
                    GeneratesTraffic, ReportsOffload, Resumable, ShowsRepresentors, SteadyTraffic, Traceflows,
                    Verifies)
from .traceflow import predict_traceflow

if TYPE_CHECKING:  # pragma: no cover
    from ...encryption.wire import Capture
    from ...flows.traffic import TrafficRun
    from ...policy.traceflow import Traceflow
    from ...smartnic.profiles import NicProfile
    from ...smartnic.report import OffloadReport


class SimBackend(Backend, Explains, Traceflows, Executes, Encrypts, Captures, ReportsOffload, GeneratesTraffic):
    name = "sim"
    why_not: ClassVar[dict[type, str]] = {
        DumpsFlows: "sim evaluates policies in Python and has no Open vSwitch; lab.explain() and "
                    "lab.traceflow() name the deciding rule",
        SteadyTraffic: "sim sends no packets; labkit.smartnic.simulate(profile, workload) models a workload",
        AttacksHost: "sim has no host OS to attack; labkit.smartnic.host_compromise(profile, matrix) models one",
        ShowsRepresentors: "sim has no NICs; representors exist on ovs SmartNIC topologies",
        Resumable: "sim holds no live resources: a sim lab is simply started again",
        Verifies: "sim has no datapath that could drift: its verdicts are computed from the model itself",
    }

    def __init__(self) -> None:
        self.running = False
        self.encryption = "none"

    def start(self, state: ClusterState, policy_set: PolicySet) -> None:
        self.running = True

    def stop(self) -> None:
        self.running = False

    def sync(self, state: ClusterState, policy_set: PolicySet, manifests: list[dict]) -> None:
        """Nothing to realize: the next evaluation reads the new policy set."""

    def reachability(self, state: ClusterState, policy_set: PolicySet, probe: Probe,
                     sources: list[str], destinations: list[str]) -> Reachability:
        ev = evaluate(policy_set, state.pods, probe, sources, destinations)
        return Reachability.from_evaluation(ev, probe, policy_set, backend=self.name)

    # ------------------------------------------------------------------ capabilities

    def explain(self, state: ClusterState, policy_set: PolicySet, src: str, dst: str, probe: Probe) -> Explanation:
        return engine_explain(state, policy_set, src, dst, probe)

    def traceflow(self, state: ClusterState, policy_set: PolicySet, src: str, dst: str, probe: Probe) -> "Traceflow":
        return predict_traceflow(state, engine_explain(state, policy_set, src, dst, probe))

    def exec(self, state: ClusterState, policy_set: PolicySet, pod: str, command: list[str],
             timeout_s: float) -> ExecResult:
        """Probe commands answered from the engine's verdict (:mod:`.exec`); a dropped connection
        takes the command's own timeout, as it would on a cluster."""
        import time

        from .exec import emulate

        code, out, err, wait_s = emulate(state, policy_set, pod, command)
        if wait_s:
            time.sleep(min(wait_s, timeout_s))
        return ExecResult(code, out.encode(), err.encode())

    def set_encryption(self, state: ClusterState, mode: str) -> None:
        """Only what :meth:`capture` puts on the wire changes: the verdicts do not depend on it."""
        self.encryption = mode

    def capture(self, state: ClusterState, src: str, dst: str, mode: str) -> "Capture":
        """The frames of one HTTP GET, built byte for byte (IPsec and WireGuard ones marked emulated)."""
        from ...encryption.wire import build_capture, endpoints_from_state

        return build_capture(mode, *endpoints_from_state(state, src, dst))

    def offload_report(self, node: str | None, profile: "NicProfile | None", flow_capacity: int | None,
                       reset: bool) -> "OffloadReport":
        """An Antrea-shaped sample of datapath flows classified with ``profile`` (labelled ``modelled``);
        sim has no nodes' datapaths, so ``node`` and ``reset`` change nothing."""
        from ...smartnic.profiles import get_profile
        from ...smartnic.report import modelled_report

        return modelled_report(profile or get_profile("connectx-class"), flow_capacity)

    def generate_traffic(self, state: ClusterState, policy_set: PolicySet, profile: Any = "shop", *,
                         duration_s: float = 60.0, seed: int = 0) -> "TrafficRun":
        """Every connection decided by the engine; records synthesized as the Flow Exporters would."""
        from ...flows.traffic import synthesize_traffic

        return synthesize_traffic(state, policy_set, profile, duration_s=duration_s, seed=seed)


__all__ = ["SimBackend"]
