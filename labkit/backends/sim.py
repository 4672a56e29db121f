"""The ``sim`` backend: pure Python, no root, no Docker. Its verdicts are the reference semantics.

Nothing is realized: reachability is the policy engine's evaluation itself (labelled
``expected``), so sim never disagrees with the engine by construction; the ovs and kind backends
are the ones checked against it.
"""

from __future__ import annotations

from ..model.cluster import ClusterState
from ..policy.compiler import PolicySet
from ..policy.evaluate import evaluate
from ..policy.probe import Probe
from ..policy.reachability import Reachability


class SimBackend:
    name = "sim"

    def __init__(self) -> None:
        self.running = False

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
