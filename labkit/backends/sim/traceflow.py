"""The sim backend's Traceflow: the path of one packet predicted from the policy engine.

:func:`predict_traceflow` is pure: it turns an :class:`~labkit.policy.reachability.Explanation`
(which rule decided at the source and at the destination) plus the lab's placement of pods on
nodes into the per-node observations of a Traceflow CR's ``status.results``. The sequence
follows ``pkg/agent/controller/traceflow/packetin.go`` (see /work/shared/reference/antrea.md §2):

* sender node: ``SpoofGuard Forwarded``; if an egress rule matched, ``NetworkPolicy EgressRule
  Forwarded`` (allow) or ``NetworkPolicy EgressMetric Dropped|Rejected`` (Antrea-native drop);
  a drop by K8s NetworkPolicy isolation or by a baseline rule is ``EgressDefaultRule Dropped``;
* pods on different nodes: ``Forwarding Output Forwarded`` with ``tunnelDstIP`` = the destination
  node's internal IP (Antrea since PR #7481 reports ``Forwarded`` here, not ``ForwardedOutOfOverlay``),
  then on the receiver node ``Forwarding Received``;
* ingress as egress (``IngressRule`` / ``IngressMetric`` / ``IngressDefaultRule``);
* ``Forwarding Output Delivered`` when the packet reaches the destination pod.

No policy observation is recorded when no rule matched (default allow), as in Antrea. The ovs
and kind backends return the same type from real traces (OVS packet tracing, the Traceflow CRD).
"""

from __future__ import annotations

from ...model.cluster import ClusterState
from ...policy.reachability import Decision, Explanation
from ...policy.traceflow import NodeResult, Observation, Traceflow


def _policy_observation(decision: Decision) -> Observation | None:
    """The NetworkPolicy observation of one side, or None if no rule matched (default allow)."""
    side = decision.direction  # Egress | Ingress
    rule = decision.rule
    if decision.stage == "self" or not decision.reached:
        return None
    if decision.action == "Allow":
        if rule is None:
            return None
        return Observation("NetworkPolicy", "Forwarded", f"{side}Rule", network_policy=rule.policy_ref,
                           network_policy_rule=rule.rule_name)
    action = "Rejected" if decision.action == "Reject" else "Dropped"
    if decision.stage == "k8s" or rule is None:
        # K8s isolation: the default drop flow of the *DefaultRule table carries no policy reference.
        return Observation("NetworkPolicy", action, f"{side}DefaultRule")
    info = f"{side}DefaultRule" if decision.stage == "baseline" else f"{side}Metric"
    return Observation("NetworkPolicy", action, info, network_policy=rule.policy_ref,
                       network_policy_rule=rule.rule_name)


def predict_traceflow(state: ClusterState, explanation: Explanation) -> Traceflow:
    """The Traceflow Antrea would report for the packet ``explanation`` describes (pure)."""
    exp = explanation
    src, dst = state.pod(exp.src), state.pod(exp.dst)
    if src.key == dst.key:
        return Traceflow(exp.src, exp.dst, exp.probe, "Failed", (),
                         "a pod reaching its own IP never enters OVS, so Traceflow observes nothing", exp)
    sender = [Observation("SpoofGuard", "Forwarded", src_pod_ip=src.pod_ip)]
    egress = _policy_observation(exp.egress)
    if egress is not None:
        sender.append(egress)
    if exp.egress.action != "Allow":
        return Traceflow(exp.src, exp.dst, exp.probe, "Succeeded", (NodeResult(src.node_name, "Sender",
                                                                                tuple(sender)),), "", exp)
    results: list[NodeResult] = []
    if src.node_name == dst.node_name:
        receiver = sender
    else:
        node_ips = {n.name: n.internal_ip for n in state.nodes}
        sender.append(Observation("Forwarding", "Forwarded", "Output", tunnel_dst_ip=node_ips.get(dst.node_name, "")))
        results.append(NodeResult(src.node_name, "Sender", tuple(sender)))
        receiver = [Observation("Forwarding", "Received")]
    ingress = _policy_observation(exp.ingress)
    if ingress is not None:
        receiver.append(ingress)
    if exp.ingress.action == "Allow":
        receiver.append(Observation("Forwarding", "Delivered", "Output", pod=dst.key))
    role = "Sender" if src.node_name == dst.node_name else "Receiver"
    results.append(NodeResult(dst.node_name, role, tuple(receiver)))
    return Traceflow(exp.src, exp.dst, exp.probe, "Succeeded", tuple(results), "", exp)


__all__ = ["predict_traceflow"]
