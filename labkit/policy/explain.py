"""The engine's answer to "why may (or may not) this pod reach that one?".

What antrea-controller answers for ``antctl query networkpolicyevaluation``: the rule that decides
on the egress side (at the source) and on the ingress side (at the destination), computed from the
policy model, not from a datapath. The sim and ovs backends answer ``lab.explain`` with it (the
ovs datapath is compiled from this same model); the kind backend asks the real controller and
keeps this as its ``predicted`` answer.
"""

from __future__ import annotations

from ..model.cluster import ClusterState
from .compiler import PolicySet
from .evaluate import evaluate
from .probe import Probe
from .reachability import Explanation, Reachability


def explain(state: ClusterState, policy_set: PolicySet, src: str, dst: str, probe: Probe) -> Explanation:
    """Egress and ingress decisions for one probe from pod ``src`` to pod ``dst`` (keys ``ns/name``)."""
    ev = evaluate(policy_set, state.pods, probe, [src], [dst])
    return Reachability.from_evaluation(ev, probe, policy_set, backend="engine").explain(src, dst)


__all__ = ["explain"]
